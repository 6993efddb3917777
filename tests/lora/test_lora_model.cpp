// LoRA on whole models: merged == adapter outputs (plain, rsLoRA, DoRA; tied and untied), PEFT-layout
// golden adapters written by an independent script, PEFT-exact saving, reference adapters, errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/io/safetensors.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/lora/lora.h"
#include "prospect/lora/merge.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/logprobs.h"
#include "test_util.h"

using namespace prospect;
using namespace prospect::lora;
namespace fs = std::filesystem;

namespace {

model::ModelConfig tiny(bool tied, int64_t hidden = 32) {
  auto c = model::ModelConfig::preset("tiny");
  c.vocab_size = 97;
  c.hidden_size = hidden;
  c.intermediate_size = 48;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.tie_word_embeddings = tied;
  c.torch_dtype = "float32";
  c.initializer_range = 0.2;  // large weights: the adapter's effect is clearly visible
  return c;
}

torch::Tensor ids_for(int64_t V) {
  return torch::tensor({3, 17, 42, 8, 61, 5, 23, 9, 50, 12, 7, 7, 30, 2, 44, 19, 63, 0, 11, 36}, torch::kInt64)
             .remainder(V)
             .view({2, 10});
}

torch::Tensor logps(model::CausalLM& m, const torch::Tensor& ids) {
  torch::NoGradGuard ng;
  return model::token_logprobs(m, ids);
}

double maxdiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// A trained-looking adapter: B random nonzero (init_lora_weights false), DoRA magnitudes perturbed.
LoraModel attach_trained(model::CausalLM& m, LoraConfig c, uint64_t seed) {
  c.init_lora_weights = LoraInit::LinearDefault;
  auto lm = attach_lora(m, c, seed);
  torch::NoGradGuard ng;
  for (auto& [k, t] : lm.named_parameters())
    if (k.find("lora_magnitude_vector") != std::string::npos) t.mul_(1 + 0.3 * torch::rand_like(t));
  return lm;
}

std::vector<std::vector<double>> read2d(const nlohmann::json& j) { return j.get<std::vector<std::vector<double>>>(); }

torch::Tensor tensor2d(const nlohmann::json& j) {
  auto v = read2d(j);
  auto t = torch::empty({(int64_t)v.size(), (int64_t)v[0].size()}, torch::kFloat64);
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t k = 0; k < v[i].size(); ++k) t[i][k] = v[i][k];
  return t.to(torch::kFloat32);
}

