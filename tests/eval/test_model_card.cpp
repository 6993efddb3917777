// The model card: front-matter (parsed), tables and plots for the seed's configuration.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "prospect/core/fs.h"
#include "prospect/eval/model_card.h"
#include "test_util.h"

using namespace prospect;
using nlohmann::json;

namespace {
// The seed's run: Qwen3-0.6B, Enhanced KTO, 1 epoch, 2 x 8, lr 2e-4, max length 512, LoRA 16/32,
// UltraFeedback Binarized, beta 0.1, value function / weighting / odds ratio on, BCO shift off.
json seed_run() {
  return json::parse(R"({
    "prospect_version": "0.1.0",
    "config": {
      "model": {"name_or_path": "Qwen/Qwen3-0.6B", "dtype": "bf16"},
      "data": {"dataset_name": "HuggingFaceH4/ultrafeedback_binarized", "max_length": 512},
      "lora": {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"]},
      "train": {"num_train_epochs": 1, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 8,
                "learning_rate": 2e-4, "lr_scheduler_type": "cosine", "seed": 42},
      "loss": {"type": "enhanced_kto", "beta": 0.1,
               "value_function": {"enabled": true, "alpha_gain": 0.88, "alpha_loss": 0.88, "lambda": 2.25},
               "probability_weighting": {"enabled": true, "gamma": 0.61},
               "odds_ratio": {"enabled": true, "weight": 0.1},
               "bco_shift": {"enabled": false, "start_step": 0}}
    }})");
}

json seed_evals() {
  return json::parse(R"({"results": {
      "hellaswag": {"acc": 0.30, "acc_stderr": 0.0046, "acc_norm": 0.336, "acc_norm_stderr": 0.0047, "n": 10042, "num_fewshot": 10},
      "truthfulqa_mc2": {"acc": 0.431, "acc_stderr": 0.015, "n": 817, "num_fewshot": 0},
      "mmlu": {"acc": 0.373, "acc_stderr": 0.004, "acc_macro": 0.38, "n": 14042, "num_fewshot": 5}}})");
}

// Minimal YAML front-matter reader: "key: value" and "- item" lists under a key.
std::map<std::string, std::vector<std::string>> front_matter(const std::string& text) {
  std::istringstream is(text);
  std::string line, key;
  std::getline(is, line);
  EXPECT_EQ(line, "---");
  std::map<std::string, std::vector<std::string>> fm;
  while (std::getline(is, line) && line != "---") {
    if (line.rfind("- ", 0) == 0) {
      fm[key].push_back(line.substr(2));
    } else {
      auto p = line.find(':');
      EXPECT_NE(p, std::string::npos) << line;
      key = line.substr(0, p);
      std::string v = p + 1 < line.size() ? line.substr(p + 2) : "";
      fm[key];
      if (!v.empty()) fm[key].push_back(v);
    }
  }
  EXPECT_EQ(line, "---");
  return fm;
}

bool has(const std::string& text, const std::string& s) { return text.find(s) != std::string::npos; }
}  // namespace

