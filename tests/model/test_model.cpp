#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/io/checkpoint.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/config.h"
#include "prospect/model/generate.h"
#include "prospect/model/logprobs.h"
#include "test_util.h"

using namespace prospect;
using namespace prospect::model;
using prospect::test::TempDir;
using json = nlohmann::json;

namespace {

std::filesystem::path gdir() { return prospect::test::golden_dir() / "model"; }

ModelConfig tiny_config(int64_t vocab = 300, bool tied = true) {
  auto c = ModelConfig::preset("tiny");
  c.vocab_size = vocab;
  c.tie_word_embeddings = tied;
  return c;
}

// A bigger init std than transformers' 0.02 so that attention and the head see non-trivial values.
CausalLM tiny_model(uint64_t seed = 7, bool tied = true) {
  auto c = tiny_config(300, tied);
  c.initializer_range = 0.3;
  return init_model(c, seed, torch::kFloat32);
}

torch::Tensor ids_tensor(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64).unsqueeze(0); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void copy_dir(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  for (const auto& e : std::filesystem::directory_iterator(from))
    std::filesystem::copy_file(e.path(), to / e.path().filename());
}

}  // namespace

// ------------------------------------------------------------------------------------------ config

TEST(ModelConfig, Qwen3V4AndV5Forms) {
  json v4 = {{"model_type", "qwen3"}, {"vocab_size", 151936}, {"hidden_size", 1024}, {"intermediate_size", 3072},
             {"num_hidden_layers", 28}, {"num_attention_heads", 16}, {"num_key_value_heads", 8}, {"head_dim", 128},
             {"rope_theta", 1000000}, {"rope_scaling", nullptr}, {"rms_norm_eps", 1e-06},
             {"tie_word_embeddings", true}, {"torch_dtype", "bfloat16"}, {"eos_token_id", 151645},
             {"custom_key", "kept"}};
  auto a = ModelConfig::from_json(v4);
  EXPECT_EQ(a.head_dim, 128);
  EXPECT_DOUBLE_EQ(a.rope_theta, 1e6);
  EXPECT_EQ(a.rope_scaling.type, "default");
  EXPECT_TRUE(a.qk_norm);
  EXPECT_FALSE(a.qkv_bias);
  EXPECT_EQ(a.torch_dtype, "bfloat16");
  EXPECT_EQ(a.q_width(), 2048);
  auto out = a.to_json("float32");
  EXPECT_EQ(out["custom_key"], "kept");
  EXPECT_EQ(out["torch_dtype"], "float32");
  EXPECT_EQ(out["architectures"][0], "Qwen3ForCausalLM");

  json v5 = v4;
  v5.erase("rope_theta");
  v5.erase("rope_scaling");
  v5.erase("torch_dtype");
  v5["rope_parameters"] = {{"rope_theta", 1000000.0}, {"rope_type", "default"}};
  v5["dtype"] = "bfloat16";
  v5["vocab_size"] = 151936.0;  // an int written as a float
  v5["layer_types"] = json::array();
  for (int i = 0; i < 28; ++i) v5["layer_types"].push_back("full_attention");
  auto b = ModelConfig::from_json(v5);
  EXPECT_DOUBLE_EQ(b.rope_theta, 1e6);
  EXPECT_EQ(b.vocab_size, 151936);
  EXPECT_EQ(b.torch_dtype, "bfloat16");
  auto out5 = b.to_json("float16");
  EXPECT_EQ(out5["dtype"], "float16");
  EXPECT_FALSE(out5.contains("torch_dtype"));
  EXPECT_DOUBLE_EQ(out5["rope_parameters"]["rope_theta"].get<double>(), 1e6);
  // Round trip through to_json.
  auto c = ModelConfig::from_json(out5);
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.torch_dtype, "float16");

  v5["vocab_size"] = 1.5;
  EXPECT_NE(error_of([&] { ModelConfig::from_json(v5, "x/config.json"); }).find("vocab_size"), std::string::npos);
}

