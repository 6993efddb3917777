// `prospect eval` and `prospect card` end to end on a tiny random Qwen3 model with the real Qwen3
// tokenizer: the CLI's numbers equal the in-process computation (plain scoring path).
#include <gtest/gtest.h>

#include <filesystem>

#include "prospect/core/fs.h"
#include "prospect/data/prepare.h"
#include "prospect/eval/preference.h"
#include "prospect/eval/results.h"
#include "prospect/eval/scorer.h"
#include "prospect/eval/tasks.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/lora/lora.h"
#include "prospect/model/causal_lm.h"
#include "prospect/tokenizer/tokenizer.h"
#include "test_util.h"

using namespace prospect;
namespace pt = prospect::test;
using nlohmann::json;

namespace {

class EvalCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(pt::qwen3_tokenizer_dir() / "tokenizer.json")) return;
    dir_ = new pt::TempDir();
    auto c = model::ModelConfig::preset("tiny");
    c.hidden_size = 32;
    c.intermediate_size = 64;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 1;
    c.head_dim = 16;
    c.num_hidden_layers = 2;
    auto m = model::init_model(c, 5, torch::kFloat32);
    fs::create_directories(model_dir());
    model::save_model(m, model_dir(), torch::kFloat32);
    lora::LoraConfig lc;
    lc.r = 4;
    lc.lora_alpha = 8;
    lc.init_lora_weights = lora::LoraInit::LinearDefault;  // B != 0: the policy differs from the base
    auto lm = lora::attach_lora(m, lc, 3);
    fs::create_directories(adapter_dir());
    lora::save_adapter(lm, adapter_dir());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "Qwen3 tokenizer not fetched (scripts/fetch_assets.sh)";
  }
  static fs::path model_dir() { return dir_->path() / "model"; }
  static fs::path adapter_dir() { return dir_->path() / "adapter"; }
  static std::string base_args() {
    return "eval --model '" + model_dir().string() + "' --tokenizer '" + pt::qwen3_tokenizer_dir().string() + "'";
  }
  static fs::path golden(const std::string& f) { return pt::golden_dir() / "eval" / f; }

  // In-process reference: same docs, encode_pair per request, plain scoring path.
  static json expected(eval::TaskKind kind, const std::string& data, const std::string& fewshot, int64_t shots) {
    auto tok = tokenizer::Tokenizer::load(pt::qwen3_tokenizer_dir());
    auto m = model::load_model(model_dir(), torch::kFloat32, torch::kCPU);
    auto rows = eval::read_jsonl(golden(data));
    auto fs_rows = fewshot.empty() ? rows : eval::read_jsonl(golden(fewshot));
    eval::TaskOptions o;
    o.num_fewshot = shots;
    o.fewshot_same_split = fewshot.empty();
    auto docs = eval::build_docs(kind, rows, fs_rows, o);
    std::vector<std::vector<double>> lls;
    for (const auto& d : docs) {
      std::vector<eval::TokenRequest> reqs;
      for (const auto& [c, x] : eval::doc_requests(d)) reqs.push_back(eval::encode_pair(*tok, c, x, eval::prefix_token_id(*tok)));
      lls.push_back(eval::score_requests_reference(m, reqs));
    }
    return eval::task_results(kind, docs, lls);
  }

  static pt::TempDir* dir_;
};
pt::TempDir* EvalCli::dir_ = nullptr;

}  // namespace

TEST_F(EvalCli, MultipleChoiceAndTruthfulQAMatchInProcessScores) {
  pt::TempDir t;
  for (const auto& [task, data] : std::vector<std::pair<std::string, std::string>>{
           {"multiple_choice", "multiple_choice.jsonl"}, {"truthfulqa_mc2", "truthfulqa.jsonl"}}) {
    const fs::path out = t / (task + ".json");
    auto r = pt::run_cli(base_args() + " --task " + task + " --data '" + golden(data).string() +
                         "' --batch-size 3 --output '" + out.string() + "'");
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find(task), std::string::npos) << r.out;
    auto res = read_json_file(out);
    auto want = expected(eval::parse_task(task), data, "", 0);
    const auto& got = res["results"][task];
    EXPECT_EQ(got["n"], want["n"]);
    EXPECT_NEAR(got["acc"].get<double>(), want["acc"].get<double>(), 1e-9) << task;
    if (want.contains("acc_norm")) {
      EXPECT_NEAR(got["acc_norm"].get<double>(), want["acc_norm"].get<double>(), 1e-9);
    }
    EXPECT_EQ(res["model"]["fingerprint"].get<std::string>(), eval::model_fingerprint(model_dir()));
    EXPECT_EQ(res["config"]["num_fewshot"].get<int64_t>(), 0);
  }
}

