#include "prospect/model/causal_lm.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>

#include "prospect/core/compat.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/model/generate.h"

namespace prospect::model {

namespace {

// A module holding one parameter named "weight" (so that the embedding and the LM head get the HF
// names "model.embed_tokens.weight" and "lm_head.weight").
struct WeightHolderImpl : torch::nn::Module {
  explicit WeightHolderImpl(std::vector<int64_t> shape) { weight = register_parameter("weight", torch::empty(shape)); }
  torch::Tensor weight;
};
TORCH_MODULE(WeightHolder);

double dtype_lowest(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return (double)std::numeric_limits<float>::lowest();
    case torch::kBFloat16: return (double)(float)std::numeric_limits<c10::BFloat16>::lowest();
    case torch::kFloat16: return (double)(float)std::numeric_limits<c10::Half>::lowest();
    case torch::kFloat64: return std::numeric_limits<double>::lowest();
    default: throw Error("model", std::string("unsupported model dtype ") + c10::toString(t));
  }
}

torch::Tensor rotate_half(const torch::Tensor& t) {  // [.., D]
  const int64_t h = t.size(-1) / 2;
  return torch::cat({-t.slice(-1, h), t.slice(-1, 0, h)}, -1);
}

torch::Tensor apply_rope(const torch::Tensor& t, const RopeTables& r) {  // t [B, heads, T, D]
  return t * r.cos + rotate_half(t) * r.sin;
}

// Additive mask [B, 1, T, P+T]: query at absolute position P+t may see key j iff j <= P+t and key j is
// not padding. Disallowed entries get finfo(dtype).min (not -inf: fully masked rows stay finite).
torch::Tensor build_mask(const torch::Tensor& attention_mask, int64_t P, int64_t T, torch::ScalarType dtype,
                         torch::Device device) {
  const int64_t K = P + T;
  auto bool_opts = torch::TensorOptions().dtype(torch::kBool).device(device);
  auto causal = torch::ones({T, K}, bool_opts).tril(P);  // [T, K]
  auto allowed = causal.unsqueeze(0);                    // [1, T, K]
  if (attention_mask.defined()) allowed = allowed & (attention_mask.to(device) != 0).unsqueeze(1);  // [B, T, K]
  auto mask = torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(dtype).device(device));
  mask.masked_fill_(allowed.logical_not(), dtype_lowest(dtype));
  return mask.unsqueeze(1);  // [B|1, 1, T, K]
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

std::string join_limited(const std::vector<std::string>& v, size_t limit = 24) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < limit; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > limit) out += ", ... (" + std::to_string(v.size() - limit) + " more)";
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- RoPE

std::pair<torch::Tensor, double> rope_inv_freq(const ModelConfig& c, torch::Device device) {
  const int64_t D = c.head_dim;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  // As transformers: int64 arange converted to fp32, divided by D, theta ** that in fp32.
  auto expo = torch::arange(0, D, 2, torch::TensorOptions().dtype(torch::kInt64).device(device)).to(torch::kFloat32) /
              (double)D;                                       // [D/2]
  auto pos_freq = torch::pow(c.rope_theta, expo);              // [D/2]
  auto inv = 1.0 / pos_freq;                                   // [D/2]
  const auto& rs = c.rope_scaling;
  double attention_scaling = 1.0;
  if (rs.type == "linear") {
    inv = inv / rs.factor;
  } else if (rs.type == "llama3") {
    const double old_ctx = (double)rs.original_max_position_embeddings;
    const double low_wl = old_ctx / rs.low_freq_factor, high_wl = old_ctx / rs.high_freq_factor;
    auto wavelen = 2 * M_PI / inv;
    auto inv_l = torch::where(wavelen > low_wl, inv / rs.factor, inv);
    auto smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    auto smoothed = (1 - smooth) * inv_l / rs.factor + smooth * inv_l;
    auto medium = (wavelen < high_wl).logical_not() & (wavelen > low_wl).logical_not();
    inv = torch::where(medium, smoothed, inv_l);
  } else if (rs.type == "yarn") {
    auto get_mscale = [](double s, double m) { return s <= 1 ? 1.0 : 0.1 * m * std::log(s) + 1.0; };
    if (rs.attention_factor) attention_scaling = *rs.attention_factor;
    else if (rs.mscale && rs.mscale_all_dim && *rs.mscale != 0 && *rs.mscale_all_dim != 0)
      attention_scaling = get_mscale(rs.factor, *rs.mscale) / get_mscale(rs.factor, *rs.mscale_all_dim);
    else attention_scaling = get_mscale(rs.factor, 1.0);
    const double beta_fast = rs.beta_fast ? *rs.beta_fast : 32.0, beta_slow = rs.beta_slow ? *rs.beta_slow : 1.0;
    const double orig = (double)(rs.original_max_position_embeddings > 0 ? rs.original_max_position_embeddings
                                                                         : c.max_position_embeddings);
    auto corr_dim = [&](double n) { return (D * std::log(orig / (n * 2 * M_PI))) / (2 * std::log(c.rope_theta)); };
    double low = corr_dim(beta_fast), high = corr_dim(beta_slow);
    if (rs.truncate) low = std::floor(low), high = std::ceil(high);
    low = std::max(low, 0.0);
    high = std::min(high, (double)(D - 1));
    if (low == high) high += 0.001;
    auto ramp = ((torch::arange(D / 2, f32) - low) / (high - low)).clamp(0, 1);  // [D/2]
    auto extrap_w = 1 - ramp;
    auto inv_interp = 1.0 / (rs.factor * pos_freq);
    inv = inv_interp * (1 - extrap_w) + inv * extrap_w;
  }
  return {inv.contiguous(), attention_scaling};
}