TEST(ModelConfig, Qwen2AndLlamaFlags) {
  json q2 = {{"model_type", "qwen2"}, {"vocab_size", 100}, {"hidden_size", 64}, {"intermediate_size", 96},
             {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"rope_theta", 1e6}};
  auto a = ModelConfig::from_json(q2);
  EXPECT_EQ(a.head_dim, 16);  // hidden / heads when absent
  EXPECT_TRUE(a.qkv_bias);
  EXPECT_FALSE(a.o_bias);
  EXPECT_FALSE(a.qk_norm);
  EXPECT_FALSE(a.tie_word_embeddings);

  json ll = q2;
  ll["model_type"] = "llama";
  ll["attention_bias"] = true;
  ll["mlp_bias"] = true;
  ll["rope_scaling"] = {{"type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                        {"original_max_position_embeddings", 8192}};
  auto b = ModelConfig::from_json(ll);
  EXPECT_TRUE(b.qkv_bias && b.o_bias && b.mlp_bias);
  EXPECT_FALSE(b.qk_norm);
  EXPECT_EQ(b.rope_scaling.type, "llama3");
  EXPECT_EQ(b.rope_scaling.original_max_position_embeddings, 8192);
  CausalLM m(b);
  bool has_o_bias = false, has_mlp_bias = false;
  for (const auto& [n, t] : m->hf_state()) {
    has_o_bias |= n == "model.layers.0.self_attn.o_proj.bias";
    has_mlp_bias |= n == "model.layers.1.mlp.down_proj.bias";
  }
  EXPECT_TRUE(has_o_bias && has_mlp_bias);

  json bad = q2;
  bad["model_type"] = "gpt2";
  auto msg = error_of([&] { ModelConfig::from_json(bad, "m/config.json"); });
  EXPECT_NE(msg.find("m/config.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported model_type 'gpt2'"), std::string::npos) << msg;
  bad = q2;
  bad["rope_scaling"] = {{"rope_type", "longrope"}};
  EXPECT_NE(error_of([&] { ModelConfig::from_json(bad); }).find("longrope"), std::string::npos);
}

TEST(ModelConfig, PresetsMatchTheRealConfigs) {
  auto c = ModelConfig::preset("qwen3-0.6b");
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(CausalLM(c)->num_parameters(), 596049920);  // qwen3.md 1.2 (empty() does not touch memory)
  auto d = ModelConfig::preset("qwen3-1.7b");
  EXPECT_EQ(CausalLM(d)->num_parameters(), 1720574976);
  EXPECT_FALSE(ModelConfig::preset("qwen3-8b").tie_word_embeddings);
  EXPECT_EQ(ModelConfig::preset("qwen3-4b").num_hidden_layers, 36);
  auto t = ModelConfig::preset("tiny");
  EXPECT_EQ(t.vocab_size, 151936);
  EXPECT_EQ(t.q_width(), 64);
  EXPECT_THROW(ModelConfig::preset("qwen3-3b"), Error);
  auto j = c.to_json("bfloat16");
  EXPECT_EQ(j["model_type"], "qwen3");
  EXPECT_EQ(j["rope_theta"].get<double>(), 1e6);
}

TEST(Rope, InvFreqMatchesTheSpec) {
  auto c = ModelConfig::preset("qwen3-0.6b");
  auto [inv, scale] = rope_inv_freq(c, torch::kCPU);
  EXPECT_EQ(inv.size(0), 64);
  EXPECT_NEAR(inv[1].item<float>(), 0.80584f, 1e-5);
  EXPECT_NEAR(inv[3].item<float>(), 0.52330f, 1e-5);
  EXPECT_NEAR(inv[63].item<float>(), 1.2409e-6f, 1e-9);
  EXPECT_DOUBLE_EQ(scale, 1.0);
  // YaRN example of qwen3.md 2.3: factor 4, orig 32768 -> attention factor 1.138629, low 23, high 40.
  c.rope_scaling.type = "yarn";
  c.rope_scaling.factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 32768;
  auto [yinv, yscale] = rope_inv_freq(c, torch::kCPU);
  EXPECT_NEAR(yscale, 1.138629, 1e-6);
  EXPECT_NEAR(yinv[10].item<float>(), inv[10].item<float>(), 1e-9);        // below low: extrapolation
  EXPECT_NEAR(yinv[50].item<float>(), inv[50].item<float>() / 4.0, 1e-10);  // above high: interpolation
}

// ------------------------------------------------------------------------------------ golden parity

class GoldenParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenParity, F32LogprobsAndGreedy) {
  const auto name = GetParam();
  auto g = read_json_file(gdir() / "goldens.json")["models"][name];
  auto model = load_model(gdir() / name, torch::kFloat32, torch::kCPU);
  EXPECT_EQ(model->dtype(), torch::kFloat32);
  for (const auto& seq : g["sequences"]) {
    auto ids = seq["ids"].get<std::vector<int64_t>>();
    auto lp = token_logprobs(model, ids_tensor(ids))[0];
    auto expect = seq["logprobs_f32"].get<std::vector<double>>();
    ASSERT_EQ((size_t)lp.size(0), expect.size() + 1);
    EXPECT_EQ(lp[0].item<float>(), 0.0f);
    for (size_t t = 0; t < expect.size(); ++t) EXPECT_NEAR(lp[t + 1].item<double>(), expect[t], 1e-4) << name << " t=" << t;
    GenerateOptions go;
    go.max_new_tokens = 8;
    auto out = generate(model, {ids}, go);
    EXPECT_EQ(out[0], seq["greedy_f32"].get<std::vector<int64_t>>()) << name;
  }
}

// bf16 tolerance from a first-order rounding analysis, so that it holds whatever GEMM kernels
// (AVX2, AVX-512, AMX) and accumulation orders the CPU uses.
//
// Both sides use the same bf16 weights, so only the rounding of activations differs from the exact
// (fp32) result. Each rounded value carries a relative error ≤ u = 2^-8 (bf16 keeps 8 significand
// bits). In a pre-norm decoder every layer adds two sublayer outputs to the residual stream, each
// the end of at most S = 6 rounded stages (input RMSNorm, projection, q/k-norm or activation,
// attention or gating product, output projection, residual add); the embedding and the final norm
// add one each. With sublayer outputs no larger than the residual stream (true of these models and
// of pre-norm transformers generally), the final normed hidden state n carries, element-wise, a
// relative error ≤ K·u with K = 2·S·L + 2, to first order. A logit z_j = Σ_i W_ji·n_i is then off by
// ≤ K·u·Σ_i|W_ji·n_i| + u·|z_j| (its own rounding). A log-softmax value moves by at most twice the
// largest logit error (∂ log p_t / ∂z = e_t − p has ℓ1 norm ≤ 2). Hence, per token t,
//     |lp_bf16 − lp_f32| ≤ B_t = 2·u·(K·A_t + max_j |z_tj|),   A_t = max_j Σ_i |W_ji·n_ti|,
// with n, z from an fp32 run of the same weights. It scales with depth (K) and with the magnitude
// of the products that are rounded (A_t); the reference implementation's own bf16 run must satisfy
// it too, which checks the analysis against an independent implementation.
TEST_P(GoldenParity, Bf16LogprobsWithinTheRoundingBound) {
  const auto name = GetParam();
  auto g = read_json_file(gdir() / "goldens.json")["models"][name];
  if (g["storage"] != "bfloat16") GTEST_SKIP() << "f32-stored model";
  auto model = load_model(gdir() / name, torch::kBFloat16, torch::kCPU);
  auto exact = load_model(gdir() / name, torch::kFloat32, torch::kCPU);
  EXPECT_EQ(model->dtype(), torch::kBFloat16);
  const double u = std::ldexp(1.0, -8);
  const double K = 2.0 * 6.0 * (double)exact->config().num_hidden_layers + 2.0;
  torch::NoGradGuard ng;
  const auto W = exact->lm_head_weight().abs();  // [V, E]
  double worst_ratio = 0, worst_ref_ratio = 0;
  for (const auto& seq : g["sequences"]) {
    auto ids = seq["ids"].get<std::vector<int64_t>>();
    auto n = exact->forward(ids_tensor(ids))[0];  // [T, E] final normed hidden, fp32
    auto A = torch::matmul(n.abs(), W.t()).amax(-1);           // [T]
    auto zmax = exact->logits(n).abs().amax(-1);               // [T]
    auto bound = ((A * K + zmax) * (2.0 * u)).to(torch::kFloat64);
    auto lp = token_logprobs(model, ids_tensor(ids))[0].to(torch::kFloat64);
    auto f32 = seq["logprobs_f32"].get<std::vector<double>>();
    auto ref = seq["logprobs_bf16"].get<std::vector<double>>();
    for (size_t t = 0; t < f32.size(); ++t) {
      // lp[t + 1] predicts ids[t + 1] from the hidden state at position t.
      const double b = bound[(int64_t)t].item<double>();
      const double ours = std::abs(lp[(int64_t)t + 1].item<double>() - f32[t]);
      const double theirs = std::abs(ref[t] - f32[t]);
      EXPECT_LE(ours, b) << name << " t=" << t;
      EXPECT_LE(theirs, b) << name << " t=" << t << " (the reference's own bf16 run)";
      worst_ratio = std::max(worst_ratio, ours / b);
      worst_ref_ratio = std::max(worst_ref_ratio, theirs / b);
    }
  }
  std::cout << name << ": worst error / bound = " << worst_ratio << " (reference bf16: " << worst_ref_ratio << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenParity, ::testing::Values("qwen3_tied", "qwen3_untied", "qwen2", "llama"));

// ------------------------------------------------------------------------------------------ loading

TEST(LoadModel, StrayLmHeadIgnoredWhenTiedAndWeightsFrozen) {
  auto model = load_model(gdir() / "qwen3_tied", torch::kFloat32, torch::kCPU);
  auto store = io::TensorStore::open(gdir() / "qwen3_tied");
  ASSERT_TRUE(store.contains("lm_head.weight"));
  EXPECT_TRUE(torch::equal(model->lm_head_weight(), store.get("model.embed_tokens.weight")));
  for (const auto& p : model->parameters()) EXPECT_FALSE(p.requires_grad());
  EXPECT_EQ(model->named_parameters().size(), model->hf_state().size());
  EXPECT_TRUE(model->named_parameters().contains("model.embed_tokens.weight"));
  EXPECT_TRUE(model->named_parameters().contains("model.layers.1.self_attn.q_norm.weight"));
  EXPECT_EQ(model->named_linears().size(), 14u);
  EXPECT_EQ(model->named_linears()[0].first, "model.layers.0.self_attn.q_proj");
}

TEST(LoadModel, OneErrorListsMissingUnexpectedAndMisshaped) {
  TempDir tmp;
  const auto dir = tmp / "m";
  copy_dir(gdir() / "qwen3_untied", dir);
  auto store = io::TensorStore::open(dir);
  io::NamedTensors ts;
  for (const auto& n : store.names()) {
    if (n == "model.layers.1.mlp.up_proj.weight") continue;  // missing
    auto t = store.get(n).clone();
    if (n == "model.norm.weight") t = torch::ones({63}, t.options());  // mis-shaped
    ts.emplace_back(n, t);
  }
  ts.emplace_back("model.layers.0.self_attn.extra.weight", torch::ones({2}));  // unexpected
  io::save_checkpoint(dir, ts);
  auto msg = error_of([&] { load_model(dir, torch::kFloat32, torch::kCPU); });
  EXPECT_NE(msg.find(dir.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing 1: model.layers.1.mlp.up_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected 1: model.layers.0.self_attn.extra.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.norm.weight [63] (expected [64])"), std::string::npos) << msg;
}

TEST(LoadModel, MissingLmHeadWhenUntiedAndMissingConfig) {
  TempDir tmp;
  const auto dir = tmp / "m";
  copy_dir(gdir() / "qwen3_tied", dir);
  auto cfg = read_json_file(dir / "config.json");
  cfg["tie_word_embeddings"] = false;
  write_json_file_atomic(dir / "config.json", cfg);
  // The stray head is now required and present: loads.
  EXPECT_NO_THROW(load_model(dir, torch::kFloat32, torch::kCPU));
  std::filesystem::remove(dir / "config.json");
  EXPECT_NE(error_of([&] { load_model(dir, torch::kFloat32, torch::kCPU); }).find("config.json"), std::string::npos);
}

TEST(LoadModel, DtypesAndSaveRoundTrip) {
  TempDir tmp;
  auto model = tiny_model(3, /*tied=*/false);
  auto ids = ids_tensor({1, 5, 9, 33, 200, 17});
  auto ref = token_logprobs(model, ids);
  save_model(model, tmp.path(), torch::kFloat32);
  auto cfg = read_json_file(tmp / "config.json");
  EXPECT_EQ(cfg["torch_dtype"], "float32");
  EXPECT_EQ(cfg["model_type"], "qwen3");
  EXPECT_EQ(cfg["architectures"][0], "Qwen3ForCausalLM");
  EXPECT_EQ(read_json_file(tmp / "generation_config.json")["eos_token_id"], json::array({151645, 151643}));
  EXPECT_EQ(generation_eos_ids(tmp.path()), (std::vector<int64_t>{151645, 151643}));
  auto back = load_model(tmp.path(), torch::kFloat32, torch::kCPU);
  EXPECT_TRUE(torch::equal(token_logprobs(back, ids), ref));
  auto mb = load_model(tmp.path(), torch::kBFloat16, torch::kCPU);
  EXPECT_EQ(mb->dtype(), torch::kBFloat16);
  EXPECT_LT((token_logprobs(mb, ids) - ref).abs().max().item<float>(), 0.1);
  auto mh = load_model(tmp.path(), torch::kFloat16, torch::kCPU);
  EXPECT_EQ(mh->dtype(), torch::kFloat16);
  EXPECT_TRUE(torch::equal(mh->model->norm->weight, model->model->norm->weight.to(torch::kFloat16)));
  // bf16 on disk, sharded.
  TempDir tmp2;
  save_model(model, tmp2.path(), torch::kBFloat16, nullptr, /*max_shard_bytes=*/20000);
  EXPECT_TRUE(std::filesystem::exists(tmp2 / "model.safetensors.index.json"));
  EXPECT_EQ(read_json_file(tmp2 / "config.json")["torch_dtype"], "bfloat16");
  auto m2 = load_model(tmp2.path(), torch::kFloat32, torch::kCPU);
  EXPECT_TRUE(torch::equal(m2->lm_head_weight(), model->lm_head_weight().to(torch::kBFloat16).to(torch::kFloat32)));
}

TEST(InitModel, SeededLikeTransformers) {
  auto c = tiny_config(1000);
  auto a = init_model(c, 42, torch::kFloat32), b = init_model(c, 42, torch::kFloat32), d = init_model(c, 43, torch::kFloat32);
  auto sa = a->hf_state(), sb = b->hf_state(), sd = d->hf_state();
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  EXPECT_FALSE(torch::equal(sa[0].second, sd[0].second));
  auto emb = a->model->embed_tokens;
  EXPECT_NEAR(emb.std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(emb.mean().item<double>(), 0.0, 0.001);
  EXPECT_TRUE(torch::equal(a->model->norm->weight, torch::ones({64})));
  EXPECT_EQ(init_model(c, 1, torch::kBFloat16)->dtype(), torch::kBFloat16);
}

// ------------------------------------------------------------------------------- forward invariants

TEST(Forward, KVCacheIncrementalEqualsFullForward) {
  auto model = tiny_model();
  std::vector<int64_t> v{3, 14, 15, 92, 65, 35, 89, 79, 32, 38};
  auto ids = ids_tensor(v);
  torch::NoGradGuard ng;
  auto full = model->forward(ids);  // [1, 10, E]
  KVCache cache;
  ForwardOptions fo;
  fo.cache = &cache;
  std::vector<torch::Tensor> parts{model->forward(ids.slice(1, 0, 4), fo)};      // prefill 4
  parts.push_back(model->forward(ids.slice(1, 4, 7), fo));                       // chunk of 3 on a cache
  for (int t = 7; t < 10; ++t) parts.push_back(model->forward(ids.slice(1, t, t + 1), fo));  // decode
  EXPECT_EQ(cache.length(), 10);
  auto inc = torch::cat(parts, 1);
  EXPECT_LT((inc - full).abs().max().item<float>(), 1e-5);
}

TEST(Forward, RightPaddedBatchEqualsSingles) {
  auto model = tiny_model(11);
  std::vector<std::vector<int64_t>> seqs{{5, 6, 7, 8, 9, 10, 11}, {40, 41, 42}, {100, 3, 200, 7, 1}};
  const int64_t T = 7, B = 3;
  auto ids = torch::zeros({B, T}, torch::kInt64), mask = torch::zeros({B, T}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b)
    for (size_t t = 0; t < seqs[b].size(); ++t) ids[b][t] = seqs[b][t], mask[b][t] = 1;
  auto batch = token_logprobs(model, ids, mask);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = (int64_t)seqs[b].size();
    auto single = token_logprobs(model, ids_tensor(seqs[b]))[0];
    EXPECT_LT((batch[b].slice(0, 0, n) - single).abs().max().item<float>(), 1e-5) << b;
    EXPECT_EQ(batch[b].slice(0, n).abs().sum().item<float>(), 0.0f);  // padded positions are 0
  }
  // sequence_logprobs: completion = last 2 tokens of each row.
  auto comp = torch::zeros({B, T}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b) comp[b].slice(0, (int64_t)seqs[b].size() - 2, (int64_t)seqs[b].size()).fill_(1);
  auto s = sequence_logprobs(model, ids, mask, comp);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = (int64_t)seqs[b].size();
    EXPECT_NEAR(s.sum[b].item<float>(), batch[b].slice(0, n - 2, n).sum().item<float>(), 1e-4);
    EXPECT_EQ(s.count[b].item<int64_t>(), 2);
  }
}

TEST(Forward, LeftPaddedMaskAndPositionsEqualSingles) {
  // Left padding needs the explicit mask path (not covered by causality) and shifted positions.
  auto model = tiny_model(12);
  std::vector<int64_t> a{9, 8, 7, 6, 5}, b{50, 60};
  auto ids = torch::tensor({9, 8, 7, 6, 5, 0, 0, 0, 50, 60}, torch::kInt64).view({2, 5});
  auto mask = torch::tensor({1, 1, 1, 1, 1, 0, 0, 0, 1, 1}, torch::kInt64).view({2, 5});
  ForwardOptions fo;
  fo.attention_mask = mask;
  fo.position_ids = (mask.cumsum(1) - 1).clamp_min(0);
  torch::NoGradGuard ng;
  auto h = model->forward(ids, fo);
  auto ha = model->forward(ids_tensor(a)), hb = model->forward(ids_tensor(b));
  EXPECT_LT((h[0] - ha[0]).abs().max().item<float>(), 1e-5);
  EXPECT_LT((h[1].slice(0, 3) - hb[0]).abs().max().item<float>(), 1e-5);
  // Scoring a left-padded batch: pads and the first real token (predicted from a pad) are 0.
  auto lp = token_logprobs(model, ids, mask, fo.position_ids);
  EXPECT_EQ(lp[1].slice(0, 0, 4).abs().sum().item<float>(), 0.0f);
  EXPECT_LT((lp[1][4] - token_logprobs(model, ids_tensor(b))[0][1]).abs().item<float>(), 1e-5);
  // Batched generation (left padded internally) equals one prompt at a time.
  GenerateOptions go;
  go.max_new_tokens = 6;
  auto both = generate(model, {a, b}, go);
  EXPECT_EQ(both[0], generate(model, {a}, go)[0]);
  EXPECT_EQ(both[1], generate(model, {b}, go)[0]);
}

TEST(Generate, StopsAtEosAndSamplesReproducibly) {
  auto model = tiny_model(13);
  std::vector<int64_t> prompt{1, 2, 3};
  GenerateOptions go;
  go.max_new_tokens = 10;
  auto greedy = generate(model, {prompt}, go)[0];
  ASSERT_EQ(greedy.size(), 10u);
  go.eos_ids = {greedy[2]};
  auto stopped = generate(model, {prompt}, go)[0];
  const auto first = std::find(greedy.begin(), greedy.end(), greedy[2]) - greedy.begin();
  EXPECT_EQ(stopped, std::vector<int64_t>(greedy.begin(), greedy.begin() + first + 1));
  // Greedy equals argmax of a full forward at each step.
  std::vector<int64_t> seq = prompt;
  for (int i = 0; i < 4; ++i) {
    torch::NoGradGuard ng;
    auto h = model->forward(ids_tensor(seq));
    seq.push_back(model->logits(h[0][-1]).argmax().item<int64_t>());
  }
  EXPECT_EQ(std::vector<int64_t>(seq.begin() + 3, seq.end()), std::vector<int64_t>(greedy.begin(), greedy.begin() + 4));
  GenerateOptions s;
  s.max_new_tokens = 8;
  s.temperature = 1.0;
  s.top_k = 50;
  s.top_p = 0.9;
  s.seed = 5;
  EXPECT_EQ(generate(model, {prompt}, s), generate(model, {prompt}, s));
}

TEST(Generate, TopKAndTopPFilters) {
  auto logits = torch::log(torch::tensor({{0.5f, 0.3f, 0.15f, 0.05f}}));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  GenerateOptions k1;
  k1.temperature = 1.0;
  k1.top_k = 1;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sample_next(logits, k1, gen).item<int64_t>(), 0);
  GenerateOptions p;
  p.temperature = 1.0;
  p.top_p = 0.75;  // keeps {0.5, 0.3}: 0.15 and 0.05 lie in the bottom 0.25
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(sample_next(logits, p, gen).item<int64_t>());
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1}));
}

