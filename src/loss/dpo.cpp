#include "prospect/loss/dpo.h"

#include "prospect/core/error.h"
#include "prospect/loss/metrics.h"
#include "prospect/loss/ops.h"
#include "prospect/loss/paired.h"

namespace prospect::loss {

DpoType parse_dpo_type(const std::string& s) {
  if (s == "sigmoid") return DpoType::kSigmoid;
  if (s == "robust") return DpoType::kRobust;
  if (s == "ipo") return DpoType::kIpo;
  if (s == "hinge") return DpoType::kHinge;
  throw Error("loss.loss_type", "unknown DPO loss_type '" + s + "' (sigmoid, robust, ipo, hinge)");
}

std::string dpo_type_name(DpoType t) {
  switch (t) {
    case DpoType::kSigmoid: return "sigmoid";
    case DpoType::kRobust: return "robust";
    case DpoType::kIpo: return "ipo";
    case DpoType::kHinge: return "hinge";
  }
  return "?";
}

LossOutput DpoLoss::compute(const LossInputs& in) {
  const bool ipo = o_.loss_type == DpoType::kIpo;
  auto b = prepare_paired(in, /*need_ref=*/true, /*need_lengths=*/ipo, "loss.dpo");
  // IPO works on per-token log-probs (TRL divides policy and reference alike); its metrics too.
  auto pc = ipo ? b.chosen / b.chosen_lengths.clamp_min(1.0) : b.chosen;
  auto pr = ipo ? b.rejected / b.rejected_lengths.clamp_min(1.0) : b.rejected;
  auto rc = ipo ? b.ref_chosen / b.chosen_lengths.clamp_min(1.0) : b.ref_chosen;
  auto rr = ipo ? b.ref_rejected / b.rejected_lengths.clamp_min(1.0) : b.ref_rejected;
  auto chosen_ratio = pc - rc, rejected_ratio = pr - rr;  // [m]
  auto delta = chosen_ratio - rejected_ratio;               // [m]
  const double eps = o_.label_smoothing;
  torch::Tensor losses;
  switch (o_.loss_type) {
    case DpoType::kSigmoid:
      losses = -torch::log_sigmoid(delta * o_.beta);
      if (eps != 0.0) losses = losses * (1 - eps) - torch::log_sigmoid(delta * -o_.beta) * eps;
      break;
    case DpoType::kRobust:
      losses = (-torch::log_sigmoid(delta * o_.beta) * (1 - eps) + torch::log_sigmoid(delta * -o_.beta) * eps) /
               (1 - 2 * eps);
      break;
    case DpoType::kIpo:
      losses = (delta - 1.0 / (2.0 * o_.beta)).pow(2);
      break;
    case DpoType::kHinge:
      losses = torch::relu(1 - delta * o_.beta);
      break;
  }
  LossOutput out;
  out.loss = losses.mean();
  MetricSet m(*reducer_);
  m.value("loss", out.loss);
  add_paired_metrics(m, chosen_ratio.detach() * o_.beta, rejected_ratio.detach() * o_.beta, pc, pr);
  out.metrics = m.finish();
  return out;
}

}  // namespace prospect::loss