RopeTables rope_tables(const ModelConfig& c, const torch::Tensor& position_ids, torch::ScalarType dtype) {
  auto [inv, scale] = rope_inv_freq(c, position_ids.device());
  auto freqs = position_ids.to(torch::kFloat32).unsqueeze(-1) * inv;  // [B, T, D/2] fp32
  auto emb = torch::cat({freqs, freqs}, -1);                          // [B, T, D]
  auto cos = emb.cos(), sin = emb.sin();
  if (scale != 1.0) cos = cos * scale, sin = sin * scale;
  return {cos.to(dtype).unsqueeze(1), sin.to(dtype).unsqueeze(1)};  // [B, 1, T, D]
}

// ------------------------------------------------------------------------------------------ modules

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) { weight = register_parameter("weight", torch::ones({dim})); }

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  const auto in_dtype = x.scalar_type();
  auto xf = x.to(torch::kFloat32);
  auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
  auto y = xf * torch::rsqrt(var + eps);
  return weight * y.to(in_dtype);  // cast back first, then the weight multiply (rounded to dt)
}

AttentionImpl::AttentionImpl(const ModelConfig& c)
    : H(c.num_attention_heads), Hkv(c.num_key_value_heads), D(c.head_dim), scaling(std::pow((double)c.head_dim, -0.5)) {
  const int64_t E = c.hidden_size;
  q_proj = register_module("q_proj", Linear(E, H * D, c.qkv_bias));
  k_proj = register_module("k_proj", Linear(E, Hkv * D, c.qkv_bias));
  v_proj = register_module("v_proj", Linear(E, Hkv * D, c.qkv_bias));
  o_proj = register_module("o_proj", Linear(H * D, E, c.o_bias));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(D, c.rms_norm_eps));
    k_norm = register_module("k_norm", RMSNorm(D, c.rms_norm_eps));
  }
}

