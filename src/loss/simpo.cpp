#include "prospect/loss/simpo.h"

#include "prospect/loss/metrics.h"
#include "prospect/loss/ops.h"
#include "prospect/loss/paired.h"

namespace prospect::loss {

LossOutput SimpoLoss::compute(const LossInputs& in) {
  const std::string ctx = "loss.simpo";
  auto b = prepare_paired(in, /*need_ref=*/false, /*need_lengths=*/true, ctx);
  auto ac = mean_logp(b.chosen, b.chosen_lengths), ar = mean_logp(b.rejected, b.rejected_lengths);  // [m]
  // TRL: logits = (A_c − A_r) − γ/β, then β·logits.
  auto u = ((ac - ar) - o_.gamma / o_.beta) * o_.beta;  // [m]
  auto losses = -torch::log_sigmoid(u);
  if (o_.label_smoothing != 0.0)
    losses = losses * (1 - o_.label_smoothing) - torch::log_sigmoid(-u) * o_.label_smoothing;
  LossOutput out;
  out.loss = losses.mean();
  torch::Tensor nll;
  if (o_.cpo_alpha != 0.0) {
    nll = token_mean_nll(in, b.dtype, b.chosen.device(), ctx);
    out.loss = out.loss + nll * o_.cpo_alpha;
  }
  MetricSet m(*reducer_);
  m.value("loss", out.loss);
  add_paired_metrics(m, ac.detach() * o_.beta, ar.detach() * o_.beta, ac, ar);
  if (nll.defined()) m.value("nll_loss", nll);
  out.metrics = m.finish();
  return out;
}

}  // namespace prospect::loss
