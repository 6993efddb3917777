// LoRA math on single layers: the worked example of reference §6.3, initialisation, scaling, DoRA,
// dropout placement, dtype handling, config parsing and module matching.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/lora/config.h"
#include "prospect/lora/lora.h"
#include "prospect/model/linear.h"
#include "test_util.h"

using namespace prospect;
using namespace prospect::lora;

namespace {

torch::Tensor T2(std::vector<std::vector<float>> v) {
  const int64_t r = (int64_t)v.size(), c = (int64_t)v[0].size();
  auto t = torch::empty({r, c});
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) t[i][j] = v[i][j];
  return t;
}

std::shared_ptr<const LoraConfig> cfg_ptr(LoraConfig c) { return std::make_shared<LoraConfig>(std::move(c)); }

// The worked example: W = [[1,0,0],[0,1,0]], A = [[1,1,1]], B = [[1],[2]], r = 1, alpha = 2.
struct Worked {
  model::Linear lin{3, 2, false};
  Worked() {
    torch::NoGradGuard ng;
    lin->weight.set_data(T2({{1, 0, 0}, {0, 1, 0}}));
    LoraConfig c;
    c.r = 1;
    c.lora_alpha = 2;
    LoraWeights w;
    w.A = T2({{1, 1, 1}});
    w.B = T2({{1}, {2}});
    w.scaling = c.scaling_for("x");
    w.config = cfg_ptr(c);
    lora_layer(lin, "x").adapters.emplace("default", w);
  }
};

}  // namespace

TEST(LoraLayer, WorkedExampleForwardAndMerge) {
  Worked wk;
  auto x = torch::tensor({1.f, 2.f, 3.f});
  auto y = wk.lin->forward(x);
  EXPECT_TRUE(torch::equal(y, torch::tensor({13.f, 26.f}))) << y;
  auto merged = find_lora_layer(wk.lin)->merged_weight(wk.lin->weight, "default");
  EXPECT_TRUE(torch::equal(merged, T2({{3, 2, 2}, {4, 5, 4}}))) << merged;
  EXPECT_TRUE(torch::equal(torch::matmul(merged, x), torch::tensor({13.f, 26.f})));
  // Disabled adapters: the base output.
  {
    model::AdaptersDisabled off;
    EXPECT_TRUE(torch::equal(wk.lin->forward(x), torch::tensor({1.f, 2.f})));
  }
  // An adapter name the layer does not carry: the base output too.
  {
    UseAdapter ref("ref");
    EXPECT_TRUE(torch::equal(wk.lin->forward(x), torch::tensor({1.f, 2.f})));
  }
  EXPECT_EQ(UseAdapter::active(), "default");
  EXPECT_TRUE(torch::equal(wk.lin->forward(x), torch::tensor({13.f, 26.f})));
}

TEST(LoraLayer, ScalingPlainAndRsLora) {
  LoraConfig c;
  c.r = 16;
  c.lora_alpha = 32;
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 2.0);
  c.use_rslora = true;
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.q_proj"), 8.0);
}

TEST(LoraLayer, RankAndAlphaPatternsMatchAsRegexSuffix) {
  LoraConfig c;
  c.r = 8;
  c.lora_alpha = 16;
  c.rank_pattern = {{"down_proj", 4}, {"layers\\.1\\.self_attn\\.q_proj", 2}};
  c.alpha_pattern = {{"v_proj", 3}};
  EXPECT_EQ(c.rank_for("model.layers.0.mlp.down_proj"), 4);
  EXPECT_EQ(c.rank_for("model.layers.1.self_attn.q_proj"), 2);
  EXPECT_EQ(c.rank_for("model.layers.0.self_attn.q_proj"), 8);
  // A suffix match must start at a component boundary: "proj" does not match "down_proj".
  LoraConfig c2 = c;
  c2.rank_pattern = {{"proj", 5}};
  EXPECT_EQ(c2.rank_for("model.layers.0.mlp.down_proj"), 8);
  EXPECT_DOUBLE_EQ(c.alpha_for("model.layers.0.self_attn.v_proj"), 3.0);
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.self_attn.v_proj"), 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(c.scaling_for("model.layers.0.mlp.down_proj"), 16.0 / 4.0);
}

