// No NaN/Inf in loss or gradient at the extremes: margins up to ±1e4, log-probs down to −1e4 (and up
// to 0), single-label and one-example batches, for every loss and dtype.
#include "loss_test_util.h"
#include "prospect/loss/loss.h"

namespace prospect::loss::test {
namespace {

using nlohmann::json;

std::vector<json> all_configs() {
  return {{{"type", "kto"}},
          {{"type", "apo_zero_unpaired"}},
          {{"type", "enhanced_kto"}},
          {{"type", "enhanced_kto"}, {"probability_weighting", {{"form", "prelec"}, {"gamma", 0.3}}},
           {"component_grad_clip", {{"kto", 0.5}, {"odds_ratio", 0.5}}}},
          {{"type", "enhanced_kto"}, {"probability_weighting", {{"gamma", 0.28}}},
           {"bco_shift", {{"enabled", true}}}, {"odds_ratio", {{"weight", 2.0}}}},
          {{"type", "bco"}},
          {{"type", "dpo"}},
          {{"type", "dpo"}, {"loss_type", "robust"}, {"label_smoothing", 0.3}},
          {{"type", "dpo"}, {"loss_type", "ipo"}},
          {{"type", "dpo"}, {"loss_type", "hinge"}},
          {{"type", "orpo"}},
          {{"type", "simpo"}},
          {{"type", "sft"}}};
}

// policy/ref pairs with β·r up to ±1e4 (β = 0.1 → r up to ±1e5), log-probs from −1e4 to 0.
LossInputs extreme_inputs(const std::vector<bool>& labels, torch::ScalarType dt, uint64_t variant) {
  const std::vector<double> pol_all = {-1e4, 0.0, -1e4, -1e-9, -3.0, -1e4, 0.0, -5e3};
  const std::vector<double> ref_all = {0.0, -1e4, -1e4 + 1e-3, -1e4, -1e5 / 2, 1e5 - 1e4, 1e5, -5e3};
  const size_t n = labels.size();
  std::vector<double> pol, ref, len, klp, klr, kll;
  for (size_t i = 0; i < n; ++i) {
    size_t k = (i + variant) % pol_all.size();
    pol.push_back(pol_all[k]);
    ref.push_back(ref_all[k]);
    len.push_back(k % 2 ? 1.0 : 4096.0);
    klp.push_back(k % 3 ? -1e4 : 0.0);
    klr.push_back(k % 3 ? 0.0 : -1e4);  // KL estimates of ±1e4
    kll.push_back(k % 2 ? 4096.0 : 1.0);
  }
  LossInputs in;
  in.policy_logps = vec(pol, dt, true);
  in.ref_logps = vec(ref, dt);
  in.lengths = vec(len);
  in.labels = bools(labels);
  in.kl_policy_logps = vec(klp, dt);
  in.kl_ref_logps = vec(klr, dt);
  in.kl_lengths = vec(kll);
  std::vector<int64_t> pid;
  for (size_t i = 0; i < n; ++i) pid.push_back(int64_t(i / 2));
  in.pair_ids = ids(pid);
  in.chosen_logps = vec(pol, dt, true);
  in.rejected_logps = vec(ref, dt, true);
  in.ref_chosen_logps = vec(ref, dt);
  in.ref_rejected_logps = vec(pol, dt);
  in.chosen_lengths = vec(len);
  in.rejected_lengths = vec(kll);
  in.nll_sum = torch::full({}, 1e4, torch::TensorOptions().dtype(dt)).requires_grad_(true);
  in.nll_count = torch::full({}, 3.0);
  in.step = (int64_t)variant;
  return in;
}

TEST(LossStability, FiniteLossAndGradientsAtTheExtremes) {
  const std::vector<std::vector<bool>> label_sets = {
      {true, false, true, false, true, false, true, false}, {true, true, true, true},
      {false, false, false}, {true}, {false}};
  for (const auto& cfg : all_configs()) {
    for (auto dt : {torch::kFloat32, torch::kBFloat16, torch::kFloat64}) {
      auto loss = make_loss(cfg);
      for (uint64_t variant = 0; variant < 8; ++variant) {
        for (const auto& labels : label_sets) {
          SCOPED_TRACE(cfg.dump() + " dtype " + std::string(c10::toString(dt)) + " variant " +
                       std::to_string(variant) + " n " + std::to_string(labels.size()));
          auto in = extreme_inputs(labels, dt, variant);
          auto out = loss->compute(in);
          ASSERT_TRUE(all_finite(out.loss)) << out.loss;
          for (const auto& [k, v] : out.metrics) ASSERT_TRUE(std::isfinite(v)) << k;
          out.loss.backward();
          for (auto& [name, t] : grad_leaves(in))
            if (t.grad().defined()) {
              ASSERT_TRUE(all_finite(t.grad())) << name << " " << t.grad();
            }
        }
      }
    }
  }
}

TEST(LossStability, SaturatedMarginsGiveTheLimitingLoss) {
  // h = +1e4 on a desirable example: no loss; h = −1e4: the full weight λ (value function on).
  auto loss = make_loss({{"type", "enhanced_kto"}, {"odds_ratio", {{"enabled", false}}}});
  LossInputs in;
  in.policy_logps = vec({0.0, -1e5}, torch::kFloat32, true);
  in.ref_logps = vec({-1e5, 0.0}, torch::kFloat32);
  in.labels = bools({true, true});
  in.kl_policy_logps = vec({-1, -1}, torch::kFloat32);
  in.kl_ref_logps = vec({-1, -1}, torch::kFloat32);
  auto out = loss->compute(in);
  EXPECT_NEAR(out.loss.item<double>(), 0.5, 1e-6);
  EXPECT_EQ(out.metrics.at("value/gain_fraction"), 0.5);
}

}  // namespace
}  // namespace prospect::loss::test
