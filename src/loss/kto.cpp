#include "prospect/loss/kto.h"

#include "prospect/loss/metrics.h"
#include "prospect/loss/unpaired.h"

namespace prospect::loss {

LossOutput KtoLoss::compute(const LossInputs& in) {
  const std::string ctx = "loss." + name();
  auto b = prepare_unpaired(in, ctx);
  auto weights = torch::where(b.desirable, torch::full_like(b.r, o_.desirable_weight),
                              torch::full_like(b.r, o_.undesirable_weight));  // [n]
  torch::Tensor z0, per_example;
  if (o_.apo_zero_unpaired) {
    z0 = torch::zeros({}, b.r.options().requires_grad(false));
    auto s = torch::sigmoid(b.r * o_.beta);
    per_example = torch::where(b.desirable, 1 - s, s);
  } else {
    z0 = kl_reference_point(in, *reducer_, b.dtype, b.n, ctx);
    // β·(z0 − r) for undesirable examples is β·(−(r − z0)): the same float, written once.
    auto h = (b.sign * (b.r - z0)) * o_.beta;
    per_example = 1 - torch::sigmoid(h);
  }
  LossOutput out;
  out.loss = (weights * per_example).mean();

  MetricSet m(*reducer_);
  m.value("loss", out.loss);
  m.value("kl", z0);
  add_unpaired_metrics(m, b, b.r.detach() * o_.beta);
  out.metrics = m.finish();
  return out;
}

}  // namespace prospect::loss