TEST(LoraLayer, InitKaimingUniformBoundsAndZeroB) {
  LoraConfig c;
  c.r = 16;
  auto W = torch::randn({64, 896});
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto w = init_lora_weights(W, "q_proj", cfg_ptr(c), gen, torch::kFloat32);
  const double bound = 1.0 / std::sqrt(896.0);  // 0.0334077
  EXPECT_NEAR(bound, 0.0334077, 1e-7);
  EXPECT_EQ(w.A.sizes(), (std::vector<int64_t>{16, 896}));
  EXPECT_EQ(w.B.sizes(), (std::vector<int64_t>{64, 16}));
  EXPECT_LE(w.A.abs().max().item<double>(), bound);
  EXPECT_GT(w.A.abs().max().item<double>(), 0.99 * bound);  // really uniform over the full range
  EXPECT_NEAR(w.A.mean().item<double>(), 0.0, 0.002);
  EXPECT_NEAR(w.A.std().item<double>(), bound / std::sqrt(3.0), 0.001);  // U(-b, b) has std b/√3
  EXPECT_EQ(w.B.abs().max().item<double>(), 0.0);
  EXPECT_FALSE(w.dora());
  // Seeded: the same seed gives the same A; another seed another A.
  at::Generator g2 = at::make_generator<at::CPUGeneratorImpl>(7), g3 = at::make_generator<at::CPUGeneratorImpl>(8);
  EXPECT_TRUE(torch::equal(init_lora_weights(W, "q_proj", cfg_ptr(c), g2, torch::kFloat32).A, w.A));
  EXPECT_FALSE(torch::equal(init_lora_weights(W, "q_proj", cfg_ptr(c), g3, torch::kFloat32).A, w.A));
}

TEST(LoraLayer, InitGaussianAndLinearDefault) {
  LoraConfig c;
  c.r = 4;
  c.init_lora_weights = LoraInit::Gaussian;
  auto W = torch::randn({32, 4096});
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto g = init_lora_weights(W, "p", cfg_ptr(c), gen, torch::kFloat32);
  EXPECT_NEAR(g.A.std().item<double>(), 1.0 / 4, 0.005);
  EXPECT_EQ(g.B.abs().max().item<double>(), 0.0);
  c.init_lora_weights = LoraInit::LinearDefault;
  auto d = init_lora_weights(W, "p", cfg_ptr(c), gen, torch::kFloat32);
  EXPECT_LE(d.A.abs().max().item<double>(), 1.0 / std::sqrt(4096.0));
  EXPECT_LE(d.B.abs().max().item<double>(), 1.0 / std::sqrt(4.0));
  EXPECT_GT(d.B.abs().max().item<double>(), 0.3);  // not a no-op
}