TEST_F(EvalCli, HellaswagFewshotAndMmlu) {
  pt::TempDir t;
  auto r = pt::run_cli(base_args() + " --task hellaswag --shots 2 --data '" + golden("hellaswag_val.jsonl").string() +
                       "' --fewshot-data '" + golden("hellaswag_train.jsonl").string() + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto res = json::parse(r.out);
  auto want = expected(eval::TaskKind::hellaswag, "hellaswag_val.jsonl", "hellaswag_train.jsonl", 2);
  EXPECT_NEAR(res["results"]["hellaswag"]["acc_norm"].get<double>(), want["acc_norm"].get<double>(), 1e-9);
  EXPECT_EQ(res["results"]["hellaswag"]["num_fewshot"].get<int64_t>(), 2);

  r = pt::run_cli(base_args() + " --task mmlu --data '" + golden("mmlu_test.jsonl").string() + "' --fewshot-data '" +
                  golden("mmlu_dev.jsonl").string() + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  res = json::parse(r.out);
  want = expected(eval::TaskKind::mmlu, "mmlu_test.jsonl", "mmlu_dev.jsonl", 5);
  EXPECT_NEAR(res["results"]["mmlu"]["acc"].get<double>(), want["acc"].get<double>(), 1e-9);
  EXPECT_EQ(res["results"]["mmlu"]["subjects"].size(), 2u);
}

TEST_F(EvalCli, ErrorsAreOneLineNamingTheCause) {
  auto r = pt::run_cli(base_args() + " --task multiple_choice --data '" + golden("bad_rows.jsonl").string() + "'");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("bad_rows.jsonl:3"), std::string::npos) << r.err;
  r = pt::run_cli(base_args() + " --task hellaswag --data '" + golden("hellaswag_val.jsonl").string() + "'");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("--fewshot-data"), std::string::npos) << r.err;
  r = pt::run_cli(base_args() + " --task hellaswag2 --data x.jsonl");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("unknown task"), std::string::npos) << r.err;
}

TEST_F(EvalCli, PreferenceAccuracyOfAdapterAgainstBase) {
  pt::TempDir t;
  write_text_file_atomic(t / "pairs.jsonl",
                         "{\"prompt\": \"Say hi.\", \"chosen\": \" Hi there!\", \"rejected\": \" No.\"}\n"
                         "{\"prompt\": \"2+2?\", \"chosen\": \" 4\", \"rejected\": \" 5, probably\"}\n"
                         "{\"prompt\": \"Color of the sky?\", \"chosen\": \" Blue.\", \"rejected\": \" Green.\"}\n");
  auto r = pt::run_cli(base_args() + " --adapter '" + adapter_dir().string() + "' --task preference --beta 0.1 --data '" +
                       (t / "pairs.jsonl").string() + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto got = json::parse(r.out)["results"]["preference"];

  auto tok = tokenizer::Tokenizer::load(pt::qwen3_tokenizer_dir());
  auto m = model::load_model(model_dir(), torch::kFloat32, torch::kCPU);
  lora::load_adapter(m, adapter_dir());
  data::DataOptions o;
  o.paths = {t / "pairs.jsonl"};
  o.paired = true;
  o.shuffle = false;
  auto prepared = data::prepare_data(o, *tok);
  ASSERT_EQ(prepared.pairs.size(), 3u);
  auto lp = eval::pair_logps(m, prepared.pairs, {});
  auto want = eval::preference_results(lp.policy_chosen, lp.policy_rejected, lp.ref_chosen, lp.ref_rejected, 0.1);
  EXPECT_NEAR(got["reward_accuracy"].get<double>(), want["reward_accuracy"].get<double>(), 1e-9);
  EXPECT_NEAR(got["reward_margin"].get<double>(), want["reward_margin"].get<double>(), 1e-6);
  EXPECT_NE(want["reward_margin"].get<double>(), 0.0);  // the adapter moves the policy off the base
  EXPECT_EQ(got["n"].get<int64_t>(), 3);
}

TEST_F(EvalCli, CardRegeneratesReadmeFromRunDir) {
  pt::TempDir t;
  const fs::path run = t / "run";
  fs::create_directories(run / "plots");
  write_json_file_atomic(run / "prospect_run.json",
                         json{{"config",
                               {{"model", {{"name_or_path", "Qwen/Qwen3-0.6B"}}},
                                {"loss", {{"type", "enhanced_kto"}, {"beta", 0.1}, {"bco_shift", {{"enabled", false}}}}},
                                {"train", {{"num_train_epochs", 1}}}}}});
  write_text_file_atomic(run / "plots" / "loss.svg", "<svg/>");
  auto e = pt::run_cli(base_args() + " --task multiple_choice --data '" + golden("multiple_choice.jsonl").string() +
                       "' --output '" + (t / "mc.json").string() + "'");
  ASSERT_EQ(e.rc, 0) << e.err;
  auto r = pt::run_cli("card '" + run.string() + "' --eval '" + (t / "mc.json").string() + "' --date 2025-02-03");
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string md = read_text_file(run / "README.md");
  EXPECT_EQ(md.rfind("---\nbase_model: Qwen/Qwen3-0.6B\n", 0), 0u) << md.substr(0, 200);
  EXPECT_NE(md.find("| multiple_choice (0-shot) | acc_norm |"), std::string::npos);
  EXPECT_NE(md.find("| BCO shift | Disabled (implemented) |"), std::string::npos);
  EXPECT_NE(md.find("![Loss](plots/loss.svg)"), std::string::npos);
  EXPECT_TRUE(fs::exists(run / "plots" / "loss.svg"));
  r = pt::run_cli("card '" + (t / "nope").string() + "'");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("prospect_run.json"), std::string::npos) << r.err;
}