fs::path golden() { return test::golden_dir() / "lora"; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// --- merged == adapter -------------------------------------------------------------------------------

struct MergeCase {
  const char* name;
  bool tied, rslora, dora;
};

class MergeEquivalence : public ::testing::TestWithParam<MergeCase> {};

TEST_P(MergeEquivalence, MergedModelScoresEqualAdapterModel) {
  const auto p = GetParam();
  auto m = model::init_model(tiny(p.tied), 11, torch::kFloat32);
  m->eval();
  const auto ids = ids_for(97);
  const auto base = logps(m, ids);
  LoraConfig c;
  c.r = 4;
  c.lora_alpha = 8;
  c.all_linear = true;
  c.use_rslora = p.rslora;
  c.use_dora = p.dora;
  c.rank_pattern = {{"down_proj", 2}};
  auto lm = attach_trained(m, c, 5);
  EXPECT_EQ(lm.target_paths().size(), 2u * 7u);
  const auto adapted = logps(m, ids);
  EXPECT_GT(maxdiff(adapted, base), 1e-2) << "the adapter must change the model for the test to mean anything";
  {
    model::AdaptersDisabled off;
    EXPECT_LT(maxdiff(logps(m, ids), base), 1e-6);
  }
  // merged_state: same names as the base, no adapter tensors; loading it as a plain model reproduces.
  auto state = merged_state(m, "default", torch::kFloat32);
  auto plain = model::init_model(tiny(p.tied), 99, torch::kFloat32);
  plain->eval();
  {
    torch::NoGradGuard ng;
    std::map<std::string, torch::Tensor> by;
    for (auto& [k, t] : state) by[k] = t;
    ASSERT_EQ(by.size(), plain->hf_state().size());
    for (auto& [k, t] : plain->hf_state()) {
      ASSERT_TRUE(by.count(k)) << k;
      ASSERT_EQ(by[k].sizes(), t.sizes()) << k;
      t.set_data(by[k].clone());
    }
  }
  EXPECT_LT(maxdiff(logps(plain, ids), adapted), 1e-5);
  // merge_into: in place, adapters removed.
  EXPECT_EQ(merge_into(m, "default"), 14);
  EXPECT_FALSE(LoraModel(m).has_adapter("default"));
  EXPECT_LT(maxdiff(logps(m, ids), adapted), 1e-5);
  if (p.tied) {
    EXPECT_FALSE(m->lm_head.defined());
  }
}

INSTANTIATE_TEST_SUITE_P(Lora, MergeEquivalence,
                         ::testing::Values(MergeCase{"plain_tied", true, false, false},
                                           MergeCase{"plain_untied", false, false, false},
                                           MergeCase{"rslora_tied", true, true, false},
                                           MergeCase{"rslora_untied", false, true, false},
                                           MergeCase{"dora_tied", true, false, true},
                                           MergeCase{"dora_untied", false, true, true}),
                         [](const auto& info) { return std::string(info.param.name); });

// --- golden PEFT-layout adapters ---------------------------------------------------------------------

TEST(LoraGolden, PeftLayoutAdaptersLoadAndScore) {
  const auto expected = read_json_file(golden() / "expected.json");
  auto ids = torch::tensor(expected["input_ids"].get<std::vector<std::vector<int64_t>>>()[0], torch::kInt64);
  auto ids2 = torch::tensor(expected["input_ids"].get<std::vector<std::vector<int64_t>>>()[1], torch::kInt64);
  const auto input = torch::stack({ids, ids2});
  auto m = model::load_model(golden() / "base", torch::kFloat32, torch::kCPU);
  m->eval();
  EXPECT_LT(maxdiff(logps(m, input), tensor2d(expected["logprobs_base"])), 1e-4);

  auto lm = load_adapter(m, golden() / "adapter_lora", "default");
  const auto& cfg = lm.config();
  EXPECT_EQ(cfg.r, 4);
  EXPECT_EQ(cfg.rank_for("model.layers.0.mlp.down_proj"), 2);
  EXPECT_EQ(lm.target_paths().size(), 6u);
  EXPECT_TRUE(lm.parameters().empty());  // loaded frozen by default
  const auto got = logps(m, input), want = tensor2d(expected["logprobs_lora"]);
  EXPECT_LT(maxdiff(got, want), 1e-4) << got << want;
  EXPECT_GT(maxdiff(want, tensor2d(expected["logprobs_base"])), 0.1);
  {
    model::AdaptersDisabled off;
    EXPECT_LT(maxdiff(logps(m, input), tensor2d(expected["logprobs_base"])), 1e-4);
  }
  // A second adapter on the same model (DoRA + rsLoRA, keys in PEFT's in-memory ".default" form).
  load_adapter(m, golden() / "adapter_dora", "dora");
  {
    UseAdapter use("dora");
    EXPECT_LT(maxdiff(logps(m, input), tensor2d(expected["logprobs_dora"])), 1e-4);
  }
  EXPECT_LT(maxdiff(logps(m, input), want), 1e-4);  // "default" still active outside the guard
  // Merging the DoRA adapter reproduces the independent unmerged forward.
  merge_into(m, "dora");
  EXPECT_LT(maxdiff(logps(m, input), tensor2d(expected["logprobs_dora"])), 1e-4);
}

// --- saving in PEFT's layout --------------------------------------------------------------------------

TEST(LoraSave, KeysAndConfigMatchPeftAndRoundTrip) {
  test::TempDir tmp;
  auto m = model::init_model(tiny(true), 3, torch::kFloat32);
  m->eval();
  LoraConfig c;
  c.r = 4;
  c.lora_alpha = 16;
  c.all_linear = true;
  c.use_dora = true;
  c.base_model_name_or_path = "Qwen/Qwen3-0.6B";
  auto lm = attach_trained(m, c, 9);
  ASSERT_FALSE(lm.parameters().empty());
  save_adapter(lm, tmp / "adapter");

  auto st = io::SafetensorsFile::open(tmp / "adapter" / "adapter_model.safetensors");
  EXPECT_EQ(st->metadata().at("format"), "pt");
  std::set<std::string> keys;
  for (auto& [k, info] : st->tensors()) keys.insert(k);
  std::set<std::string> want;
  for (int l = 0; l < 2; ++l)
    for (std::string mod : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      const std::string b = "base_model.model.model.layers." + std::to_string(l) + "." + mod;
      want.insert(b + ".lora_A.weight");
      want.insert(b + ".lora_B.weight");
      want.insert(b + ".lora_magnitude_vector");
    }
  EXPECT_EQ(keys, want);
  EXPECT_EQ(st->tensors().at("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight").shape,
            (std::vector<int64_t>{2 * 8, 4}));
  EXPECT_EQ(st->tensors().at("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight").shape,
            (std::vector<int64_t>{4, 48}));
  EXPECT_EQ(st->tensors().at("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight").dtype, "F32");

  const std::string text = read_text_file(tmp / "adapter" / "adapter_config.json");
  const auto j = nlohmann::json::parse(text);
  for (const char* k : {"peft_type", "task_type", "base_model_name_or_path", "r", "lora_alpha", "target_modules",
                        "lora_dropout", "bias", "fan_in_fan_out", "use_rslora", "use_dora", "modules_to_save",
                        "inference_mode", "init_lora_weights", "rank_pattern", "alpha_pattern",
                        "layers_to_transform", "layers_pattern"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["inference_mode"], true);
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["task_type"], "CAUSAL_LM");
  EXPECT_EQ(j["base_model_name_or_path"], "Qwen/Qwen3-0.6B");
  EXPECT_EQ(j["use_dora"], true);
  // all-linear is stored as full module paths (PEFT >= 0.15); compared as a set.
  auto tm = j["target_modules"].get<std::vector<std::string>>();
  EXPECT_EQ(std::set<std::string>(tm.begin(), tm.end()).size(), 14u);
  EXPECT_TRUE(std::set<std::string>(tm.begin(), tm.end()).count("model.layers.1.mlp.down_proj"));
  // Keys in the file text appear in sorted order.
  std::vector<size_t> pos;
  for (auto it = j.begin(); it != j.end(); ++it) pos.push_back(text.find("\"" + it.key() + "\":"));
  EXPECT_TRUE(std::is_sorted(pos.begin(), pos.end()));

  // Round trip into a fresh copy of the same base.
  const auto ids = ids_for(97);
  const auto before = logps(m, ids);
  auto m2 = model::init_model(tiny(true), 3, torch::kFloat32);
  m2->eval();
  auto lm2 = load_adapter(m2, tmp / "adapter", "default", /*trainable=*/true);
  EXPECT_EQ(lm2.parameters().size(), 14u * 3u);
  EXPECT_EQ(maxdiff(logps(m2, ids), before), 0.0);
}

// --- reference adapters ------------------------------------------------------------------------------

TEST(LoraRef, FrozenCopyIsIndependentReference) {
  auto m = model::init_model(tiny(false), 4, torch::kFloat32);
  m->eval();
  LoraConfig c;
  c.target_modules = {"q_proj", "v_proj", "up_proj"};
  auto lm = attach_trained(m, c, 1);
  const auto ids = ids_for(97);
  const auto start = logps(m, ids);
  lm.copy_adapter("default", "ref", /*frozen=*/true);
  EXPECT_TRUE(lm.parameters("ref").empty());
  EXPECT_EQ(lm.named_parameters("ref").size(), lm.named_parameters("default").size());
  EXPECT_EQ(lm.adapter_names(), (std::vector<std::string>{"default", "ref"}));
  {
    torch::NoGradGuard ng;
    for (auto& t : lm.parameters("default")) t.add_(0.5 * torch::randn_like(t));
  }
  const auto trained = logps(m, ids);
  EXPECT_GT(maxdiff(trained, start), 1e-2);
  {
    UseAdapter ref("ref");
    EXPECT_EQ(maxdiff(logps(m, ids), start), 0.0);
  }
  lm.delete_adapter("ref");
  EXPECT_FALSE(lm.has_adapter("ref"));
  EXPECT_EQ(maxdiff(logps(m, ids), trained), 0.0);
}

TEST(LoraRef, GradientsReachOnlyTheActiveTrainableAdapter) {
  auto m = model::init_model(tiny(true), 4, torch::kFloat32);
  LoraConfig c;
  c.target_modules = {"q_proj", "v_proj"};
  auto lm = attach_lora(m, c, 1);  // PEFT default init: B = 0
  lm.set_train(true);
  for (auto& item : m->named_parameters()) EXPECT_FALSE(item.value().requires_grad()) << item.key();
  auto ids = ids_for(97);
  auto mask = torch::ones_like(ids);
  auto s = model::sequence_logprobs(m, ids, mask, mask);
  s.sum.sum().backward();
  for (auto& [k, t] : lm.named_parameters()) {
    ASSERT_TRUE(t.grad().defined()) << k;
    // With B = 0, A gets no gradient and B does (the classic LoRA start).
    if (k.find("lora_A") != std::string::npos) EXPECT_EQ(t.grad().abs().max().item<double>(), 0.0) << k;
    else EXPECT_GT(t.grad().abs().max().item<double>(), 0.0) << k;
  }
}

// --- errors ------------------------------------------------------------------------------------------

TEST(LoraErrors, UnknownTargetModuleSuggestsName) {
  auto m = model::init_model(tiny(true), 1, torch::kFloat32);
  LoraConfig c;
  c.target_modules = {"q_proj", "v_prj"};
  auto msg = error_of([&] { attach_lora(m, c, 0); });
  EXPECT_NE(msg.find("'v_prj' matches no linear layer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'v_proj'"), std::string::npos) << msg;
  c.target_modules = {"lm_head"};
  msg = error_of([&] { attach_lora(m, c, 0); });
  EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
  c.target_modules.clear();
  c.target_regex = ".*embed_tokens";
  msg = error_of([&] { attach_lora(m, c, 0); });
  EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
}

TEST(LoraErrors, ShapeMismatchAndOtherArchitectureNameTheTensor) {
  test::TempDir tmp;
  auto m = model::init_model(tiny(true, 32), 1, torch::kFloat32);
  LoraConfig c;
  c.target_modules = {"q_proj", "v_proj"};
  c.base_model_name_or_path = "tiny-32";
  save_adapter(attach_lora(m, c, 0), tmp / "a");
  auto other = model::init_model(tiny(true, 48), 1, torch::kFloat32);  // another hidden size
  auto msg = error_of([&] { load_adapter(other, tmp / "a"); });
  EXPECT_NE(msg.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight: expected [8, 48]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("got [8, 32]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tiny-32"), std::string::npos) << msg;
  EXPECT_FALSE(LoraModel(other).has_adapter("default"));  // nothing half-installed

  // A deeper model's adapter on a shallower base: unexpected modules named.
  auto deep_cfg = tiny(true, 32);
  deep_cfg.num_hidden_layers = 3;
  auto deep = model::init_model(deep_cfg, 1, torch::kFloat32);
  c.target_modules = {"model.layers.0.self_attn.q_proj", "model.layers.2.self_attn.q_proj"};
  save_adapter(attach_lora(deep, c, 0), tmp / "deep");
  msg = error_of([&] { load_adapter(m, tmp / "deep"); });
  EXPECT_NE(msg.find("base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight: module "
                     "'model.layers.2.self_attn.q_proj' is not a linear layer of this model"),
            std::string::npos)
      << msg;
  c.target_modules = {"model.layers.2.self_attn.q_proj"};
  save_adapter(attach_lora(deep, c, 0, {"only2"}), tmp / "deep2", "only2");
  msg = error_of([&] { load_adapter(m, tmp / "deep2"); });
  EXPECT_NE(msg.find("'model.layers.2.self_attn.q_proj' targets no linear layer"), std::string::npos) << msg;
}

TEST(LoraErrors, MissingAndUnexpectedTensors) {
  test::TempDir tmp;
  auto m = model::init_model(tiny(true), 1, torch::kFloat32);
  LoraConfig c;
  c.target_modules = {"q_proj"};
  auto lm = attach_lora(m, c, 0);
  save_adapter(lm, tmp / "a");
  // Drop one tensor and add a modules_to_save-style one.
  auto st = io::SafetensorsFile::open(tmp / "a" / "adapter_model.safetensors");
  io::NamedTensors t;
  for (auto& [k, info] : st->tensors())
    if (k != "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight") t.emplace_back(k, st->get(k).clone());
  st.reset();
  io::save_safetensors(tmp / "a" / "adapter_model.safetensors", t);
  auto fresh = model::init_model(tiny(true), 1, torch::kFloat32);
  auto msg = error_of([&] { load_adapter(fresh, tmp / "a"); });
  EXPECT_NE(msg.find("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight: missing"), std::string::npos)
      << msg;
  t.emplace_back("base_model.model.lm_head.weight", torch::zeros({97, 32}));
  io::save_safetensors(tmp / "a" / "adapter_model.safetensors", t);
  msg = error_of([&] { load_adapter(fresh, tmp / "a"); });
  EXPECT_NE(msg.find("base_model.model.lm_head.weight: not a LoRA tensor"), std::string::npos) << msg;
  // No adapter directory at all.
  msg = error_of([&] { load_adapter(fresh, tmp / "nothing"); });
  EXPECT_NE(msg.find("adapter_config.json is missing"), std::string::npos) << msg;
}
