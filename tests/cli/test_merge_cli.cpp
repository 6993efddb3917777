// `prospect merge` / `prospect export` end to end on the golden tiny model and PEFT-layout adapters of
// tests/golden/lora (written by an independent script with its own expected log-probs).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>

#include "prospect/core/fs.h"
#include "prospect/io/checkpoint.h"
#include "prospect/io/safetensors.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/logprobs.h"
#include "test_util.h"

using namespace prospect;
namespace fs = std::filesystem;

namespace {

fs::path gold() { return test::golden_dir() / "lora"; }

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

torch::Tensor expected_logps(const std::string& key) {
  const auto j = read_json_file(gold() / "expected.json");
  auto v = j[key].get<std::vector<std::vector<double>>>();
  auto t = torch::empty({(int64_t)v.size(), (int64_t)v[0].size()}, torch::kFloat64);
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t k = 0; k < v[i].size(); ++k) t[i][k] = v[i][k];
  return t.to(torch::kFloat32);
}

torch::Tensor golden_ids() {
  const auto j = read_json_file(gold() / "expected.json");
  auto v = j["input_ids"].get<std::vector<std::vector<int64_t>>>();
  return torch::stack({torch::tensor(v[0]), torch::tensor(v[1])});
}

torch::Tensor score_dir(const fs::path& dir) {
  auto m = model::load_model(dir, torch::kFloat32, torch::kCPU);
  m->eval();
  torch::NoGradGuard ng;
  return model::token_logprobs(m, golden_ids());
}

// Names and shapes of a checkpoint directory's tensors.
std::map<std::string, std::vector<int64_t>> layout(const fs::path& dir) {
  auto st = io::TensorStore::open(dir);
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& n : st.names()) out[n] = st.info(n).shape;
  return out;
}

// Nothing at `out` and no temporary directory left beside it.
void expect_nothing_written(const fs::path& out) {
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(out.parent_path()))
    EXPECT_EQ(e.path().filename().string().find("." + out.filename().string() + ".tmp"), std::string::npos)
        << e.path();
}

}  // namespace

TEST(MergeCli, MergedDirIsPlainModelScoringAsAdapterModel) {
  test::TempDir tmp;
  const auto out = tmp / "merged";
  auto r = test::run_cli("merge --model " + q(gold() / "base") + " --adapter " + q(gold() / "adapter_lora") +
                         " --out " + q(out) + " --dtype f32");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto s = nlohmann::json::parse(r.out);
  EXPECT_EQ(s["merged_modules"], 6);
  EXPECT_LT(s["max_abs_logprob_diff"].get<double>(), 1e-4);
  EXPECT_LT(s["max_abs_logprob_diff_f32"].get<double>(), 1e-4);
  EXPECT_EQ(s["dtype"], "f32");
  EXPECT_EQ(s["out"], out.string());

  EXPECT_TRUE(fs::is_regular_file(out / "config.json"));
  EXPECT_TRUE(fs::is_regular_file(out / "model.safetensors"));
  EXPECT_EQ(read_json_file(out / "generation_config.json")["temperature"], 0.6);  // copied from the base
  EXPECT_FALSE(fs::exists(out / "adapter_config.json"));
  EXPECT_EQ(layout(out), layout(gold() / "base"));  // exactly the base's names and shapes
  for (const auto& [n, shape] : layout(out)) EXPECT_EQ(n.find("lora"), std::string::npos) << n;
  EXPECT_TRUE(read_json_file(out / "config.json")["tie_word_embeddings"].get<bool>());
  // Scores equal the independent script's adapter-model scores.
  EXPECT_LT((score_dir(out) - expected_logps("logprobs_lora")).abs().max().item<double>(), 1e-4);
}

