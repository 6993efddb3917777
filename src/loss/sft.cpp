#include "prospect/loss/sft.h"

#include "prospect/loss/metrics.h"
#include "prospect/loss/ops.h"
#include "prospect/loss/paired.h"
#include "prospect/loss/unpaired.h"

namespace prospect::loss {

LossOutput SftLoss::compute(const LossInputs& in) {
  const std::string ctx = "loss.sft";
  check_scalar(in.nll_sum, "nll_sum", ctx);
  LossOutput out;
  out.loss = token_mean_nll(in, compute_dtype(in.nll_sum), in.nll_sum.device(), ctx);
  MetricSet m(*reducer_);
  m.value("loss", out.loss);
  out.metrics = m.finish();
  return out;
}

}  // namespace prospect::loss
