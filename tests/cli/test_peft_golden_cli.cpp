// An adapter written by PEFT itself (tests/golden/lora/peft_made, see SOURCE.md there) loads here and
// scores as the PEFT model did; merging it gives the same log-probs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "prospect/core/fs.h"
#include "test_util.h"

using nlohmann::json;
using prospect::test::run_cli;

namespace {
std::string join_ids(const json& ids) {
  std::string s;
  for (auto& v : ids) s += (s.empty() ? "" : ",") + std::to_string(v.get<int64_t>());
  return s;
}
double max_diff(const json& scored, const json& expected) {
  double worst = 0;
  for (size_t t = 0; t < expected.size(); ++t)
    worst = std::max(worst, std::abs(scored["logprobs"][t + 1].get<double>() - expected[t].get<double>()));
  return worst;
}
}  // namespace

TEST(PeftGolden, AdapterSavedByPeftScoresAndMergesAsPeft) {
  prospect::test::TempDir tmp;
  const auto adapter = prospect::test::golden_dir() / "lora" / "peft_made";
  const json expected = prospect::read_json_file(adapter / "expected_logprobs.json");
  auto base = (tmp / "base").string();
  auto r = run_cli("init --preset tiny --vocab-size 512 --seed 7 --dtype f32 --out '" + base + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_cli("merge --model '" + base + "' --adapter '" + adapter.string() + "' --out '" + (tmp / "merged").string() +
              "' --dtype f32");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (size_t i = 0; i < expected["ids"].size(); ++i) {
    const auto ids = join_ids(expected["ids"][i]);
    auto a = run_cli("score --model '" + base + "' --adapter '" + adapter.string() + "' --ids " + ids);
    ASSERT_EQ(a.rc, 0) << a.err;
    EXPECT_LT(max_diff(json::parse(a.out), expected["logprobs"][i]), 1e-4) << "adapter, sequence " << i;
    auto m = run_cli("score --model '" + (tmp / "merged").string() + "' --ids " + ids);
    ASSERT_EQ(m.rc, 0) << m.err;
    EXPECT_LT(max_diff(json::parse(m.out), expected["logprobs"][i]), 1e-4) << "merged, sequence " << i;
  }
}
