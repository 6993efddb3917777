// `prospect train` end to end through the CLI: config validation errors, --dry-run, a real short run
// (metrics.jsonl, plots that parse as XML, prospect_run.json, adapter), --resume and `prospect plot`.
// Assets: a tiny random Qwen3 (prospect init) with the real Qwen3 tokenizer and the demo data.
#include <gtest/gtest.h>

#include <fstream>

#include "prospect/core/fs.h"
#include "test_util.h"

using namespace prospect::test;
namespace fs = std::filesystem;

namespace {

// One tiny base model shared by the tests of this file (created once).
const fs::path& tiny_base() {
  static TempDir dir;
  static fs::path base = [] {
    fs::path b = dir / "base";
    auto r = run_cli("init --preset tiny --dtype f32 --seed 1 --out '" + b.string() + "'");
    if (r.rc != 0) throw std::runtime_error("init failed: " + r.err);
    for (const auto& e : fs::directory_iterator(qwen3_tokenizer_dir()))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') fs::copy_file(e.path(), b / e.path().filename());
    return b;
  }();
  return base;
}

nlohmann::json tiny_config(const fs::path& out) {
  // 24 training rows of the demo data (48 examples) and 8 eval rows.
  return {{"model", {{"path", tiny_base().string()}, {"dtype", "f32"}, {"device", "cpu"}}},
          {"lora", {{"r", 4}, {"lora_alpha", 8}, {"target_modules", {"q_proj", "v_proj"}}}},
          {"loss", {{"type", "enhanced_kto"}, {"beta", 0.1}}},
          {"data", {{"train", (out.parent_path() / "train.jsonl").string()},
                    {"eval", (out.parent_path() / "eval.jsonl").string()},
                    {"max_length", 64}}},
          {"train", {{"per_device_train_batch_size", 4}, {"learning_rate", 1e-3}, {"max_steps", 4},
                     {"logging_steps", 1}, {"save_steps", 2}, {"eval_steps", 2}}},
          {"output_dir", out.string()}};
}

void head_lines(const fs::path& from, const fs::path& to, int n) {
  std::ifstream in(from);
  std::ofstream out(to);
  std::string line;
  for (int i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
}

fs::path write_config(const TempDir& tmp, const nlohmann::json& j) {
  head_lines(source_dir() / "data/demo/train.jsonl", tmp / "train.jsonl", 24);
  head_lines(source_dir() / "data/demo/eval.jsonl", tmp / "eval.jsonl", 8);
  fs::path p = tmp / "config.json";
  std::ofstream(p) << j.dump(2);
  return p;
}

bool valid_xml(const fs::path& f) {
  auto r = run_command("/usr/bin/python3 -c \"import sys, xml.etree.ElementTree as E; "
                       "t = E.parse(sys.argv[1]); sys.exit(0 if t.getroot().tag.endswith('svg') else 1)\" '" +
                       f.string() + "'");
  return r.rc == 0;
}

}  // namespace

TEST(TrainCli, UnknownKeySuggestsNearestName) {
  TempDir tmp;
  auto j = tiny_config(tmp / "run");
  j["train"]["learning_rte"] = 1e-3;
  auto r = run_cli("train '" + write_config(tmp, j).string() + "' --dry-run");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("unknown key 'train.learning_rte'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'train.learning_rate'"), std::string::npos) << r.err;
}

TEST(TrainCli, WrongTypeAndRangeNameTheKeyPath) {
  TempDir tmp;
  auto j = tiny_config(tmp / "run");
  j["train"]["gradient_accumulation_steps"] = "eight";
  auto r = run_cli("train '" + write_config(tmp, j).string() + "' --dry-run");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("train.gradient_accumulation_steps"), std::string::npos) << r.err;
  auto p = write_config(tmp, tiny_config(tmp / "run"));
  auto r2 = run_cli("train '" + p.string() + "' --dry-run --set train.warmup_ratio=1.5");
  EXPECT_NE(r2.rc, 0);
  EXPECT_NE(r2.err.find("train.warmup_ratio"), std::string::npos) << r2.err;
  auto r3 = run_cli("train '" + p.string() + "' --dry-run --set loss.value_function.gamma=0.5");
  EXPECT_NE(r3.rc, 0);
  EXPECT_NE(r3.err.find("loss.value_function"), std::string::npos) << r3.err;
}

TEST(TrainCli, DryRunPrintsConfigAndDataStatistics) {
  TempDir tmp;
  auto p = write_config(tmp, tiny_config(tmp / "run"));
  auto r = run_cli("train '" + p.string() + "' --dry-run --set train.per_device_train_batch_size=6");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["config"]["train"]["per_device_train_batch_size"], 6);
  EXPECT_EQ(j["train_data"]["examples"], 48);
  EXPECT_EQ(j["train_data"]["desirable"], 24);
  EXPECT_EQ(j["train_data"]["undesirable"], 24);
  EXPECT_TRUE(j["train_data"].dump().find("\"p90\"") != std::string::npos) << j["train_data"].dump();  // length percentiles
  EXPECT_EQ(j["plan"]["micro_batches_per_epoch"], 8);  // 48 / 6
  EXPECT_EQ(j["plan"]["total_steps"], 4);               // max_steps
  EXPECT_FALSE(fs::exists(tmp / "run" / "metrics.jsonl"));  // nothing trained
}

TEST(TrainCli, TrainWritesRunDirectoryAndResumes) {
  TempDir tmp;
  auto p = write_config(tmp, tiny_config(tmp / "run"));
  auto r = run_cli("train '" + p.string() + "' --no-progress");
  ASSERT_EQ(r.rc, 0) << r.err;
  const fs::path run = tmp / "run";
  for (const char* f : {"config.json", "metrics.jsonl", "prospect_run.json", "adapter/adapter_model.safetensors",
                        "adapter/adapter_config.json", "checkpoint-2/trainer_state.json", "checkpoint-4/optimizer.safetensors"})
    EXPECT_TRUE(fs::exists(run / f)) << f;
  for (const char* f : {"loss.svg", "rewards.svg", "kl.svg", "learning_rate.svg"}) {
    EXPECT_TRUE(fs::exists(run / "plots" / f)) << f;
    EXPECT_TRUE(valid_xml(run / "plots" / f)) << f;
  }
  auto meta = prospect::read_json_file(run / "prospect_run.json");
  EXPECT_EQ(meta["method"], "enhanced_kto");
  EXPECT_EQ(meta["plots"].size(), 4u);
  EXPECT_TRUE(meta["final_metrics"].contains("eval_preference_accuracy"));
  // Resume from checkpoint-2 gives the same final adapter bytes.
  auto before = prospect::read_text_file(run / "adapter/adapter_model.safetensors");
  auto r2 = run_cli("train '" + p.string() + "' --no-progress --resume '" + (run / "checkpoint-2").string() + "'");
  ASSERT_EQ(r2.rc, 0) << r2.err;
  EXPECT_EQ(prospect::read_text_file(run / "adapter/adapter_model.safetensors"), before);
  // `prospect plot` redraws from metrics.jsonl.
  fs::remove_all(run / "plots");
  auto r3 = run_cli("plot '" + run.string() + "'");
  ASSERT_EQ(r3.rc, 0) << r3.err;
  EXPECT_TRUE(valid_xml(run / "plots" / "rewards.svg"));
}
