// An adapter written by PEFT itself (tests/golden/lora/peft_made, see SOURCE.md there) loads here and
// scores as the PEFT model did; merging it gives the same log-probs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "prospect/core/fs.h"
#include "prospect/io/safetensors.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/model/causal_lm.h"
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

// The reverse direction: an adapter saved here for the same base and settings has exactly the tensor
// keys, shapes and dtypes of the file PEFT wrote, and its adapter_config.json carries every field PEFT
// wrote with the same values where the settings coincide (so PeftModel.from_pretrained reads it the
// same way).

TEST(PeftGolden, AdapterSavedHereHasPeftsKeysShapesAndConfigFields) {
  namespace lora = prospect::lora;
  prospect::test::TempDir tmp;
  const auto peft_dir = prospect::test::golden_dir() / "lora" / "peft_made";
  auto cfg_model = prospect::model::ModelConfig::preset("tiny");
  cfg_model.vocab_size = 512;
  auto m = prospect::model::init_model(cfg_model, 7, torch::kFloat32);
  auto cfg = lora::LoraConfig::from_json(
      json{{"r", 4}, {"lora_alpha", 8}, {"target_modules", "all-linear"}, {"lora_dropout", 0.0}});
  auto lm = lora::attach_lora(m, cfg, 0);
  lora::save_adapter(lm, tmp / "ours");

  auto ours = prospect::io::SafetensorsFile::open(tmp / "ours" / "adapter_model.safetensors");
  auto theirs = prospect::io::SafetensorsFile::open(peft_dir / "adapter_model.safetensors");
  ASSERT_EQ(ours->tensors().size(), theirs->tensors().size());
  for (const auto& [name, info] : theirs->tensors()) {
    ASSERT_TRUE(ours->contains(name)) << name;
    EXPECT_EQ(ours->tensors().at(name).shape, info.shape) << name;
    EXPECT_EQ(ours->tensors().at(name).dtype, info.dtype) << name;
  }
  EXPECT_EQ(ours->metadata(), theirs->metadata());

  const json a = prospect::read_json_file(tmp / "ours" / "adapter_config.json");
  const json b = prospect::read_json_file(peft_dir / "adapter_config.json");
  for (const auto& key : {"peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "bias", "fan_in_fan_out",
                          "use_rslora", "use_dora", "modules_to_save", "inference_mode", "rank_pattern",
                          "alpha_pattern", "layers_to_transform", "layers_pattern", "lora_bias"}) {
    ASSERT_TRUE(a.contains(key)) << key;
    EXPECT_EQ(a[key], b[key]) << key;
  }
  // target_modules is a set (PEFT writes the resolved full paths for all-linear, in any order).
  auto as_set = [](const json& j) {
    std::set<std::string> s;
    for (auto& v : j) s.insert(v.get<std::string>());
    return s;
  };
  EXPECT_EQ(as_set(a["target_modules"]), as_set(b["target_modules"]));
  // Keys are written sorted, as json.dumps(sort_keys=True).
  std::string text = prospect::read_text_file(tmp / "ours" / "adapter_config.json");
  std::vector<std::string> order;
  for (auto it = a.begin(); it != a.end(); ++it) order.push_back(it.key());
  size_t last = 0;
  for (const auto& k : order) {
    size_t pos = text.find("\"" + k + "\":");
    ASSERT_NE(pos, std::string::npos) << k;
    EXPECT_GE(pos, last) << k;
    last = pos;
  }
}
