#pragma once
// nn.Linear with Hugging Face parameter names ("weight" [out, in], optional "bias" [out]) and a hook
// through which an adapter (LoRA, DoRA: see lora/) adds its contribution. The model layer knows
// nothing of LoRA; it only calls the hook unless adapters are disabled on this thread.
#include <torch/torch.h>

#include <memory>
#include <string>

namespace prospect::model {

// Implemented by lora/. forward() receives the layer input and the base output (x·Wᵀ + b) and returns
// the layer output (base + delta). `weight` is the frozen base weight (DoRA needs it).
struct LinearAdapter {
  virtual ~LinearAdapter() = default;
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& base_out,
                                const torch::Tensor& weight) = 0;
};

// While an AdaptersDisabled guard lives, every Linear on this thread computes its base output only:
// the reference model of KTO/DPO is the base with LoRA disabled.
class AdaptersDisabled {
 public:
  AdaptersDisabled();
  ~AdaptersDisabled();
  static bool active();
  // Sets the thread's state and returns the previous one (for code that must restore a captured
  // state, e.g. recomputation under gradient checkpointing).
  static bool set_active(bool disabled);

 private:
  bool prev_;
};

struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in_features, int64_t out_features, bool bias);
  torch::Tensor forward(const torch::Tensor& x);  // [.., in] -> [.., out]

  int64_t in_features, out_features;
  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined
  std::shared_ptr<LinearAdapter> adapter;  // null: plain linear
};
TORCH_MODULE(Linear);

}  // namespace prospect::model