TEST(ModelCard, SeedConfigurationGivesTheSeedsCard) {
  test::TempDir d;
  fs::create_directories(d / "run" / "plots");
  for (const char* p : {"loss", "rewards", "kl", "learning_rate"})
    write_text_file_atomic(d / "run" / "plots" / (std::string(p) + ".svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
  eval::CardInputs in;
  in.run = seed_run();
  in.eval_results = {seed_evals()};
  in.date = "2025-06-01";
  for (const char* p : {"loss", "rewards", "kl", "learning_rate"})
    in.plots.push_back(d / "run" / "plots" / (std::string(p) + ".svg"));
  const auto readme = eval::write_model_card(d / "out", in);
  const std::string md = read_text_file(readme);

  auto fm = front_matter(md);
  EXPECT_EQ(fm["base_model"], std::vector<std::string>{"Qwen/Qwen3-0.6B"});
  for (const char* t : {"prospect", "kto", "enhanced-kto", "lora"})
    EXPECT_NE(std::find(fm["tags"].begin(), fm["tags"].end(), t), fm["tags"].end()) << t;
  EXPECT_EQ(fm["datasets"], std::vector<std::string>{"HuggingFaceH4/ultrafeedback_binarized"});
  EXPECT_EQ(fm["license"], std::vector<std::string>{"apache-2.0"});
  EXPECT_EQ(fm["library_name"], std::vector<std::string>{"transformers"});

  EXPECT_TRUE(has(md, "| Base model | Qwen/Qwen3-0.6B |"));
  EXPECT_TRUE(has(md, "| Method | Enhanced KTO |"));
  EXPECT_TRUE(has(md, "| Type | Merged Standalone Model |"));
  EXPECT_TRUE(has(md, "| Date | 2025-06-01 |"));
  EXPECT_TRUE(has(md, "| Framework | Prospect 0.1.0 |"));

  EXPECT_TRUE(has(md, "| HellaSwag (10-shot) | acc_norm | 0.336 ± 0.005 |"));
  EXPECT_TRUE(has(md, "| TruthfulQA MC2 (0-shot) | mc2 | 0.431 ± 0.015 |"));
  EXPECT_TRUE(has(md, "| MMLU (5-shot) | acc | 0.373 ± 0.004 |"));

  EXPECT_TRUE(has(md, "| Value function | Active | α gain = 0.88, α loss = 0.88, λ = 2.25, ε = 0.01 |"));
  EXPECT_TRUE(has(md, "| Probability weighting | Active | form = tversky_kahneman, γ = 0.61 |"));
  EXPECT_TRUE(has(md, "| Odds ratio | Active | μ = 0.1 |"));
  EXPECT_TRUE(has(md, "| BCO shift | Disabled (implemented) |"));
  // The 40% figure is the original report's observation, never stated as a fact of this run.
  EXPECT_TRUE(has(md, "The original Enhanced KTO report observed that enabling it destabilised about 40% of its runs"));
  EXPECT_TRUE(has(md, "this run did not test that"));

  EXPECT_TRUE(has(md, "| Epochs | 1 |"));
  EXPECT_TRUE(has(md, "| Batch size × gradient accumulation | 2 × 8 |"));
  EXPECT_TRUE(has(md, "| Learning rate | 2e-4 |"));
  EXPECT_TRUE(has(md, "| Max length | 512 |"));
  EXPECT_TRUE(has(md, "| LoRA r / α | 16 / 32 |"));
  EXPECT_TRUE(has(md, "| Dataset | HuggingFaceH4/ultrafeedback_binarized |"));
  EXPECT_TRUE(has(md, "| β | 0.1 |"));

  for (const char* p : {"loss", "rewards", "kl", "learning_rate"}) {
    EXPECT_TRUE(has(md, std::string("(plots/") + p + ".svg)")) << p;
    EXPECT_TRUE(fs::exists(d / "out" / "plots" / (std::string(p) + ".svg"))) << p;
  }
  EXPECT_TRUE(has(md, "![KL](plots/kl.svg)"));
  EXPECT_TRUE(has(md, "AutoModelForCausalLM.from_pretrained"));
  EXPECT_TRUE(has(md, "apply_chat_template"));
  EXPECT_TRUE(has(md, "model.generate("));
  for (const auto& e : fs::directory_iterator(d / "out"))  // atomic writes leave no temporaries
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(ModelCard, ActiveBcoAndAdapterTypeAndMissingEvals) {
  auto run = seed_run();
  run["config"]["loss"]["bco_shift"]["enabled"] = true;
  run["config"]["loss"]["probability_weighting"]["enabled"] = false;
  eval::CardInputs in;
  in.run = run;
  in.model_type = "LoRA adapter";
  in.date = "2025-01-02";
  const std::string md = eval::render_model_card(in, {});
  EXPECT_TRUE(has(md, "| BCO shift | Active |"));
  EXPECT_TRUE(has(md, "| Probability weighting | Disabled |"));
  EXPECT_FALSE(has(md, "40%"));
  EXPECT_FALSE(has(md, "## Benchmark results"));  // no eval JSON given
  EXPECT_FALSE(has(md, "## Training plots"));
  EXPECT_EQ(front_matter(md)["library_name"], std::vector<std::string>{"peft"});
  EXPECT_TRUE(has(md, "AutoPeftModelForCausalLM"));
}

TEST(ModelCard, OtherMethodsHaveNoComponentsTable) {
  json run = {{"config", {{"loss", {{"type", "dpo"}, {"beta", 0.2}}}, {"model", {{"path", "/models/base"}}}}}};
  eval::CardInputs in;
  in.run = run;
  const std::string md = eval::render_model_card(in, {});
  EXPECT_TRUE(has(md, "| Method | DPO |"));
  EXPECT_FALSE(has(md, "Enhanced KTO components"));
  auto fm = front_matter(md);
  EXPECT_EQ(fm["base_model"], std::vector<std::string>{"/models/base"});
  EXPECT_FALSE(fm.count("datasets"));
  EXPECT_EQ(eval::method_display_name("simpo"), "SimPO");
}

TEST(ModelCard, ReadsTheTrainRecipesRunMetadata) {
  // prospect_run.json as train/recipe.cpp writes it, with configs/qwen3-0.6b-enhanced-kto.json inside.
  json run = {{"framework", "prospect"}, {"base_model", "models/Qwen3-0.6B"}, {"method", "enhanced_kto"},
              {"dtype", "bf16"}, {"plots", {"plots/loss.svg"}}};
  run["config"] = read_json_file(test::source_dir() / "configs" / "qwen3-0.6b-enhanced-kto.json");
  eval::CardInputs in;
  in.run = run;
  in.date = "2025-06-01";
  const std::string md = eval::render_model_card(in, {});
  auto fm = front_matter(md);
  EXPECT_EQ(fm["base_model"], std::vector<std::string>{"Qwen/Qwen3-0.6B"});
  EXPECT_EQ(fm["datasets"], std::vector<std::string>{"HuggingFaceH4/ultrafeedback_binarized"});
  EXPECT_TRUE(has(md, "| Method | Enhanced KTO |"));
  EXPECT_TRUE(has(md, "| Batch size × gradient accumulation | 2 × 8 |"));
  EXPECT_TRUE(has(md, "| Learning rate | 2e-4 |"));
  EXPECT_TRUE(has(md, "| Max length | 512 |"));
  EXPECT_TRUE(has(md, "| LoRA r / α | 16 / 32 |"));
  EXPECT_TRUE(has(md, "| Epochs | 1 |"));
  EXPECT_TRUE(has(md, "| β | 0.1 |"));
  EXPECT_TRUE(has(md, "| Precision | bf16 |"));
  EXPECT_TRUE(has(md, "| BCO shift | Disabled (implemented) |"));
}
