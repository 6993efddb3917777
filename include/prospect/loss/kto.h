#pragma once
// KTO exactly as TRL's KTOTrainer (preference_losses_and_lora.md §1.3–1.7):
//   kto:               desirable λ_D·(1 − σ(β(r − z0))),  undesirable λ_U·(1 − σ(β(z0 − r)))
//   apo_zero_unpaired: desirable λ_D·(1 − σ(βr)),        undesirable λ_U·σ(βr)
// L = plain mean over the n examples (weights not renormalised). z0 is the clamped, detached KL
// estimate from the mismatched pairs (0 for apo_zero_unpaired, which needs no KL pass).
#include "prospect/loss/loss.h"

namespace prospect::loss {

struct KtoOptions {
  double beta = 0.1;
  double desirable_weight = 1.0;
  double undesirable_weight = 1.0;
  bool apo_zero_unpaired = false;
};

class KtoLoss : public Loss {
 public:
  explicit KtoLoss(KtoOptions o) : o_(o) {}
  std::string name() const override { return o_.apo_zero_unpaired ? "apo_zero_unpaired" : "kto"; }
  LossOutput compute(const LossInputs& in) override;
  bool needs_kl() const override { return !o_.apo_zero_unpaired; }
  const KtoOptions& options() const { return o_; }

 private:
  KtoOptions o_;
};

}  // namespace prospect::loss
