#pragma once
// The decoder-only causal LM (Qwen3; Qwen2/2.5 and Llama through config flags), written as in
// transformers' modeling_qwen3.py. Module and parameter names are the Hugging Face tensor names,
// so named_parameters() yields e.g. "model.layers.3.self_attn.q_proj.weight".
//
// Naming: B batch, T time (new tokens), P past length, H heads, Hkv kv heads, D head dim,
// E hidden, F MLP width, V vocab, L layers.
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "prospect/io/checkpoint.h"
#include "prospect/model/config.h"
#include "prospect/model/linear.h"

namespace prospect::model {

// Per-layer key/value cache for incremental decoding. Stores post-norm, post-RoPE k and v.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer: [B, Hkv, P, D] (views into the buffers below)
  // Per layer: [B, Hkv, capacity, D]. Grown geometrically so that decoding appends in place instead
  // of copying the whole cache every step.
  std::vector<torch::Tensor> k_buf, v_buf;
  int64_t length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(2); }
  // Appends new rotated k/v [B, Hkv, T, D] of `layer` and returns the whole cache (k, v) of that layer.
  std::pair<torch::Tensor, torch::Tensor> append(size_t layer, const torch::Tensor& k_new, const torch::Tensor& v_new);
};

// Keys/values of a prefix computed once and read by later forwards (prompt-prefix sharing, see
// shared_prefix.h): per layer post-norm, post-RoPE k and v [B, Hkv, S, D], never written by readers.
struct PrefixKV {
  std::vector<torch::Tensor> k, v;
  int64_t length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(2); }
};

struct ForwardOptions {
  torch::Tensor attention_mask;  // [B, P+T] (1 = real token, 0 = padding), optional
  torch::Tensor position_ids;    // [B, T], optional; default P..P+T-1
  KVCache* cache = nullptr;      // appended to when given
  // Read-only past of length P = prefix->length() (not with `cache`): attention runs over the prefix
  // keys, then the new ones. Not differentiable through the prefix (it is used by no-grad passes).
  const PrefixKV* prefix = nullptr;
  // When given, every layer stores the detached k/v of the first capture_len positions here (also
  // under gradient checkpointing, from the forward pass; the recomputation does not capture).
  PrefixKV* capture = nullptr;
  int64_t capture_len = 0;
  bool gradient_checkpointing = false;  // recompute each layer in backward (training only)
};

struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // fp32 statistic, cast back, then * weight
  torch::Tensor weight;  // [dim]
  double eps;
};
TORCH_MODULE(RMSNorm);

// Rotary tables for one forward: cos/sin [B, 1, T, D] in the model dtype (computed in fp32, then cast).
struct RopeTables {
  torch::Tensor cos, sin;
};
// Inverse frequencies [D/2] fp32 for the config's rope type (default, linear, llama3, yarn), and the
// attention scaling applied to cos/sin (1 except for yarn).
std::pair<torch::Tensor, double> rope_inv_freq(const ModelConfig& c, torch::Device device);
RopeTables rope_tables(const ModelConfig& c, const torch::Tensor& position_ids, torch::ScalarType dtype);

// What attention needs besides its input. mask: additive [B, 1, T, P+T] in the model dtype, or undefined
// (then is_causal decides).
struct AttentionContext {
  RopeTables rope;
  torch::Tensor mask;
  bool is_causal = true;
  const PrefixKV* prefix = nullptr;  // ForwardOptions::prefix
  PrefixKV* capture = nullptr;       // ForwardOptions::capture (capture_len positions)
  int64_t capture_len = 0;
};

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const ModelConfig& c);
  // x [B, T, E] -> [B, T, E]. With a cache, the new rotated k/v are appended to layer `layer` of it
  // and attention runs over the whole cache.
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& ctx, KVCache* cache = nullptr,
                        size_t layer = 0);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};  // [H*D,E] [Hkv*D,E] [Hkv*D,E] [E,H*D]
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // [D] each, Qwen3 only
  int64_t H, Hkv, D;
  double scaling;  // D^-0.5
};
TORCH_MODULE(Attention);

struct MLPImpl : torch::nn::Module {
  explicit MLPImpl(const ModelConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};  // [F,E] [F,E] [E,F]
};
TORCH_MODULE(MLP);

struct DecoderLayerImpl : torch::nn::Module {
  explicit DecoderLayerImpl(const ModelConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& ctx, KVCache* cache = nullptr,
                        size_t layer = 0);  // [B, T, E] -> [B, T, E]
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};  // [E]
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

struct BackboneImpl : torch::nn::Module {  // "model." in HF names
  explicit BackboneImpl(const ModelConfig& c);
  torch::Tensor embed_tokens;  // [V, E] ("model.embed_tokens.weight" through a holder module)
  torch::nn::ModuleList layers;
  RMSNorm norm{nullptr};  // [E]
};
TORCH_MODULE(Backbone);

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(const ModelConfig& config);

  // input_ids [B, T] (int64) -> final hidden states [B, T, E] (after the final norm). The LM head is
  // applied by whoever needs it (see logprobs.h) so no [B, T, V] tensor is needed for training.
  torch::Tensor forward(const torch::Tensor& input_ids, const ForwardOptions& opts = {});
  // hidden [.., E] -> logits [.., V] in the model dtype.
  torch::Tensor logits(const torch::Tensor& hidden);
  // The head weight [V, E]: embed_tokens when tied, else lm_head.weight.
  torch::Tensor lm_head_weight() const;

  const ModelConfig& config() const { return config_; }
  Backbone model{nullptr};
  torch::Tensor lm_head;  // [V, E] ("lm_head.weight"), undefined when tied
  // Every Linear by its HF module path ("model.layers.0.self_attn.q_proj"); the LM head excluded.
  std::vector<std::pair<std::string, Linear>> named_linears();
  // Base weights by HF tensor name (the tied head not repeated). Adapter tensors are not included.
  // This is the one name table used for loading, saving and initialisation.
  std::vector<std::pair<std::string, torch::Tensor>> hf_state();
  int64_t num_parameters();  // base parameters (tied head counted once)
  torch::ScalarType dtype() const;
  torch::Device device() const;

 private:
  ModelConfig config_;
};
TORCH_MODULE(CausalLM);

// Loads dir/config.json and the (possibly sharded) safetensors into a new model with the requested
// dtype and device. Missing, unexpected or mis-shaped tensors -> one prospect::Error listing them.
// A stray lm_head.weight is ignored when tie_word_embeddings is true. Base parameters are frozen
// (requires_grad false).
CausalLM load_model(const std::filesystem::path& dir, torch::ScalarType dtype, torch::Device device);
// Same from a config and an opened tensor store (config.json already parsed).
CausalLM load_model(const ModelConfig& config, const io::TensorStore& store, torch::ScalarType dtype,
                    torch::Device device, const std::string& source);
// Random initialisation as transformers (normal(0, initializer_range), norms 1), seeded.
CausalLM init_model(const ModelConfig& config, uint64_t seed, torch::ScalarType dtype);
// Writes a standalone HF directory: config.json (dtype updated), generation_config.json (given or a
// default built from the config), model.safetensors (sharded above max_shard_bytes). `dir` must exist.
void save_model(CausalLM& model, const std::filesystem::path& dir, torch::ScalarType dtype,
                const nlohmann::json& generation_config = nullptr, uint64_t max_shard_bytes = 5ull << 30);

}  // namespace prospect::model
