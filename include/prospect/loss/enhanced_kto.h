#pragma once
// Enhanced KTO, exactly as /shared/reference/enhanced_kto.md (docs/losses.md states the same):
//   z   = (1 − ρ_t)·z0 + ρ_t·δ_t,   h_i = β·d_i·(r_i − z)
//   ℓ_i = λ_{d_i}·(1 − w(σ(v(h_i)))) + μ·ℓ^OR_i,   L = (1/n)·Σ ℓ_i
// With every component disabled it computes standard KTO with the same floats and metrics.
#include <optional>

#include "prospect/loss/loss.h"
#include "prospect/loss/ops.h"
#include "prospect/loss/running_mean.h"

namespace prospect::loss {

struct EnhancedKtoOptions {
  double beta = 0.1;
  double desirable_weight = 1.0;
  double undesirable_weight = 1.0;
  // false: z0 = 0 and no KL pass is needed (the apo_zero_unpaired reference point).
  bool estimate_kl = true;

  bool value_function = true;
  ValueFunctionOptions value;

  bool probability_weighting = true;
  WeightingForm weighting_form = WeightingForm::kTverskyKahneman;
  double gamma = 0.61;  // tversky_kahneman: [0.28, 1]; prelec: (0, 1] (default 0.65 there)

  bool odds_ratio = true;
  double odds_ratio_weight = 0.1;  // μ

  bool bco_shift = false;
  int64_t bco_start_step = 0;
  int64_t bco_ramp_steps = 0;
  std::optional<double> bco_momentum;  // unset: exact running mean

  // Bounds on |∂ℓ/∂h_i| (KTO part) and |∂ℓ/∂x| (x the odds-ratio term's log-odds difference).
  std::optional<double> clip_kto;
  std::optional<double> clip_odds_ratio;

  // Every component off: standard KTO.
  static EnhancedKtoOptions plain_kto(double beta = 0.1, double desirable_weight = 1.0,
                                      double undesirable_weight = 1.0);
};

class EnhancedKtoLoss : public Loss {
 public:
  explicit EnhancedKtoLoss(EnhancedKtoOptions o);
  std::string name() const override { return "enhanced_kto"; }
  LossOutput compute(const LossInputs& in) override;
  bool needs_kl() const override { return o_.estimate_kl; }
  // {"type": "enhanced_kto", "bco_delta": {mean, count}} when the BCO shift is on; {} otherwise.
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& s) override;

  const EnhancedKtoOptions& options() const { return o_; }
  double delta() const { return delta_.mean(); }
  // ρ_t of the staged BCO shift (0 when it is off).
  double rho(int64_t step) const;

 private:
  EnhancedKtoOptions o_;
  RunningMean delta_;
};

}  // namespace prospect::loss
