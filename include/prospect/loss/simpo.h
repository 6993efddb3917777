#pragma once
// SimPO as TRL's CPOTrainer with loss_type "simpo" (preference_losses_and_lora.md §4):
//   A = Σ completion log-probs / |y|,  u = β·(A_c − A_r) − γ
//   L = mean(−(1−ε)·logσ(u) − ε·logσ(−u)) + cpo_alpha·NLL
// NLL = nll_sum / nll_count over the chosen completion tokens. cpo_alpha 1.0 (TRL's default) is
// CPO-SimPO; pure SimPO needs cpo_alpha = 0. No reference model.
#include "prospect/loss/loss.h"

namespace prospect::loss {

struct SimpoOptions {
  double beta = 0.1;
  double gamma = 0.5;            // simpo_gamma: the absolute margin γ
  double label_smoothing = 0.0;  // ε in [0, 0.5]
  double cpo_alpha = 1.0;
};

class SimpoLoss : public Loss {
 public:
  explicit SimpoLoss(SimpoOptions o) : o_(o) {}
  std::string name() const override { return "simpo"; }
  LossOutput compute(const LossInputs& in) override;
  bool needs_reference() const override { return false; }
  bool paired() const override { return true; }
  bool needs_nll() const override { return o_.cpo_alpha != 0.0; }

 private:
  SimpoOptions o_;
};

}  // namespace prospect::loss
