#include "prospect/loss/orpo.h"

#include "prospect/loss/metrics.h"
#include "prospect/loss/ops.h"
#include "prospect/loss/paired.h"

namespace prospect::loss {

LossOutput OrpoLoss::compute(const LossInputs& in) {
  const std::string ctx = "loss.orpo";
  auto b = prepare_paired(in, /*need_ref=*/false, /*need_lengths=*/true, ctx);
  auto ac = mean_logp(b.chosen, b.chosen_lengths), ar = mean_logp(b.rejected, b.rejected_lengths);  // [m]
  auto lo = (ac - ar) - (log1mexp(ac) - log1mexp(ar));  // [m]
  auto ratio = torch::log_sigmoid(lo);                  // [m]
  auto nll = token_mean_nll(in, b.dtype, b.chosen.device(), ctx);
  LossOutput out;
  out.loss = nll - (ratio * o_.beta).mean();
  MetricSet m(*reducer_);
  m.value("loss", out.loss);
  add_paired_metrics(m, ac.detach() * o_.beta, ar.detach() * o_.beta, ac, ar);
  m.value("nll_loss", nll);
  m.mean("log_odds_ratio", ratio);
  m.mean("log_odds_chosen", lo);
  out.metrics = m.finish();
  return out;
}

}  // namespace prospect::loss