TEST(LoraLayer, DoraMagnitudeInitIsRowNormAndForwardMatchesMergedWeight) {
  torch::manual_seed(3);
  model::Linear lin(12, 10, true);
  {
    torch::NoGradGuard ng;
    lin->weight.set_data(torch::randn({10, 12}));
    lin->bias.set_data(torch::randn({10}));
  }
  LoraConfig c;
  c.r = 3;
  c.lora_alpha = 5;
  c.use_dora = true;
  c.init_lora_weights = LoraInit::LinearDefault;  // B != 0, so the magnitude is the norm of W + sBA
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(2);
  auto w = init_lora_weights(lin->weight, "p", cfg_ptr(c), gen, torch::kFloat32);
  auto expected_m = (lin->weight + w.scaling * w.B.matmul(w.A)).norm(2, 1);
  EXPECT_TRUE(torch::allclose(w.magnitude, expected_m, 1e-6, 1e-6));
  // At init DoRA equals plain LoRA (m/‖·‖ = 1).
  auto x = torch::randn({5, 12});
  auto& layer = lora_layer(lin, "p");
  layer.adapters.emplace("default", w);
  auto y0 = lin->forward(x);
  auto plain = torch::linear(x, lin->weight, lin->bias) + w.scaling * torch::linear(torch::linear(x, w.A), w.B);
  EXPECT_TRUE(torch::allclose(y0, plain, 1e-5, 1e-5));
  // A trained magnitude: forward (unmerged, §6.3) equals the merged weight's output, bias included.
  {
    torch::NoGradGuard ng;
    layer.adapters.at("default").magnitude.mul_(1 + 0.3 * torch::randn({10}));
  }
  auto y = lin->forward(x);
  auto ref = layer.forward_reference(x, lin->weight, "default");
  EXPECT_TRUE(torch::allclose(y, ref, 1e-5, 1e-5)) << (y - ref).abs().max();
  // Hand formula: (m/‖W+sBA‖)·(W + sBA)x + b.
  const auto& m = layer.adapters.at("default").magnitude;
  auto Wp = lin->weight + w.scaling * w.B.matmul(w.A);
  auto hand = torch::linear(x, (m / Wp.norm(2, 1)).unsqueeze(1) * Wp, lin->bias);
  EXPECT_TRUE(torch::allclose(y, hand, 1e-5, 1e-5));
  // The norm is detached: the gradient w.r.t. m is ((W + sBA)x / ‖W + sBA‖) summed over rows.
  auto& mm = layer.adapters.at("default").magnitude;
  mm.set_requires_grad(true);
  lin->forward(x).sum().backward();
  auto g_expected = (torch::linear(x, Wp) / Wp.norm(2, 1)).sum(0);
  EXPECT_TRUE(torch::allclose(mm.grad(), g_expected, 1e-4, 1e-4));
}

TEST(LoraLayer, DropoutOnlyOnLoraBranchAndOnlyInTraining) {
  torch::manual_seed(5);
  model::Linear lin(16, 8, false);
  {
    torch::NoGradGuard ng;
    lin->weight.set_data(torch::randn({8, 16}));
  }
  LoraConfig c;
  c.r = 4;
  c.lora_alpha = 4;
  c.lora_dropout = 0.5;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(2);
  auto w = init_lora_weights(lin->weight, "p", cfg_ptr(c), gen, torch::kFloat32);  // B = 0
  auto& layer = lora_layer(lin, "p");
  layer.adapters.emplace("default", w);
  layer.training = true;
  auto x = torch::randn({6, 16});
  auto base = torch::linear(x, lin->weight);
  // B = 0: even in training the output is exactly the base (the base path never sees dropout).
  EXPECT_TRUE(torch::equal(lin->forward(x), base));
  {
    torch::NoGradGuard ng;
    layer.adapters.at("default").B.normal_();
  }
  auto eval_out = [&] {
    layer.training = false;
    auto y = lin->forward(x);
    layer.training = true;
    return y;
  }();
  EXPECT_TRUE(torch::equal(eval_out, lin->forward(x).detach()) == false);  // dropout changed the branch
  EXPECT_TRUE(torch::allclose(eval_out, layer.forward_reference(x, lin->weight, "default"), 1e-5, 1e-5));
  // The training output is base + s·B·A·(mask ⊙ x / (1-p)): recover it row by row is not possible, but
  // its deviation from base must lie in the column space of B.
  auto dev = lin->forward(x).detach() - base;  // [6, 8]
  const auto& B = layer.adapters.at("default").B;  // [8, 4]
  auto proj = B.matmul(torch::linalg_pinv(B)).matmul(dev.t()).t();
  EXPECT_TRUE(torch::allclose(proj, dev, 1e-4, 1e-4));
}