std::pair<torch::Tensor, torch::Tensor> KVCache::append(size_t layer, const torch::Tensor& k_new,
                                                        const torch::Tensor& v_new) {
  if (k.size() <= layer) k.resize(layer + 1), v.resize(layer + 1), k_buf.resize(layer + 1), v_buf.resize(layer + 1);
  const int64_t P = k[layer].defined() ? k[layer].size(2) : 0, T = k_new.size(2), need = P + T;
  auto& kb = k_buf[layer];
  auto& vb = v_buf[layer];
  if (!kb.defined() || kb.size(2) < need || kb.size(0) != k_new.size(0)) {
    const int64_t cap = std::max<int64_t>(need, std::max<int64_t>(256, kb.defined() ? 2 * kb.size(2) : 0));
    auto sizes = k_new.sizes().vec();
    sizes[2] = cap;
    auto nk = torch::empty(sizes, k_new.options()), nv = torch::empty(sizes, v_new.options());
    if (P > 0) {
      nk.narrow(2, 0, P).copy_(k[layer]);
      nv.narrow(2, 0, P).copy_(v[layer]);
    }
    kb = nk;
    vb = nv;
  }
  kb.narrow(2, P, T).copy_(k_new);
  vb.narrow(2, P, T).copy_(v_new);
  k[layer] = kb.narrow(2, 0, need);
  v[layer] = vb.narrow(2, 0, need);
  return {k[layer], v[layer]};
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionContext& ctx, KVCache* cache,
                                     size_t layer) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = q_proj(x).view({B, T, H, D});    // [B, T, H, D]
  auto k = k_proj(x).view({B, T, Hkv, D});  // [B, T, Hkv, D]
  auto v = v_proj(x).view({B, T, Hkv, D});
  if (!q_norm.is_empty()) {
    q = q_norm(q);
    k = k_norm(k);
  }
  q = apply_rope(q.transpose(1, 2), ctx.rope);  // [B, H, T, D]
  k = apply_rope(k.transpose(1, 2), ctx.rope);  // [B, Hkv, T, D]
  v = v.transpose(1, 2);                        // [B, Hkv, T, D]
  if (ctx.capture) {
    auto& c = *ctx.capture;
    if (c.k.size() <= layer) c.k.resize(layer + 1), c.v.resize(layer + 1);
    c.k[layer] = k.narrow(2, 0, ctx.capture_len).detach().contiguous();  // [B, Hkv, S, D]
    c.v[layer] = v.narrow(2, 0, ctx.capture_len).detach().contiguous();
  }
  if (cache) {
    std::tie(k, v) = cache->append(layer, k, v);  // [B, Hkv, P+T, D]
  } else if (ctx.prefix) {
    k = torch::cat({ctx.prefix->k[layer], k}, 2);  // [B, Hkv, P+T, D]
    v = torch::cat({ctx.prefix->v[layer], v}, 2);
  }
  const int64_t S = k.size(2), n_rep = H / Hkv;
  torch::Tensor o;
  if (n_rep > 1 && T == 1 && !ctx.is_causal) {
    // Decode step: fold the n_rep query heads of each kv head into the query axis instead of
    // materialising repeat_kv (a copy of the whole cache per step). The mask ([B, 1, 1, S] or none)
    // is the same for every row.
    auto qf = q.reshape({B, Hkv, n_rep, D});
    o = compat::sdpa(qf, k, v, ctx.mask, false, scaling).reshape({B, H, 1, D});  // [B, H, 1, D]
  } else {
    if (n_rep > 1) {  // repeat_kv: q head h uses kv head h / n_rep
      k = k.unsqueeze(2).expand({B, Hkv, n_rep, S, D}).reshape({B, H, S, D});
      v = v.unsqueeze(2).expand({B, Hkv, n_rep, S, D}).reshape({B, H, S, D});
    }
    o = compat::sdpa(q, k, v, ctx.mask, ctx.is_causal, scaling);  // [B, H, T, D]
  }
  return o_proj(o.transpose(1, 2).reshape({B, T, H * D}));  // [B, T, E]
}

MLPImpl::MLPImpl(const ModelConfig& c) {
  const int64_t E = c.hidden_size, F = c.intermediate_size;
  gate_proj = register_module("gate_proj", Linear(E, F, c.mlp_bias));
  up_proj = register_module("up_proj", Linear(E, F, c.mlp_bias));
  down_proj = register_module("down_proj", Linear(F, E, c.mlp_bias));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  self_attn = register_module("self_attn", Attention(c));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  mlp = register_module("mlp", MLP(c));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const AttentionContext& ctx, KVCache* cache,
                                        size_t layer) {
  auto h = x + self_attn->forward(input_layernorm(x), ctx, cache, layer);
  return h + mlp(post_attention_layernorm(h));
}

