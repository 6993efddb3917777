#include "prospect/loss/unpaired.h"

#include "prospect/core/error.h"
#include "prospect/loss/ops.h"

namespace prospect::loss {

namespace {
std::string shape_str(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}
}  // namespace

int64_t check_vector(const torch::Tensor& t, const char* name, int64_t n, const std::string& context) {
  if (!t.defined()) throw Error(context, std::string(name) + " is required but was not given");
  if (t.dim() != 1 || (n >= 0 && t.size(0) != n) || t.size(0) < 1)
    throw Error(context, std::string(name) + ": expected [" + (n >= 0 ? std::to_string(n) : std::string("n ≥ 1")) +
                             "], got " + shape_str(t));
  return t.size(0);
}

void check_scalar(const torch::Tensor& t, const char* name, const std::string& context) {
  if (!t.defined()) throw Error(context, std::string(name) + " is required but was not given");
  if (t.numel() != 1) throw Error(context, std::string(name) + ": expected a scalar, got " + shape_str(t));
}

UnpairedBatch prepare_unpaired(const LossInputs& in, const std::string& context) {
  UnpairedBatch b;
  b.n = check_vector(in.policy_logps, "policy_logps", -1, context);
  check_vector(in.ref_logps, "ref_logps", b.n, context);
  check_vector(in.labels, "labels", b.n, context);
  b.dtype = compute_dtype(in.policy_logps);
  b.policy = in.policy_logps.to(b.dtype);
  b.ref = in.ref_logps.detach().to(b.policy.device(), b.dtype);
  b.r = b.policy - b.ref;
  b.desirable = in.labels.to(b.policy.device()).to(torch::kBool);
  b.sign = torch::where(b.desirable, torch::ones_like(b.r), -torch::ones_like(b.r)).detach();
  return b;
}

torch::Tensor kl_reference_point(const LossInputs& in, const Reducer& reducer, torch::ScalarType dtype,
                                 int64_t n, const std::string& context) {
  check_vector(in.kl_policy_logps, "kl_policy_logps", n, context);
  check_vector(in.kl_ref_logps, "kl_ref_logps", n, context);
  auto device = in.policy_logps.device();
  auto kl = (in.kl_policy_logps.detach().to(device, dtype) - in.kl_ref_logps.detach().to(device, dtype)).mean();
  return reducer.mean_of_means(kl).detach().clamp_min(0.0);
}

void add_unpaired_metrics(MetricSet& m, const UnpairedBatch& b, const torch::Tensor& rewards) {
  auto undesirable = b.desirable.logical_not();
  m.masked_mean("rewards/chosen", rewards, b.desirable);
  m.masked_mean("rewards/rejected", rewards, undesirable);
  m.difference("rewards/margins", "rewards/chosen", "rewards/rejected");
  m.masked_mean("logps/chosen", b.policy, b.desirable);
  m.masked_mean("logps/rejected", b.policy, undesirable);
}

}  // namespace prospect::loss