// ----------------------------------------------------------------------------------- log-probs

TEST(Logprobs, ChunkedMatchesReferenceValuesAndGrads) {
  torch::manual_seed(0);
  for (auto dt : {torch::kFloat32, torch::kFloat64}) {
    auto h0 = torch::randn({13, 8}, dt), w0 = torch::randn({37, 8}, dt);
    auto tg = torch::randint(0, 37, {13}, torch::kInt64);
    auto h1 = h0.clone().requires_grad_(true), w1 = w0.clone().requires_grad_(true);
    auto h2 = h0.clone().requires_grad_(true), w2 = w0.clone().requires_grad_(true);
    auto fast = selected_logprobs(h1, w1, tg, /*chunk=*/4);
    auto ref = selected_logprobs_reference(h2, w2, tg);
    EXPECT_EQ(fast.scalar_type(), torch::kFloat32);
    EXPECT_LT((fast - ref).abs().max().item<float>(), 1e-5);
    auto gw = torch::randn({13});
    (fast * gw).sum().backward();
    (ref * gw).sum().backward();
    EXPECT_LT((h1.grad() - h2.grad()).abs().max().item<double>(), 1e-5);
    EXPECT_LT((w1.grad() - w2.grad()).abs().max().item<double>(), 1e-5);
  }
  // Gradient only w.r.t. hidden (the frozen head case), and an empty selection.
  auto h = torch::randn({5, 8}).requires_grad_(true);
  auto w = torch::randn({11, 8});
  selected_logprobs(h, w, torch::randint(0, 11, {5}, torch::kInt64), 2).sum().backward();
  EXPECT_TRUE(h.grad().defined());
  EXPECT_EQ(selected_logprobs(torch::zeros({0, 8}), w, torch::zeros({0}, torch::kInt64)).size(0), 0);
}

