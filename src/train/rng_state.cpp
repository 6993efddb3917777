#include "prospect/train/rng_state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>

#include "prospect/core/compat.h"
#include "prospect/core/error.h"

namespace prospect::train {

io::NamedTensors capture_rng_state() {
  io::NamedTensors out;
  auto gen = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    out.emplace_back("cpu", gen.get_state().clone());
  }
  return out;
}

void restore_rng_state(const std::function<torch::Tensor(const std::string&)>& get, const std::string& source) {
  torch::Tensor cpu = get("cpu");
  if (!cpu.defined()) throw Error(source, "RNG state lacks 'cpu'");
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(cpu.contiguous().clone());
}

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);
}

}  // namespace prospect::train
