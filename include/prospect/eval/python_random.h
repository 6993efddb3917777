#pragma once
// A bit-exact reimplementation of CPython's random.Random for the calls lm-evaluation-harness makes:
// seeding from an int (init_by_array over the 32-bit words of |seed|), getrandbits, _randbelow
// (rejection sampling over bit_length(n) bits), random(), and sample() with both of its algorithms
// (pool for small populations, rejection against a set for large ones). The few-shot examples that
// the harness draws with random.Random(1234).sample(docs, k) are reproduced index for index.
#include <array>
#include <cstdint>
#include <vector>

namespace prospect::eval {

class PyRandom {
 public:
  explicit PyRandom(uint64_t seed);  // random.Random(seed) for a non-negative int seed

  uint32_t genrand_uint32();  // one MT19937 output
  uint64_t getrandbits(int k);  // 0 <= k <= 64
  double random();              // [0, 1) with 53 bits
  uint64_t randbelow(uint64_t n);  // Random._randbelow(n), n > 0
  // random.sample(range(n), k) -> the chosen indices in draw order. Throws if k > n.
  std::vector<int64_t> sample(int64_t n, int64_t k);

 private:
  void init_genrand(uint32_t s);
  void init_by_array(const std::vector<uint32_t>& key);
  std::array<uint32_t, 624> mt_{};
  int mti_ = 625;
};

}  // namespace prospect::eval
