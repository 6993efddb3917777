#include "prospect/loss/enhanced_kto.h"

#include <algorithm>
#include <vector>

#include "prospect/core/error.h"
#include "prospect/loss/metrics.h"
#include "prospect/loss/unpaired.h"

namespace prospect::loss {

EnhancedKtoOptions EnhancedKtoOptions::plain_kto(double beta, double desirable_weight, double undesirable_weight) {
  EnhancedKtoOptions o;
  o.beta = beta;
  o.desirable_weight = desirable_weight;
  o.undesirable_weight = undesirable_weight;
  o.value_function = o.probability_weighting = o.odds_ratio = o.bco_shift = false;
  return o;
}

EnhancedKtoLoss::EnhancedKtoLoss(EnhancedKtoOptions o) : o_(std::move(o)), delta_(o_.bco_momentum) {}

double EnhancedKtoLoss::rho(int64_t step) const {
  if (!o_.bco_shift || step < o_.bco_start_step) return 0.0;
  return std::min(1.0, double(step - o_.bco_start_step + 1) / double(std::max<int64_t>(1, o_.bco_ramp_steps)));
}

namespace {

// Partners for the paired odds-ratio term: for each pair id, the first desirable and the first
// undesirable example still free. Everything else is unpaired.
struct OddsRatioPairing {
  std::vector<int64_t> winners, losers, unpaired;
};

OddsRatioPairing pair_examples(const LossInputs& in, const torch::Tensor& desirable, int64_t n,
                               const std::string& ctx) {
  OddsRatioPairing p;
  if (!in.pair_ids.defined()) {
    for (int64_t i = 0; i < n; ++i) p.unpaired.push_back(i);
    return p;
  }
  check_vector(in.pair_ids, "pair_ids", n, ctx);
  auto ids = in.pair_ids.to(torch::kCPU, torch::kInt64).contiguous();
  auto lab = desirable.to(torch::kCPU).contiguous();
  const int64_t* id = ids.data_ptr<int64_t>();
  const bool* d = lab.data_ptr<bool>();
  std::vector<bool> used(n, false);
  for (int64_t i = 0; i < n; ++i) {
    if (used[i] || id[i] < 0) continue;
    for (int64_t j = i + 1; j < n; ++j) {
      if (!used[j] && id[j] == id[i] && d[j] != d[i]) {
        used[i] = used[j] = true;
        p.winners.push_back(d[i] ? i : j);
        p.losers.push_back(d[i] ? j : i);
        break;
      }
    }
  }
  for (int64_t i = 0; i < n; ++i)
    if (!used[i]) p.unpaired.push_back(i);
  return p;
}

torch::Tensor index_tensor(const std::vector<int64_t>& v, const torch::Device& device) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kInt64)).to(device);
}

}  // namespace