TEST(LoraLayer, Fp32AdapterOnBf16Base) {
  torch::manual_seed(9);
  model::Linear lin(16, 8, false);
  {
    torch::NoGradGuard ng;
    lin->weight.set_data(torch::randn({8, 16}).to(torch::kBFloat16));
  }
  LoraConfig c;
  c.init_lora_weights = LoraInit::LinearDefault;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(2);
  auto w = init_lora_weights(lin->weight, "p", cfg_ptr(c), gen, torch::kFloat32);
  lora_layer(lin, "p").adapters.emplace("default", w);
  auto x = torch::randn({3, 16}).to(torch::kBFloat16);
  auto y = lin->forward(x);
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  auto base = torch::linear(x, lin->weight);
  auto expect = (base.to(torch::kFloat32) + w.scaling * torch::linear(torch::linear(x.to(torch::kFloat32), w.A), w.B))
                    .to(torch::kBFloat16);
  EXPECT_TRUE(torch::equal(y, expect));
}

TEST(LoraConfig, TargetMatchingAsPeft) {
  LoraConfig c;
  c.target_modules = {"q_proj", "model.layers.1.mlp.down_proj"};
  EXPECT_TRUE(c.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(c.targets("model.layers.0.self_attn.k_proj"));
  EXPECT_TRUE(c.targets("model.layers.1.mlp.down_proj"));
  EXPECT_FALSE(c.targets("model.layers.0.mlp.down_proj"));
  EXPECT_FALSE(c.targets("model.layers.0.self_attn.xq_proj"));  // suffix must follow a '.'
  c.exclude_modules = {"model.layers.0.self_attn.q_proj"};
  EXPECT_FALSE(c.targets("model.layers.0.self_attn.q_proj"));
  c.exclude_modules.clear();
  c.layers_to_transform = {1};
  EXPECT_FALSE(c.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(c.targets("model.layers.1.self_attn.q_proj"));
  c.layers_pattern = {"layers"};
  EXPECT_TRUE(c.targets("model.layers.1.self_attn.q_proj"));
  c.layers_pattern = {"blocks"};
  EXPECT_FALSE(c.targets("model.layers.1.self_attn.q_proj"));

  LoraConfig re;
  re.target_regex = R"(.*\.(0|1)\.self_attn\.(q|v)_proj)";
  EXPECT_TRUE(re.targets("model.layers.1.self_attn.v_proj"));
  EXPECT_FALSE(re.targets("model.layers.2.self_attn.v_proj"));
  EXPECT_FALSE(re.targets("model.layers.1.self_attn.v_proj.x"));  // full match only

  LoraConfig def;  // PEFT default for qwen3: q_proj, v_proj
  EXPECT_TRUE(def.targets("model.layers.0.self_attn.q_proj", "qwen3"));
  EXPECT_TRUE(def.targets("model.layers.0.self_attn.v_proj", "llama"));
  EXPECT_FALSE(def.targets("model.layers.0.self_attn.k_proj", "qwen2"));
}

TEST(LoraConfig, ParseStrictAndPeftFile) {
  nlohmann::json j = {{"r", 16}, {"lora_alpha", 32}, {"lora_dropout", 0.05}, {"target_modules", "all-linear"},
                      {"use_rslora", true}, {"init_lora_weights", "gaussian"}, {"rank_pattern", {{"q_proj", 4}}}};
  auto c = LoraConfig::from_json(j);
  EXPECT_EQ(c.r, 16);
  EXPECT_TRUE(c.all_linear);
  EXPECT_TRUE(c.use_rslora);
  EXPECT_EQ(c.init_lora_weights, LoraInit::Gaussian);
  EXPECT_EQ(c.rank_pattern.at("q_proj"), 4);

  // Strict: unknown key with a suggestion.
  try {
    LoraConfig::from_json({{"r", 8}, {"lora_alpah", 16}}, "train.json: lora");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lora_alpah"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lora_alpha"), std::string::npos) << e.what();
  }
  // Tolerant PEFT reading: unknown keys ignored.
  auto p = LoraConfig::from_peft_json({{"peft_type", "LORA"}, {"r", 4}, {"some_new_field", 1}});
  EXPECT_EQ(p.r, 4);
  EXPECT_DOUBLE_EQ(p.lora_alpha, 8.0);  // PEFT default for a missing lora_alpha

  auto expect_error = [](const nlohmann::json& j, const std::string& needle) {
    try {
      LoraConfig::from_peft_json(j);
      ADD_FAILURE() << "no error for " << j.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({{"bias", "all"}}, "'bias'");
  expect_error({{"modules_to_save", {"lm_head"}}}, "modules_to_save");
  expect_error({{"fan_in_fan_out", true}}, "fan_in_fan_out");
  expect_error({{"init_lora_weights", "pissa"}}, "init_lora_weights");
  expect_error({{"peft_type", "IA3"}}, "peft_type");
  expect_error({{"target_parameters", {"experts"}}}, "target_parameters");
  expect_error({{"target_modules", ".*q_proj"}, {"layers_to_transform", {0}}}, "layers_to_transform");
}

TEST(LoraConfig, WritesPeftAdapterConfig) {
  LoraConfig c;
  c.r = 16;
  c.lora_alpha = 32;
  c.lora_dropout = 0.05;
  c.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj"};
  c.base_model_name_or_path = "Qwen/Qwen2.5-0.5B-Instruct";
  auto j = c.to_peft_json();
  // The typical TRL LoRA run of reference §6.4, field by field.
  const nlohmann::json expected = nlohmann::json::parse(R"({"alora_invocation_tokens": null, "alpha_pattern": {},
   "arrow_config": null, "auto_mapping": null, "base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct",
   "bias": "none", "corda_config": null, "ensure_weight_tying": false, "eva_config": null,
   "exclude_modules": null, "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
   "kasa_config": null, "layer_replication": null, "layers_pattern": null, "layers_to_transform": null,
   "loftq_config": {}, "lora_alpha": 32, "lora_bias": false, "lora_dropout": 0.05, "lora_ga_config": null,
   "megatron_config": null, "megatron_core": "megatron.core", "modules_to_save": null,
   "monteclora_config": null, "peft_type": "LORA", "peft_version": "0.20.0", "qalora_group_size": 16, "r": 16,
   "rank_pattern": {}, "revision": null, "target_modules": ["q_proj","k_proj","v_proj","o_proj"],
   "target_parameters": null, "task_type": "CAUSAL_LM", "trainable_token_indices": null, "use_bdlora": null,
   "use_dora": false, "use_qalora": false, "use_rslora": false, "velora_config": null})");
  EXPECT_EQ(j, expected) << j.dump(1);
  EXPECT_TRUE(j["lora_alpha"].is_number_integer());
  // Keys are written sorted.
  const std::string s = j.dump();
  EXPECT_LT(s.find("\"alora_invocation_tokens\""), s.find("\"alpha_pattern\""));
  EXPECT_LT(s.find("\"use_rslora\""), s.find("\"velora_config\""));
  // Round trip through the tolerant reader.
  auto back = LoraConfig::from_peft_json(j);
  EXPECT_EQ(back.to_peft_json(), j);
}

// fuzz/regressions/json_config: each input once crashed the json_config target (a float beyond int64
// read as an integer). Replayed here through the same parsers: one prospect::Error, nothing else.
TEST(LoraConfig, FuzzRegressionsGiveOneCleanError) {
  auto inputs = prospect::test::fuzz_regressions("json_config");
  ASSERT_FALSE(inputs.empty());
  for (const auto& f : inputs) {
    const auto j = nlohmann::json::parse(prospect::read_text_file(f));
    EXPECT_THROW(LoraConfig::from_json(j), Error) << f;
    EXPECT_THROW(LoraConfig::from_peft_json(j), Error) << f;
  }
  // rank_pattern went through the same cast.
  EXPECT_THROW(LoraConfig::from_json({{"r", 8}, {"rank_pattern", {{"q_proj", 1e30}}}}), Error);
}
