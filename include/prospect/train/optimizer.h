#pragma once
// AdamW over the trainable tensors, written out (torch.optim.AdamW's single-tensor algorithm, no
// amsgrad) so that its state is a plain list of fp32 tensors that checkpoints save and restore bit
// for bit. Decoupled weight decay: p ← p·(1 − lr·wd) before the Adam update.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "prospect/io/safetensors.h"

namespace prospect::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // HF TrainingArguments defaults
  double weight_decay = 0.0;
};

class AdamW {
 public:
  // params: (name, tensor) pairs; decay is applied to those with decay[i] true (HF skips biases and
  // norm weights). State tensors are fp32 on the parameter's device.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions opts,
        std::vector<bool> decay = {});

  void step(double lr);          // one update from the current .grad() (params without grad skipped)
  void zero_grad();              // sets grads to undefined (HF set_to_none)
  int64_t steps() const { return step_; }
  const std::vector<std::pair<std::string, torch::Tensor>>& params() const { return params_; }

  // "exp_avg.<name>", "exp_avg_sq.<name>" and "step" (int64 scalar).
  io::NamedTensors state() const;
  // Restores a state written by state(); missing or mis-shaped entries -> prospect::Error.
  void load_state(const std::function<torch::Tensor(const std::string&)>& get, const std::string& source);

  // L2 norm of all gradients (fp32), as torch.nn.utils.clip_grad_norm_ computes it.
  static double grad_norm(const std::vector<torch::Tensor>& params);
  // Scales grads by max_norm / (total + 1e-6) when that is < 1 (clip_grad_norm_). Returns the norm
  // before clipping.
  static double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<bool> decay_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  AdamWOptions opts_;
  int64_t step_ = 0;
};

}  // namespace prospect::train
