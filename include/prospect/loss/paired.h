#pragma once
// What the paired families (DPO, ORPO, SimPO) share: input checks and TRL's reward metrics.
#include <torch/torch.h>

#include <string>

#include "prospect/loss/loss.h"
#include "prospect/loss/metrics.h"

namespace prospect::loss {

struct PairedBatch {
  torch::ScalarType dtype;
  int64_t m = 0;
  torch::Tensor chosen, rejected;          // [m] policy Σ log-probs, compute dtype (carry gradient)
  torch::Tensor ref_chosen, ref_rejected;  // [m] detached; undefined unless asked for
  torch::Tensor chosen_lengths, rejected_lengths;  // [m] compute dtype; undefined unless asked for
};
PairedBatch prepare_paired(const LossInputs& in, bool need_ref, bool need_lengths, const std::string& context);

// NLL = nll_sum / max(nll_count, 1) in the compute dtype.
torch::Tensor token_mean_nll(const LossInputs& in, torch::ScalarType dtype, const torch::Device& device,
                             const std::string& context);

// rewards/{chosen,rejected,accuracies,margins} from the per-pair rewards; logps/{chosen,rejected}.
void add_paired_metrics(MetricSet& m, const torch::Tensor& chosen_rewards, const torch::Tensor& rejected_rewards,
                        const torch::Tensor& chosen_logps, const torch::Tensor& rejected_logps);

}  // namespace prospect::loss
