#include "prospect/loss/ops.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "prospect/core/error.h"

namespace prospect::loss {

torch::ScalarType compute_dtype(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor guard_certain(const torch::Tensor& a) {
  // Only A >= 0 (every token certain, log(1 - e^0) = log 0) is replaced; every A < 0 is used as TRL
  // uses it. The replacement is a constant, so no gradient flows through a certain sequence.
  return torch::where(a >= 0, torch::full_like(a, kMaxMeanLogp), a);
}

torch::Tensor log1mexp(const torch::Tensor& a_in) {
  static const double kLn2 = std::log(2.0);
  auto a = guard_certain(a_in);
  auto far = torch::log1p(-torch::exp(a.clamp_max(-kLn2)));  // accurate for a < −ln2
  auto near = torch::log(-torch::expm1(a.clamp_min(-kLn2)));  // accurate for a ≥ −ln2
  return torch::where(a < -kLn2, far, near);
}

torch::Tensor mean_logp(const torch::Tensor& logps, const torch::Tensor& lengths) {
  return logps / lengths.to(logps.scalar_type()).clamp_min(1.0);
}

torch::Tensor log_odds(const torch::Tensor& a) { return guard_certain(a) - log1mexp(a); }

torch::Tensor value_function(const torch::Tensor& h, const ValueFunctionOptions& o) {
  // clamp_min passes the gradient at exactly 0, so v'(0) is the gain branch's α_g·ε^(α_g−1);
  // abs() would give a zero gradient there.
  auto gain = (h.clamp_min(0.0) + o.eps).pow(o.alpha_gain) - std::pow(o.eps, o.alpha_gain);
  auto loss = ((-h).clamp_min(0.0) + o.eps).pow(o.alpha_loss) - std::pow(o.eps, o.alpha_loss);
  return torch::where(h >= 0, gain, loss * (-o.lambda));
}

WeightingForm parse_weighting_form(const std::string& s) {
  if (s == "tversky_kahneman") return WeightingForm::kTverskyKahneman;
  if (s == "prelec") return WeightingForm::kPrelec;
  throw Error("probability_weighting.form", "unknown form '" + s + "' (tversky_kahneman, prelec)");
}

std::string weighting_form_name(WeightingForm f) {
  return f == WeightingForm::kPrelec ? "prelec" : "tversky_kahneman";
}

torch::Tensor log_weighted_probability(const torch::Tensor& q, WeightingForm form, double gamma) {
  auto log_p = torch::log_sigmoid(q);
  if (form == WeightingForm::kPrelec) {
    // (−log p)^γ has an infinite slope at p = 1; the floor keeps the backward finite where log p
    // underflows to 0 (the clamped entries get zero gradient, as their true gradient is ~0 too).
    return -(-log_p).clamp_min(1e-30).pow(gamma);
  }
  auto log_1mp = torch::log_sigmoid(-q);
  auto gp = log_p * gamma;
  auto lse = torch::logsumexp(torch::stack({gp, log_1mp * gamma}), 0);
  return gp - lse / gamma;
}

namespace {
struct ClampGrad : public torch::autograd::Function<ClampGrad> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double bound) {
    ctx->saved_data["bound"] = bound;
    return x.clone();
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    double b = ctx->saved_data["bound"].toDouble();
    return {grads[0].clamp(-b, b), torch::Tensor()};
  }
};
}  // namespace

torch::Tensor clamp_grad(const torch::Tensor& x, double bound) { return ClampGrad::apply(x, bound); }

}  // namespace prospect::loss