TEST(MergeCli, DoraBf16AndShardedOutput) {
  test::TempDir tmp;
  const auto out = tmp / "merged";
  auto r = test::run_cli("merge --model " + q(gold() / "base") + " --adapter " + q(gold() / "adapter_dora") +
                         " --out " + q(out) + " --dtype bf16 --max-shard-size 4KB");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto s = nlohmann::json::parse(r.out);
  EXPECT_LT(s["max_abs_logprob_diff_f32"].get<double>(), 1e-4);  // the merge itself is exact
  EXPECT_LE(s["max_abs_logprob_diff"].get<double>(), 0.5);
  EXPECT_EQ(read_json_file(out / "config.json")["torch_dtype"], "bfloat16");
  EXPECT_TRUE(fs::is_regular_file(out / "model.safetensors.index.json"));
  auto st = io::TensorStore::open(out);
  for (const auto& n : st.names()) EXPECT_EQ(st.info(n).dtype, "BF16") << n;
  EXPECT_EQ(layout(out), layout(gold() / "base"));
  // bf16 weights: close to the DoRA model, within bf16 rounding.
  EXPECT_LT((score_dir(out) - expected_logps("logprobs_dora")).abs().max().item<double>(), 0.5);
}

TEST(MergeCli, FailedVerificationWritesNothing) {
  test::TempDir tmp;
  // A tolerance no bf16 rounding can meet.
  auto r = test::run_cli("merge --model " + q(gold() / "base") + " --adapter " + q(gold() / "adapter_lora") +
                         " --out " + q(tmp / "m1") + " --dtype bf16 --tolerance 0");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("exceeds the tolerance"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing written"), std::string::npos) << r.err;
  expect_nothing_written(tmp / "m1");

  // A corrupt adapter (NaN in lora_B).
  fs::create_directories(tmp / "bad");
  fs::copy_file(gold() / "adapter_lora" / "adapter_config.json", tmp / "bad" / "adapter_config.json");
  {
    auto st = io::SafetensorsFile::open(gold() / "adapter_lora" / "adapter_model.safetensors");
    io::NamedTensors t;
    for (auto& [k, info] : st->tensors()) {
      auto v = st->get(k).clone();
      if (k == "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight") v[0][0] = NAN;
      t.emplace_back(k, v);
    }
    io::save_safetensors(tmp / "bad" / "adapter_model.safetensors", t);
  }
  r = test::run_cli("merge --model " + q(gold() / "base") + " --adapter " + q(tmp / "bad") + " --out " +
                    q(tmp / "m2"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("non-finite"), std::string::npos) << r.err;
  expect_nothing_written(tmp / "m2");

  // A mis-shaped adapter: the error names the tensor.
  r = test::run_cli("merge --model " + q(tmp / "m1") + " --adapter " + q(gold() / "adapter_lora") + " --out " +
                    q(tmp / "m3"));
  EXPECT_NE(r.rc, 0);
  expect_nothing_written(tmp / "m3");
}

TEST(MergeCli, ExportWithoutAdapterConvertsDtypeAndCopiesTokenizerAndCard) {
  test::TempDir tmp;
  // A model directory with tokenizer files and run metadata next to it.
  const auto src = tmp / "src";
  fs::create_directories(src);
  for (const auto& f : fs::directory_iterator(gold() / "base")) fs::copy_file(f.path(), src / f.path().filename());
  write_text_file_atomic(src / "tokenizer.json", "{\"version\": \"1.0\"}");
  write_text_file_atomic(src / "tokenizer_config.json", "{\"model_max_length\": 128}");
  write_text_file_atomic(src / "chat_template.jinja", "{{ messages }}");
  write_json_file_atomic(src / "prospect_run.json",
                         {{"config", {{"model", {{"name_or_path", "tiny-qwen3-golden"}}},
                                      {"loss", {{"type", "enhanced_kto"}, {"beta", 0.1}}}}}});
  const auto out = tmp / "exported";
  auto r = test::run_cli("export --model " + q(src) + " --out " + q(out) + " --format hf --dtype bf16");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto s = nlohmann::json::parse(r.out);
  EXPECT_EQ(s["merged_modules"], 0);
  EXPECT_EQ(s["model_card"], "README.md");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "README.md"})
    EXPECT_TRUE(fs::is_regular_file(out / f)) << f;
  EXPECT_EQ(read_text_file(out / "chat_template.jinja"), "{{ messages }}");
  EXPECT_EQ(read_json_file(out / "config.json")["torch_dtype"], "bfloat16");
  EXPECT_EQ(layout(out), layout(gold() / "base"));
  EXPECT_LT((score_dir(out) - expected_logps("logprobs_base")).abs().max().item<double>(), 0.5);

  // An existing non-empty output is refused without --force.
  r = test::run_cli("export --model " + q(src) + " --out " + q(out) + " --format hf");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
}