BackboneImpl::BackboneImpl(const ModelConfig& c) {
  auto holder = register_module("embed_tokens", WeightHolder(std::vector<int64_t>{c.vocab_size, c.hidden_size}));
  embed_tokens = holder->weight;
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

// ------------------------------------------------------------------------------ gradient checkpoint

namespace {

// Runs one decoder layer without keeping its activations; backward recomputes the layer with grad
// enabled and back-propagates through the recomputation (the "reentrant" scheme of
// torch.utils.checkpoint): gradients of trainable leaves inside the layer (LoRA weights) are
// accumulated into their .grad, and the input gradient is returned.
// The default generator's state is saved before the forward and restored for the recomputation (as
// torch.utils.checkpoint's preserve_rng_state), so that LoRA dropout draws the same masks twice and
// the gradient is the gradient of the forward that produced the loss.
struct LayerCheckpoint : public torch::autograd::Function<LayerCheckpoint> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                                                torch::Tensor anchor, DecoderLayerImpl* layer,
                                                const AttentionContext* actx, int64_t index) {
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["index"] = index;
    {
      auto gen = at::globalContext().defaultGenerator(x.device());
      std::lock_guard<std::mutex> lock(gen.mutex());
      ctx->saved_data["rng"] = gen.get_state();
    }
    ctx->saved_data["cos"] = actx->rope.cos;
    ctx->saved_data["sin"] = actx->rope.sin;
    ctx->saved_data["has_mask"] = actx->mask.defined();
    if (actx->mask.defined()) ctx->saved_data["mask"] = actx->mask;
    ctx->saved_data["is_causal"] = actx->is_causal;
    ctx->saved_data["adapters_disabled"] = AdaptersDisabled::active();
    ctx->save_for_backward({x});
    return {layer->forward(x, *actx, nullptr, (size_t)index)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto x = ctx->get_saved_variables()[0];
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    AttentionContext actx;
    actx.rope.cos = ctx->saved_data["cos"].toTensor();
    actx.rope.sin = ctx->saved_data["sin"].toTensor();
    if (ctx->saved_data["has_mask"].toBool()) actx.mask = ctx->saved_data["mask"].toTensor();
    actx.is_causal = ctx->saved_data["is_causal"].toBool();
    const size_t index = (size_t)ctx->saved_data["index"].toInt();
    const bool prev = AdaptersDisabled::set_active(ctx->saved_data["adapters_disabled"].toBool());
    auto gen = at::globalContext().defaultGenerator(x.device());
    torch::Tensor rng_now;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      rng_now = gen.get_state();
      gen.set_state(ctx->saved_data["rng"].toTensor());
    }
    auto restore = [&] {
      AdaptersDisabled::set_active(prev);
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng_now);
    };
    torch::Tensor gx;
    try {
      torch::AutoGradMode enable(true);
      auto xd = x.detach().requires_grad_(true);
      auto out = layer->forward(xd, actx, nullptr, index);
      torch::autograd::backward({out}, {grad_out[0]});
      gx = xd.grad();
    } catch (...) {
      restore();
      throw;
    }
    restore();
    return {gx, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

// ------------------------------------------------------------------------------------------ CausalLM

CausalLMImpl::CausalLMImpl(const ModelConfig& config) : config_(config) {
  model = register_module("model", Backbone(config));
  if (!config.tie_word_embeddings) {
    auto holder = register_module("lm_head", WeightHolder(std::vector<int64_t>{config.vocab_size, config.hidden_size}));
    lm_head = holder->weight;
  }
}

torch::Tensor CausalLMImpl::lm_head_weight() const {
  return config_.tie_word_embeddings ? model->embed_tokens : lm_head;
}

torch::Tensor CausalLMImpl::logits(const torch::Tensor& hidden) {
  return torch::nn::functional::linear(hidden, lm_head_weight());  // [.., V]
}

torch::ScalarType CausalLMImpl::dtype() const { return model->embed_tokens.scalar_type(); }
torch::Device CausalLMImpl::device() const { return model->embed_tokens.device(); }

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids, const ForwardOptions& opts) {
  check(input_ids.dim() == 2, "forward", "input_ids must be [B, T]");
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const auto dev = device();
  const auto dt = dtype();
#if !PROSPECT_TORCH_AT_LEAST(2, 0)
  check(!(dt == torch::kFloat16 && dev.is_cpu()), "forward",
        "float16 matmuls are not implemented on CPU in this LibTorch; use f32 or bf16 on CPU");
#endif
  check(!(opts.cache && opts.prefix), "forward", "a KV cache and a read-only prefix are exclusive");
  const int64_t P = opts.cache ? opts.cache->length() : opts.prefix ? opts.prefix->length() : 0;
  check(!opts.capture || (opts.capture_len >= 0 && opts.capture_len <= T), "forward",
        "capture_len must be in [0, T]");
  auto ids = input_ids.to(dev, torch::kInt64);
  auto x = torch::embedding(model->embed_tokens, ids);  // [B, T, E]

  torch::Tensor pos = opts.position_ids.defined()
                          ? opts.position_ids.to(dev)
                          : torch::arange(P, P + T, torch::TensorOptions().dtype(torch::kInt64).device(dev))
                                .unsqueeze(0)
                                .expand({B, T});  // [B, T]
  AttentionContext ctx;
  ctx.rope = rope_tables(config_, pos, dt);
  ctx.prefix = opts.prefix;
  ctx.capture = opts.capture;
  ctx.capture_len = opts.capture_len;

  // The padding mask matters only if some key is padding and a real query could see it: right
  // padding with no past is fully handled by causality (keys after a real query are never seen), so
  // it takes the plain causal path (bitwise the same for real positions, and fused kernels on 2.x).
  bool need_mask = false;
  torch::Tensor am;
  if (opts.attention_mask.defined()) {
    am = opts.attention_mask.to(dev);
    check(am.dim() == 2 && am.size(0) == B && am.size(1) == P + T, "forward",
          "attention_mask must be [B, P+T] = [" + std::to_string(B) + ", " + std::to_string(P + T) + "]");
    const bool has_pad = (am == 0).any().item<bool>();
    if (has_pad) {
      const bool right_padded = P == 0 && (T < 2 || !(am.slice(1, 1) > am.slice(1, 0, -1)).any().item<bool>());
      need_mask = !right_padded;
    }
  }
  if (need_mask) {
    ctx.mask = build_mask(am, P, T, dt, dev);
    ctx.is_causal = false;
  } else if (T == 1) {
    ctx.is_causal = false;  // one new query sees all P+1 keys
  } else if (P > 0) {
    // Chunked prefill on a cache: explicit bottom-right causal mask (SDPA's is_causal is top-left).
    ctx.mask = build_mask(torch::Tensor(), P, T, dt, dev);
    ctx.is_causal = false;
  } else {
    ctx.is_causal = true;
  }

  const int64_t L = config_.num_hidden_layers;
  const bool checkpoint =
      opts.gradient_checkpointing && !opts.cache && !opts.prefix && torch::GradMode::is_enabled();
  torch::Tensor anchor;
  if (checkpoint) anchor = torch::empty({0}, torch::TensorOptions().dtype(dt).device(dev)).requires_grad_(true);
  for (int64_t l = 0; l < L; ++l) {
    auto* layer = model->layers[l]->as<DecoderLayerImpl>();
    if (checkpoint) {
      x = LayerCheckpoint::apply(x, anchor, layer, &ctx, l)[0];
    } else {
      x = layer->forward(x, ctx, opts.cache, (size_t)l);
    }
  }
  return model->norm(x);  // [B, T, E]
}

std::vector<std::pair<std::string, torch::Tensor>> CausalLMImpl::hf_state() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back("model.embed_tokens.weight", model->embed_tokens);
  auto add_linear = [&](const std::string& p, const Linear& lin) {
    out.emplace_back(p + ".weight", lin->weight);
    if (lin->bias.defined()) out.emplace_back(p + ".bias", lin->bias);
  };
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    auto* layer = model->layers[i]->as<DecoderLayerImpl>();
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "input_layernorm.weight", layer->input_layernorm->weight);
    add_linear(p + "self_attn.q_proj", layer->self_attn->q_proj);
    add_linear(p + "self_attn.k_proj", layer->self_attn->k_proj);
    add_linear(p + "self_attn.v_proj", layer->self_attn->v_proj);
    add_linear(p + "self_attn.o_proj", layer->self_attn->o_proj);
    if (!layer->self_attn->q_norm.is_empty()) {
      out.emplace_back(p + "self_attn.q_norm.weight", layer->self_attn->q_norm->weight);
      out.emplace_back(p + "self_attn.k_norm.weight", layer->self_attn->k_norm->weight);
    }
    out.emplace_back(p + "post_attention_layernorm.weight", layer->post_attention_layernorm->weight);
    add_linear(p + "mlp.gate_proj", layer->mlp->gate_proj);
    add_linear(p + "mlp.up_proj", layer->mlp->up_proj);
    add_linear(p + "mlp.down_proj", layer->mlp->down_proj);
  }
  out.emplace_back("model.norm.weight", model->norm->weight);
  if (!config_.tie_word_embeddings) out.emplace_back("lm_head.weight", lm_head);
  return out;
}

