// PyRandom against CPython's random.Random (values from tests/golden/eval/make_python_random.py).
#include <gtest/gtest.h>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/eval/python_random.h"
#include "test_util.h"

using prospect::eval::PyRandom;

namespace {
nlohmann::json golden() { return prospect::read_json_file(prospect::test::golden_dir() / "eval" / "python_random.json"); }
}  // namespace

TEST(PythonRandom, GetrandbitsRandomAndRandbelowMatchCPython) {
  auto g = golden();
  ASSERT_GE(g["seeds"].size(), 5u);
  for (const auto& s : g["seeds"]) {
    PyRandom r(s["seed"].get<uint64_t>());
    SCOPED_TRACE("seed " + s["seed"].dump());
    for (const auto& v : s["u32"]) EXPECT_EQ(r.getrandbits(32), v.get<uint64_t>());
    const int ks[] = {1, 7, 31, 33, 40, 64};
    for (size_t i = 0; i < 6; ++i) EXPECT_EQ(std::to_string(r.getrandbits(ks[i])), s["bits"][i].get<std::string>());
    for (const auto& v : s["floats"]) EXPECT_DOUBLE_EQ(r.random(), v.get<double>());
    const uint64_t ns[] = {1, 2, 3, 10, 1000, 39905, (1ull << 33) + 1};
    for (size_t i = 0; i < 7; ++i) EXPECT_EQ(r.randbelow(ns[i]), s["randbelow"][i].get<uint64_t>());
  }
}

TEST(PythonRandom, SampleMatchesCPythonInBothAlgorithms) {
  auto g = golden();
  for (const auto& s : g["samples"]) {
    PyRandom r(s["seed"].get<uint64_t>());
    SCOPED_TRACE("n " + s["n"].dump() + " k " + s["k"].dump());
    EXPECT_EQ(r.sample(s["n"].get<int64_t>(), s["k"].get<int64_t>()), s["result"].get<std::vector<int64_t>>());
  }
}

TEST(PythonRandom, RepeatedSamplesFollowOneStreamAsTheHarnessSampler) {
  auto g = golden()["harness_sequence"];
  PyRandom r(g["seed"].get<uint64_t>());
  for (const auto& d : g["draws"])
    EXPECT_EQ(r.sample(g["n"].get<int64_t>(), g["k"].get<int64_t>()), d.get<std::vector<int64_t>>());
}

TEST(PythonRandom, SampleLargerThanPopulationThrows) {
  PyRandom r(1);
  EXPECT_THROW(r.sample(3, 4), prospect::Error);
}
