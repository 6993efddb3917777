#pragma once
// DPO-family losses over pairs (preference_losses_and_lora.md §4), Δ = r_chosen − r_rejected with
// summed log-probs:
//   sigmoid: −logσ(βΔ)  (label_smoothing ε > 0: classic TRL ≤ 0.28 conservative DPO
//            −(1−ε)·logσ(βΔ) − ε·logσ(−βΔ); current TRL ignores ε here)
//   robust:  [−(1−ε)·logσ(βΔ) + ε·logσ(−βΔ)] / (1 − 2ε)
//   ipo:     (Δ̄ − 1/(2β))², Δ̄ from per-token log-ratios r/max(|y|, 1)
//   hinge:   relu(1 − βΔ)
// L = mean over pairs.
#include "prospect/loss/loss.h"

namespace prospect::loss {

enum class DpoType { kSigmoid, kRobust, kIpo, kHinge };
DpoType parse_dpo_type(const std::string& s);
std::string dpo_type_name(DpoType t);

struct DpoOptions {
  double beta = 0.1;
  DpoType loss_type = DpoType::kSigmoid;
  double label_smoothing = 0.0;  // sigmoid [0, 0.5], robust [0, 0.5), others 0
};

class DpoLoss : public Loss {
 public:
  explicit DpoLoss(DpoOptions o) : o_(o) {}
  std::string name() const override { return "dpo"; }
  LossOutput compute(const LossInputs& in) override;
  bool paired() const override { return true; }

 private:
  DpoOptions o_;
};

}  // namespace prospect::loss