int64_t CausalLMImpl::num_parameters() {
  int64_t n = 0;
  for (const auto& [name, t] : hf_state()) n += t.numel();
  return n;
}

std::vector<std::pair<std::string, Linear>> CausalLMImpl::named_linears() {
  std::vector<std::pair<std::string, Linear>> out;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    auto* layer = model->layers[i]->as<DecoderLayerImpl>();
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "self_attn.q_proj", layer->self_attn->q_proj);
    out.emplace_back(p + "self_attn.k_proj", layer->self_attn->k_proj);
    out.emplace_back(p + "self_attn.v_proj", layer->self_attn->v_proj);
    out.emplace_back(p + "self_attn.o_proj", layer->self_attn->o_proj);
    out.emplace_back(p + "mlp.gate_proj", layer->mlp->gate_proj);
    out.emplace_back(p + "mlp.up_proj", layer->mlp->up_proj);
    out.emplace_back(p + "mlp.down_proj", layer->mlp->down_proj);
  }
  return out;
}

// ------------------------------------------------------------------------------ load / init / save

CausalLM load_model(const ModelConfig& config, const io::TensorStore& store, torch::ScalarType dtype,
                    torch::Device device, const std::string& source) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16 && dtype != torch::kFloat64)
    throw Error(source, std::string("unsupported model dtype ") + c10::toString(dtype));
  CausalLM model(config);
  auto table = model->hf_state();
  std::set<std::string> expected;
  std::vector<std::string> missing, unexpected, misshaped;
  for (const auto& [name, p] : table) {
    expected.insert(name);
    if (!store.contains(name)) {
      missing.push_back(name);
      continue;
    }
    const auto& info = store.info(name);
    if (info.shape != p.sizes().vec())
      misshaped.push_back(name + " " + shape_str(info.shape) + " (expected " + shape_str(p.sizes().vec()) + ")");
  }
  for (const auto& name : store.names()) {
    if (expected.count(name)) continue;
    if (name == "lm_head.weight" && config.tie_word_embeddings) continue;  // redundant copy of the embedding
    if (name.size() >= 19 && name.compare(name.size() - 19, 19, "rotary_emb.inv_freq") == 0) continue;  // old buffers
    unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
    std::string msg = "checkpoint does not match config.json (model_type " + config.model_type + ")";
    if (!missing.empty()) msg += "; missing " + std::to_string(missing.size()) + ": " + join_limited(missing);
    if (!unexpected.empty())
      msg += "; unexpected " + std::to_string(unexpected.size()) + ": " + join_limited(unexpected);
    if (!misshaped.empty()) msg += "; mis-shaped " + std::to_string(misshaped.size()) + ": " + join_limited(misshaped);
    throw Error(source, msg);
  }
  torch::NoGradGuard ng;
  for (auto& [name, p] : table) {
    auto t = store.get(name);  // zero-copy view of the mapping
    if (t.scalar_type() == dtype && device.is_cpu()) p.set_data(t);  // keeps the mapping (copy-on-write)
    else p.set_data(t.to(device, dtype));
    p.requires_grad_(false);
  }
  return model;
}

