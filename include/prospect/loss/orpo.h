#pragma once
// ORPO as TRL's ORPOTrainer (preference_losses_and_lora.md §3), no reference model:
//   A = Σ completion log-probs / |y|,  log_odds = (A_c − A_r) − (log1mexp(A_c) − log1mexp(A_r))
//   L = NLL − mean(β·logσ(log_odds)),  NLL = nll_sum / nll_count (the trainer's chosen-sequence
//   token-mean cross-entropy, prompt tokens included as in TRL).
#include "prospect/loss/loss.h"

namespace prospect::loss {

struct OrpoOptions {
  double beta = 0.1;  // the paper's λ
};

class OrpoLoss : public Loss {
 public:
  explicit OrpoLoss(OrpoOptions o) : o_(o) {}
  std::string name() const override { return "orpo"; }
  LossOutput compute(const LossInputs& in) override;
  bool needs_reference() const override { return false; }
  bool paired() const override { return true; }
  bool needs_nll() const override { return true; }

 private:
  OrpoOptions o_;
};

}  // namespace prospect::loss
