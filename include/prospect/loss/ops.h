#pragma once
// Numerical building blocks shared by the losses, each in the stable (log-space) form that
// preference_losses_and_lora.md and enhanced_kto.md prescribe. Shapes: [n] per example unless noted.
#include <torch/torch.h>

#include <string>

namespace prospect::loss {

// fp32 for bf16/f16/f32 inputs; fp64 inputs stay fp64 (finite-difference gradient checks need it).
torch::ScalarType compute_dtype(const torch::Tensor& t);

// log(1 − e^a) for a < 0: a < −ln2 ? log1p(−exp(a)) : log(−expm1(a)). Both branches are evaluated
// on inputs clamped to their own side so that neither produces an infinite gradient that where()
// would turn into 0·inf = NaN. A mean token log-prob of exactly 0 (every token certain) would give
// log(0) = −inf (TRL's odds_ratio_loss then returns ±inf/NaN): there only, a is replaced by
// kMaxMeanLogp; every a < 0 is computed exactly as TRL does.
constexpr double kMaxMeanLogp = -1e-7;
torch::Tensor guard_certain(const torch::Tensor& a);  // a >= 0 → kMaxMeanLogp, else a
torch::Tensor log1mexp(const torch::Tensor& a);

// Mean completion-token log-prob A = logps / max(|y|, 1).
torch::Tensor mean_logp(const torch::Tensor& logps, const torch::Tensor& lengths);  // [n]
// log odds of the mean token probability: A − log1mexp(A) (ORPO).
torch::Tensor log_odds(const torch::Tensor& mean_logp);  // [n]

// Prospect-theory value function (Tversky & Kahneman 1992) with ε-shifted powers:
//   v(h) = (h + ε)^α_g − ε^α_g for h ≥ 0,   v(h) = −λ·((−h + ε)^α_l − ε^α_l) for h < 0.
struct ValueFunctionOptions {
  double alpha_gain = 0.88;
  double alpha_loss = 0.88;
  double lambda = 2.25;
  double eps = 0.01;  // > 0: keeps the slope finite at h = 0, where every run starts
};
torch::Tensor value_function(const torch::Tensor& h, const ValueFunctionOptions& o);  // [n]

// Probability weighting w(p), p = σ(q), returned as log w computed from q in log space.
//   tversky_kahneman: log w = γ·log p − (1/γ)·logsumexp(γ·log p, γ·log(1 − p))
//   prelec:           log w = −(−log p)^γ
enum class WeightingForm { kTverskyKahneman, kPrelec };
WeightingForm parse_weighting_form(const std::string& s);  // "tversky_kahneman" | "prelec"
std::string weighting_form_name(WeightingForm f);
torch::Tensor log_weighted_probability(const torch::Tensor& q, WeightingForm form, double gamma);  // [n]

// Identity in the forward pass; the backward pass clamps the incoming gradient elementwise to
// [−bound, bound] (component_grad_clip).
torch::Tensor clamp_grad(const torch::Tensor& x, double bound);

}  // namespace prospect::loss