CausalLM load_model(const std::filesystem::path& dir, torch::ScalarType dtype, torch::Device device) {
  auto config = ModelConfig::load(dir);
  auto store = io::TensorStore::open(dir);
  return load_model(config, store, dtype, device, dir.string());
}

CausalLM init_model(const ModelConfig& config, uint64_t seed, torch::ScalarType dtype) {
  CausalLM model(config);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard ng;
  for (auto& [name, p] : model->hf_state()) {
    const bool is_norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    auto t = torch::empty(p.sizes(), torch::kFloat32);
    if (is_norm) t.fill_(1.0);
    else if (is_bias) t.zero_();
    else t.normal_(0.0, config.initializer_range, gen);
    p.set_data(t.to(dtype));
    p.requires_grad_(false);
  }
  return model;
}

void save_model(CausalLM& model, const std::filesystem::path& dir, torch::ScalarType dtype,
                const nlohmann::json& generation_config, uint64_t max_shard_bytes) {
  if (!std::filesystem::is_directory(dir)) throw Error(dir.string(), "output directory does not exist");
  io::NamedTensors tensors;
  for (const auto& [name, t] : model->hf_state()) tensors.emplace_back(name, t.detach().to(torch::kCPU, dtype).contiguous());
  io::save_checkpoint(dir, tensors, max_shard_bytes);
  write_json_file_atomic(dir / "config.json", model->config().to_json(hf_dtype_name(dtype)));
  write_json_file_atomic(dir / "generation_config.json", generation_config.is_null()
                                                           ? default_generation_config(model->config())
                                                           : generation_config);
}

}  // namespace prospect::model
