#pragma once
// What the unpaired families (KTO, enhanced KTO, BCO) share: input checks, the per-example
// log-ratios, KTO's KL reference point z0 and TRL's reward/logp metrics.
#include <torch/torch.h>

#include <string>

#include "prospect/loss/loss.h"
#include "prospect/loss/metrics.h"

namespace prospect::loss {

// Throws unless t is defined with shape [n] (n = -1: any n ≥ 1). Returns n.
int64_t check_vector(const torch::Tensor& t, const char* name, int64_t n, const std::string& context);
// Throws unless t is a defined scalar (or one-element) tensor.
void check_scalar(const torch::Tensor& t, const char* name, const std::string& context);

struct UnpairedBatch {
  torch::ScalarType dtype;  // compute dtype
  int64_t n = 0;
  torch::Tensor policy;     // [n] Σ log πθ(y|x), compute dtype (carries gradient)
  torch::Tensor ref;        // [n] Σ log πref(y|x), detached
  torch::Tensor r;          // [n] policy − ref
  torch::Tensor desirable;  // [n] bool
  torch::Tensor sign;       // [n] +1 desirable, −1 undesirable (compute dtype)
};
UnpairedBatch prepare_unpaired(const LossInputs& in, const std::string& context);

// z0 = max(0, mean over ranks of mean_i(kl_policy_i − kl_ref_i)), detached (TRL §1.3).
torch::Tensor kl_reference_point(const LossInputs& in, const Reducer& reducer, torch::ScalarType dtype,
                                 int64_t n, const std::string& context);

// rewards/{chosen,rejected,margins} from `rewards` (β·r) and logps/{chosen,rejected} (summed).
void add_unpaired_metrics(MetricSet& m, const UnpairedBatch& b, const torch::Tensor& rewards);

}  // namespace prospect::loss
