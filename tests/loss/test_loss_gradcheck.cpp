// Finite-difference gradient checks in float64 for every loss (and the main enhanced_kto variants).
#include "loss_test_util.h"
#include "prospect/loss/loss.h"

namespace prospect::loss::test {
namespace {

using nlohmann::json;

LossInputs random_inputs(uint64_t seed) {
  torch::manual_seed(seed);
  auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t n = 6;
  LossInputs in;
  auto len = torch::randint(3, 30, {n}, o);
  in.policy_logps = (-len * (torch::rand({n}, o) * 2 + 0.05)).requires_grad_(true);
  in.ref_logps = in.policy_logps.detach() + torch::randn({n}, o) * 3;
  in.lengths = len;
  in.labels = bools({true, false, true, false, false, true});
  in.pair_ids = ids({0, 0, 4, -1, 6, 6});
  in.kl_policy_logps = -torch::rand({n}, o) * 50;
  in.kl_ref_logps = in.kl_policy_logps + torch::randn({n}, o);
  in.kl_lengths = torch::randint(3, 30, {n}, o);
  auto lc = torch::randint(3, 30, {n}, o), lr = torch::randint(3, 30, {n}, o);
  in.chosen_logps = (-lc * (torch::rand({n}, o) + 0.05)).requires_grad_(true);
  in.rejected_logps = (-lr * (torch::rand({n}, o) + 0.05)).requires_grad_(true);
  in.ref_chosen_logps = in.chosen_logps.detach() + torch::randn({n}, o) * 3;
  in.ref_rejected_logps = in.rejected_logps.detach() + torch::randn({n}, o) * 3;
  in.chosen_lengths = lc;
  in.rejected_lengths = lr;
  in.nll_sum = torch::full({}, 41.5, o).requires_grad_(true);
  in.nll_count = torch::full({}, 23.0, o);
  return in;
}

void gradcheck(const json& cfg, uint64_t seed) {
  SCOPED_TRACE(cfg.dump());
  auto loss = make_loss(cfg);
  auto in = random_inputs(seed);
  // Running statistics (BCO's δ) must stay fixed while differencing: one training step to give
  // δ a value, then evaluation mode.
  loss->compute(in);
  in.training = false;
  auto out = loss->compute(in);
  auto leaves = grad_leaves(in);
  std::vector<torch::Tensor> ts;
  for (auto& [n, t] : leaves) ts.push_back(t);
  auto grads = torch::autograd::grad({out.loss}, ts, {}, false, false, true);
  int used = 0;
  for (size_t li = 0; li < leaves.size(); ++li) {
    if (!grads[li].defined()) continue;  // this loss does not read that input
    ++used;
    auto& leaf = leaves[li].second;
    auto g = to_vector(grads[li]);
    for (int64_t k = 0; k < leaf.numel(); ++k) {
      const double h = 1e-6;
      auto eval = [&](double d) {
        torch::NoGradGuard ng;
        auto saved = leaf.detach().clone();
        leaf.detach().view({-1})[k] += d;
        double v = loss->compute(in).loss.item<double>();
        leaf.detach().copy_(saved);
        return v;
      };
      const double fd = (eval(h) - eval(-h)) / (2 * h);
      EXPECT_NEAR(g[k], fd, 1e-6 + 1e-5 * std::abs(fd)) << leaves[li].first << "[" << k << "]";
    }
  }
  EXPECT_GT(used, 0);
}

TEST(LossGradcheck, EveryLossFloat64FiniteDifferences) {
  const std::vector<json> configs = {
      {{"type", "kto"}},
      {{"type", "kto"}, {"beta", 0.5}, {"desirable_weight", 1.3}},
      {{"type", "apo_zero_unpaired"}},
      {{"type", "enhanced_kto"}},
      {{"type", "enhanced_kto"}, {"beta", 0.8}, {"probability_weighting", {{"form", "prelec"}}}},
      {{"type", "enhanced_kto"}, {"beta", 0.3}, {"value_function", {{"alpha_gain", 0.6}, {"alpha_loss", 0.95}}},
       {"odds_ratio", {{"weight", 1.0}}}, {"bco_shift", {{"enabled", true}, {"momentum", 0.5}}}},
      {{"type", "enhanced_kto"}, {"estimate_kl", false}, {"odds_ratio", {{"weight", 0.7}}},
       {"bco_shift", {{"enabled", true}, {"start_step", 0}, {"ramp_steps", 4}}}},
      {{"type", "bco"}},
      {{"type", "dpo"}},
      {{"type", "dpo"}, {"label_smoothing", 0.2}},
      {{"type", "dpo"}, {"loss_type", "robust"}, {"label_smoothing", 0.1}},
      {{"type", "dpo"}, {"loss_type", "ipo"}},
      {{"type", "dpo"}, {"loss_type", "hinge"}, {"beta", 0.05}},
      {{"type", "orpo"}},
      {{"type", "simpo"}, {"beta", 2.0}, {"label_smoothing", 0.1}},
      {{"type", "simpo"}, {"cpo_alpha", 0.0}},
      {{"type", "sft"}},
  };
  uint64_t seed = 11;
  for (const auto& c : configs) gradcheck(c, seed++);
}

}  // namespace
}  // namespace prospect::loss::test