LossOutput EnhancedKtoLoss::compute(const LossInputs& in) {
  const std::string ctx = "loss.enhanced_kto";
  auto b = prepare_unpaired(in, ctx);
  const auto device = b.r.device();
  auto weights = torch::where(b.desirable, torch::full_like(b.r, o_.desirable_weight),
                              torch::full_like(b.r, o_.undesirable_weight));  // [n]
  // A per-example gradient bound becomes a bound on what backward delivers: × 1/n (the mean) and
  // × the trainer's loss scale.
  const double grad_scale = in.loss_scale / double(b.n);

  torch::Tensor z0 = o_.estimate_kl ? kl_reference_point(in, *reducer_, b.dtype, b.n, ctx)
                                    : torch::zeros({}, b.r.options().requires_grad(false));

  // BCO shift: δ takes in the current micro-batch before the loss (training only).
  double rho_t = 0.0;
  torch::Tensor z = z0;
  if (o_.bco_shift) {
    if (in.training) {
      auto sums = torch::stack({reducer_->sum(b.r.detach().to(torch::kFloat64).sum()),
                                reducer_->sum(torch::full({}, double(b.n), b.r.options().dtype(torch::kFloat64).requires_grad(false)))})
                      .to(torch::kCPU, torch::kFloat64);
      delta_.update(sums[0].item<double>(), sums[1].item<double>());
    }
    rho_t = rho(in.step);
    z = z0 * (1.0 - rho_t) + rho_t * delta_.mean();
  }

  auto h = (b.sign * (b.r - z)) * o_.beta;  // [n] signed margin
  auto h_in = o_.clip_kto ? clamp_grad(h, *o_.clip_kto * grad_scale) : h;
  auto q = o_.value_function ? value_function(h_in, o_.value) : h_in;
  torch::Tensor kto_part, w;
  if (o_.probability_weighting) {
    auto log_w = log_weighted_probability(q, o_.weighting_form, o_.gamma);
    w = torch::exp(log_w);
    kto_part = -torch::expm1(log_w);  // 1 − w, accurate when w → 1
  } else {
    kto_part = 1 - torch::sigmoid(q);
  }
  auto kto_vec = weights * kto_part;  // [n]

  torch::Tensor or_vec, lo;
  const bool use_or = o_.odds_ratio && o_.odds_ratio_weight != 0.0;
  if (use_or) {
    check_vector(in.lengths, "lengths", b.n, ctx);
    lo = log_odds(mean_logp(b.policy, in.lengths.to(device)));  // [n]
    or_vec = torch::zeros_like(lo);
    auto pairing = pair_examples(in, b.desirable, b.n, ctx);
    const double clip = o_.clip_odds_ratio ? *o_.clip_odds_ratio * grad_scale : 0.0;
    if (!pairing.winners.empty()) {
      auto iw = index_tensor(pairing.winners, device), il = index_tensor(pairing.losers, device);
      auto x = lo.index_select(0, iw) - lo.index_select(0, il);  // [pairs]
      if (o_.clip_odds_ratio) x = clamp_grad(x, clip);
      auto half = -torch::log_sigmoid(x) * 0.5;
      or_vec = or_vec.index_add(0, iw, half).index_add(0, il, half);
    }
    if (!pairing.unpaired.empty()) {
      auto iu = index_tensor(pairing.unpaired, device);
      torch::Tensor baseline;  // b_i: detached log odds of the KL completion under the policy
      if (in.kl_policy_logps.defined()) {
        check_vector(in.kl_policy_logps, "kl_policy_logps", b.n, ctx);
        check_vector(in.kl_lengths, "kl_lengths", b.n, ctx);
        baseline = log_odds(mean_logp(in.kl_policy_logps.detach().to(device, b.dtype), in.kl_lengths.to(device)))
                       .index_select(0, iu);
      } else {
        baseline = torch::zeros({(int64_t)pairing.unpaired.size()}, lo.options().requires_grad(false));
      }
      auto x = b.sign.index_select(0, iu) * (lo.index_select(0, iu) - baseline);
      if (o_.clip_odds_ratio) x = clamp_grad(x, clip);
      or_vec = or_vec.index_add(0, iu, -torch::log_sigmoid(x));
    }
  }

  LossOutput out;
  out.loss = (use_or ? kto_vec + or_vec * o_.odds_ratio_weight : kto_vec).mean();

  MetricSet m(*reducer_);
  m.value("loss", out.loss);
  m.value("kl", z0);
  add_unpaired_metrics(m, b, b.r.detach() * o_.beta);
  m.value("loss/kto", kto_vec.mean());
  m.value("z0", z0);
  m.mean("value/gain_fraction", (h.detach() > 0).to(b.dtype));
  if (o_.probability_weighting) m.mean("weighting/mean_w", w);
  if (use_or) {
    m.value("loss/odds_ratio", or_vec.mean());
    m.masked_mean("odds/log_odds_chosen", lo, b.desirable);
    m.masked_mean("odds/log_odds_rejected", lo, b.desirable.logical_not());
  }
  if (o_.bco_shift) {
    m.value("bco/delta", delta_.mean());
    m.value("bco/rho", rho_t);
  }
  out.metrics = m.finish();
  return out;
}

nlohmann::json EnhancedKtoLoss::state() const {
  if (!o_.bco_shift) return nlohmann::json::object();
  return {{"type", "enhanced_kto"}, {"bco_delta", delta_.state()}};
}

void EnhancedKtoLoss::load_state(const nlohmann::json& s) {
  const std::string ctx = "loss state (enhanced_kto)";
  if (!o_.bco_shift) return;  // nothing to restore; a state from a BCO-shift run is not needed
  if (!s.is_object() || s.value("type", "") != "enhanced_kto" || !s.contains("bco_delta"))
    throw Error(ctx, "the BCO shift is on but the checkpoint holds no enhanced_kto δ (got " + s.dump() + ")");
  delta_.load_state(s.at("bco_delta"), ctx + ".bco_delta");
}

}  // namespace prospect::loss