namespace {
// A LoRA-like adapter (x A^T B^T) to test that gradients reach adapter weights through checkpointing.
struct TestAdapter : LinearAdapter {
  torch::Tensor A, B;
  TestAdapter(int64_t in, int64_t out, int seed) {
    torch::manual_seed(seed);
    A = (torch::randn({2, in}) * 0.1).requires_grad_(true);
    B = (torch::randn({out, 2}) * 0.1).requires_grad_(true);
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& base, const torch::Tensor&) override {
    return base + torch::matmul(torch::matmul(x, A.t()), B.t());
  }
};
}  // namespace

TEST(Logprobs, GradientCheckpointingMatches) {
  auto model = tiny_model(21);
  std::vector<std::shared_ptr<TestAdapter>> adapters;
  int seed = 0;
  for (auto& [name, lin] : model->named_linears()) {
    auto a = std::make_shared<TestAdapter>(lin->in_features, lin->out_features, seed++);
    lin->adapter = a;
    adapters.push_back(a);
  }
  auto ids = torch::tensor({{4, 8, 15, 16, 23, 42}, {7, 7, 9, 0, 0, 0}}, torch::kInt64);
  auto mask = torch::tensor({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}}, torch::kInt64);
  auto comp = torch::tensor({{0, 0, 1, 1, 1, 1}, {0, 1, 1, 0, 0, 0}}, torch::kInt64);
  auto run = [&](bool gc) {
    for (auto& a : adapters) {
      if (a->A.grad().defined()) a->A.grad().zero_();
      if (a->B.grad().defined()) a->B.grad().zero_();
    }
    auto s = sequence_logprobs(model, ids, mask, comp, gc);
    (s.sum * torch::tensor({1.0f, -2.0f})).sum().backward();
    std::vector<torch::Tensor> g;
    for (auto& a : adapters) g.push_back(a->B.grad().clone()), g.push_back(a->A.grad().clone());
    return std::make_pair(s.sum.detach(), g);
  };
  auto [v0, g0] = run(false);
  auto [v1, g1] = run(true);
  EXPECT_LT((v0 - v1).abs().max().item<float>(), 1e-6);
  double gmax = 0;
  for (size_t i = 0; i < g0.size(); ++i) {
    EXPECT_LT((g0[i] - g1[i]).abs().max().item<float>(), 1e-5) << i;
    gmax = std::max(gmax, g0[i].abs().max().item<double>());
  }
  EXPECT_GT(gmax, 0.0);  // gradients actually flowed

  // With adapters disabled the model is the base model again.
  torch::Tensor base_lp;
  {
    AdaptersDisabled off;
    EXPECT_TRUE(AdaptersDisabled::active());
    base_lp = token_logprobs(model, ids, mask);
  }
  EXPECT_FALSE(AdaptersDisabled::active());
  for (auto& [name, lin] : model->named_linears()) lin->adapter.reset();
  EXPECT_TRUE(torch::equal(base_lp, token_logprobs(model, ids, mask)));
}
