#include "prospect/loss/paired.h"

#include "prospect/loss/ops.h"
#include "prospect/loss/unpaired.h"

namespace prospect::loss {

PairedBatch prepare_paired(const LossInputs& in, bool need_ref, bool need_lengths, const std::string& ctx) {
  PairedBatch b;
  b.m = check_vector(in.chosen_logps, "chosen_logps", -1, ctx);
  check_vector(in.rejected_logps, "rejected_logps", b.m, ctx);
  b.dtype = compute_dtype(in.chosen_logps);
  b.chosen = in.chosen_logps.to(b.dtype);
  const auto device = b.chosen.device();
  b.rejected = in.rejected_logps.to(device, b.dtype);
  if (need_ref) {
    check_vector(in.ref_chosen_logps, "ref_chosen_logps", b.m, ctx);
    check_vector(in.ref_rejected_logps, "ref_rejected_logps", b.m, ctx);
    b.ref_chosen = in.ref_chosen_logps.detach().to(device, b.dtype);
    b.ref_rejected = in.ref_rejected_logps.detach().to(device, b.dtype);
  }
  if (need_lengths) {
    check_vector(in.chosen_lengths, "chosen_lengths", b.m, ctx);
    check_vector(in.rejected_lengths, "rejected_lengths", b.m, ctx);
    b.chosen_lengths = in.chosen_lengths.to(device, b.dtype);
    b.rejected_lengths = in.rejected_lengths.to(device, b.dtype);
  }
  return b;
}

torch::Tensor token_mean_nll(const LossInputs& in, torch::ScalarType dtype, const torch::Device& device,
                             const std::string& ctx) {
  check_scalar(in.nll_sum, "nll_sum", ctx);
  check_scalar(in.nll_count, "nll_count", ctx);
  return in.nll_sum.reshape({}).to(device, dtype) / in.nll_count.reshape({}).to(device, dtype).clamp_min(1.0);
}

void add_paired_metrics(MetricSet& m, const torch::Tensor& cr, const torch::Tensor& rr, const torch::Tensor& cl,
                        const torch::Tensor& rl) {
  m.mean("rewards/chosen", cr);
  m.mean("rewards/rejected", rr);
  m.mean("rewards/accuracies", (cr.detach() > rr.detach()).to(cr.scalar_type()));
  m.mean("rewards/margins", cr.detach() - rr.detach());
  m.mean("logps/chosen", cl);
  m.mean("logps/rejected", rl);
}

}  // namespace prospect::loss
