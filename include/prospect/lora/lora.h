#pragma once
// LoRA / DoRA adapters on the model's Linear layers (PEFT semantics, reference §6.2-6.3).
//
// Each adapted Linear gets one LoraLayer (its model::LinearAdapter hook) that holds any number of
// named adapters ("default", and e.g. a frozen copy "ref" used as the KTO/DPO reference when training
// continues from a trained adapter). The adapter applied is the thread's active one (UseAdapter,
// default "default"); model::AdaptersDisabled switches every adapter off (the reference = the base).
// Base weights are never copied or modified by the adapter; r is the LoRA rank.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "prospect/lora/config.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/linear.h"

namespace prospect::lora {

// One adapter's tensors on one Linear (in = in_features, out = out_features).
struct LoraWeights {
  torch::Tensor A;          // [r, in]   lora_A.weight
  torch::Tensor B;          // [out, r]  lora_B.weight
  torch::Tensor magnitude;  // [out]     lora_magnitude_vector (DoRA only, else undefined)
  double scaling = 1.0;     // alpha/r or alpha/√r
  double dropout = 0.0;     // on the LoRA branch input, training mode only
  std::shared_ptr<const LoraConfig> config;  // the adapter's config (shared by all its layers)

  int64_t r() const { return A.size(0); }
  bool dora() const { return magnitude.defined(); }
  // s·B·A in fp32 [out, in].
  torch::Tensor delta_weight() const;
};

// The active adapter name of this thread while the guard lives (nests; restores on exit).
class UseAdapter {
 public:
  explicit UseAdapter(std::string name);
  ~UseAdapter();
  UseAdapter(const UseAdapter&) = delete;
  UseAdapter& operator=(const UseAdapter&) = delete;
  static const std::string& active();

 private:
  std::string prev_;
};

// The hook installed on an adapted Linear.
class LoraLayer : public model::LinearAdapter {
 public:
  explicit LoraLayer(torch::Tensor bias = {}) : bias_(std::move(bias)) {}
  // base_out + s·B(A(dropout(x))) for the active adapter (DoRA: §6.3 with a detached row norm). The
  // input is cast to A's dtype, the sum is formed there and cast back to base_out's dtype. A layer
  // without the active adapter returns base_out.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& base_out,
                        const torch::Tensor& weight) override;
  // Plain reference path for tests: materialises W' = merged weight and returns x·W'ᵀ + b in fp32.
  torch::Tensor forward_reference(const torch::Tensor& x, const torch::Tensor& weight, const std::string& name) const;
  // fp32 [out, in]: W + s·B·A, or DoRA's (m/‖W + s·B·A‖_row) ⊙ (W + s·B·A).
  torch::Tensor merged_weight(const torch::Tensor& weight, const std::string& name) const;

  std::map<std::string, LoraWeights> adapters;
  bool training = false;  // dropout active

 private:
  torch::Tensor bias_;  // the Linear's bias [out] or undefined (DoRA rescales W·x without it)
};

// The LoraLayer of a Linear, created (and installed as its adapter) when absent. Throws if the Linear
// carries a foreign adapter.
LoraLayer& lora_layer(model::Linear& linear, const std::string& path);
// The LoraLayer of a Linear or nullptr.
LoraLayer* find_lora_layer(const model::Linear& linear);

// Creates an adapter's weights for one Linear of `path` following cfg (rank/alpha patterns, init,
// DoRA magnitude from the base weight). Random numbers come from `gen` (CPU) so results do not depend
// on the device. Parameters are created in `dtype` on the Linear's device.
LoraWeights init_lora_weights(const torch::Tensor& base_weight, const std::string& path,
                              std::shared_ptr<const LoraConfig> cfg, at::Generator& gen, torch::ScalarType dtype);

// A view of the adapters installed on a model (cheap to copy; state lives in the LoraLayers).
class LoraModel {
 public:
  LoraModel() = default;
  explicit LoraModel(model::CausalLM model);

  model::CausalLM& model() { return model_; }
  std::vector<std::string> adapter_names() const;
  bool has_adapter(const std::string& name) const;
  const LoraConfig& config(const std::string& name = "default") const;
  // Adapted module paths for an adapter, in model order.
  std::vector<std::string> target_paths(const std::string& name = "default") const;
  // The adapter's tensors by PEFT file key ("base_model.model.<path>.lora_A.weight", ".lora_B.weight",
  // ".lora_magnitude_vector"), in model order. These are the live tensors (optimisers update them).
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters(const std::string& name = "default") const;
  // The adapter's tensors that require grad (empty for a frozen adapter).
  std::vector<torch::Tensor> parameters(const std::string& name = "default") const;
  // Dropout on (training) or off in every LoraLayer.
  void set_train(bool training);
  // Deep copy of adapter `from` as `to` (frozen: requires_grad false). Replaces an existing `to`.
  void copy_adapter(const std::string& from = "default", const std::string& to = "ref", bool frozen = true);
  void delete_adapter(const std::string& name);
  // Moves every adapter's tensors to `device` in place (after model->to(device); handles stay valid).
  void to(torch::Device device);
  // Number of adapter parameters (elements) of `name`.
  int64_t num_parameters(const std::string& name = "default") const;

 private:
  std::vector<std::pair<std::string, LoraLayer*>> layers() const;  // adapted Linears by path
  mutable model::CausalLM model_{nullptr};  // named_linears() is non-const
};

struct AttachOptions {
  std::string name = "default";
  torch::ScalarType dtype = torch::kFloat32;  // PEFT autocast_adapter_dtype: adapters in fp32
  bool trainable = true;
};

// Module paths of the model's Linears that cfg targets. Throws a clear error when an entry of
// target_modules matches no Linear ("did you mean"), when nothing is targeted, or when the embedding
// or the LM head is targeted (not supported: tied embeddings stay tied). strict false (loading a
// PEFT file, which PEFT accepts as long as something matched): unmatched entries are only warned about.
std::vector<std::string> resolve_targets(model::CausalLM& model, const LoraConfig& cfg, bool strict = true);

// Adds a new adapter (cfg) to the model's targeted Linears, seeded; returns the view.
LoraModel attach_lora(model::CausalLM& model, const LoraConfig& cfg, uint64_t seed, const AttachOptions& opts = {});

// PEFT's file key of an adapter tensor: kind is "lora_A", "lora_B" or "lora_magnitude_vector".
std::string peft_key(const std::string& module_path, const std::string& kind);

}  // namespace prospect::lora
