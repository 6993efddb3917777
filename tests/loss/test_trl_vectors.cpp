// The test vectors of preference_losses_and_lora.md (§1.11 KTO, §2 BCO, §3 ORPO, §4 DPO/SimPO),
// reproduced to 1e-6 through make_loss, as the trainer builds the losses.
#include "loss_test_util.h"
#include "prospect/loss/loss.h"

namespace prospect::loss::test {
namespace {

using nlohmann::json;

// §1.11: labels T,F,T,F; r = [1, −1, 1, −1]; KL differences average 0.375.
LossInputs kto_vector(torch::ScalarType dt = torch::kFloat32) {
  LossInputs in;
  in.policy_logps = vec({-10, -12, -8, -15}, dt, true);
  in.ref_logps = vec({-11, -11, -9, -14}, dt);
  in.labels = bools({true, false, true, false});
  in.kl_policy_logps = vec({-20, -18, -25, -22}, dt);
  in.kl_ref_logps = vec({-21, -18.5, -24, -23}, dt);
  return in;
}

TEST(TrlVectors, KtoLossAndMetrics) {
  auto loss = make_loss({{"type", "kto"}});
  EXPECT_TRUE(loss->needs_kl());
  EXPECT_TRUE(loss->needs_reference());
  EXPECT_FALSE(loss->paired());
  auto out = loss->compute(kto_vector());
  EXPECT_NEAR(out.loss.item<double>(), 0.4750295703, 1e-6);
  EXPECT_NEAR(out.metrics.at("kl"), 0.375, 1e-6);
  EXPECT_NEAR(out.metrics.at("rewards/chosen"), 0.1, 1e-6);
  EXPECT_NEAR(out.metrics.at("rewards/rejected"), -0.1, 1e-6);
  EXPECT_NEAR(out.metrics.at("rewards/margins"), 0.2, 1e-6);
  EXPECT_NEAR(out.metrics.at("logps/chosen"), -9.0, 1e-6);
  EXPECT_NEAR(out.metrics.at("logps/rejected"), -13.5, 1e-6);
  EXPECT_NEAR(out.metrics.at("loss"), 0.4750295703, 1e-6);
}

TEST(TrlVectors, KtoPerExampleLosses) {
  // One-example views of the same batch (z0 fixed by the KL pairs): 1−σ(0.0625), 1−σ(0.1375).
  auto loss = make_loss({{"type", "kto"}});
  auto in = kto_vector(torch::kFloat64);
  in.kl_policy_logps = vec({-20.0}), in.kl_ref_logps = vec({-20.375});
  for (int i = 0; i < 4; ++i) {
    LossInputs one = in;
    one.policy_logps = in.policy_logps.detach().narrow(0, i, 1);
    one.ref_logps = in.ref_logps.narrow(0, i, 1);
    one.labels = in.labels.narrow(0, i, 1);
    double want = i % 2 == 0 ? 0.4843800843 : 0.4656790563;
    EXPECT_NEAR(loss->compute(one).loss.item<double>(), want, 1e-9) << i;
  }
}

TEST(TrlVectors, KtoDesirableWeightTwoIsNotRenormalised) {
  auto loss = make_loss({{"type", "kto"}, {"desirable_weight", 2.0}, {"undesirable_weight", 1.0}});
  EXPECT_NEAR(loss->compute(kto_vector()).loss.item<double>(), 0.7172196124, 1e-6);
}

TEST(TrlVectors, ApoZeroUnpaired) {
  for (json cfg : {json{{"type", "apo_zero_unpaired"}}, json{{"type", "kto"}, {"loss_type", "apo_zero_unpaired"}}}) {
    auto loss = make_loss(cfg);
    EXPECT_FALSE(loss->needs_kl());
    auto in = kto_vector();
    in.kl_policy_logps = in.kl_ref_logps = torch::Tensor();  // no KL pass
    auto out = loss->compute(in);
    EXPECT_NEAR(out.loss.item<double>(), 0.4750208125, 1e-6);
    EXPECT_EQ(out.metrics.at("kl"), 0.0);
    // Every example has the same loss: each one-example batch gives the mean.
    for (int i = 0; i < 4; ++i) {
      LossInputs one = in;
      one.policy_logps = in.policy_logps.detach().narrow(0, i, 1);
      one.ref_logps = in.ref_logps.narrow(0, i, 1);
      one.labels = in.labels.narrow(0, i, 1);
      EXPECT_NEAR(loss->compute(one).loss.item<double>(), 0.4750208125, 1e-6);
    }
  }
}

TEST(TrlVectors, KtoKlIsClampedAtZero) {
  auto loss = make_loss({{"type", "kto"}});
  auto in = kto_vector();
  in.kl_ref_logps = vec({-19, -17, -24, -21}, torch::kFloat32);  // mean KL difference −1
  auto out = loss->compute(in);
  EXPECT_EQ(out.metrics.at("kl"), 0.0);
  // z0 = 0: desirable 1−σ(0.1), undesirable 1−σ(0.1).
  EXPECT_NEAR(out.loss.item<double>(), 1 - 1 / (1 + std::exp(-0.1)), 1e-6);
}

TEST(TrlVectors, KtoSingleLabelBatchesLeaveTheOtherMetricsAbsent) {
  auto loss = make_loss({{"type", "kto"}});
  auto in = kto_vector();
  in.labels = bools({true, true, true, true});
  auto out = loss->compute(in);
  EXPECT_TRUE(out.metrics.count("rewards/chosen"));
  EXPECT_FALSE(out.metrics.count("rewards/rejected"));
  EXPECT_FALSE(out.metrics.count("rewards/margins"));
  EXPECT_FALSE(out.metrics.count("logps/rejected"));
}

TEST(TrlVectors, Bco) {
  auto loss = make_loss({{"type", "bco"}});
  EXPECT_FALSE(loss->needs_kl());
  LossInputs in;
  in.policy_logps = vec({-9, -11, -9, -11}, torch::kFloat32, true);  // r = β·[1, −1, 1, −1]
  in.ref_logps = vec({-10, -10, -10, -10}, torch::kFloat32);
  in.labels = bools({true, false, true, false});
  auto out = loss->compute(in);
  EXPECT_NEAR(out.metrics.at("delta"), 0.0, 1e-7);
  EXPECT_NEAR(out.loss.item<double>(), 0.6443966601, 1e-6);
  EXPECT_NEAR(out.metrics.at("rewards/chosen"), 0.1, 1e-6);
  EXPECT_NEAR(out.metrics.at("rewards/rejected"), -0.1, 1e-6);
}

TEST(TrlVectors, Orpo) {
  auto loss = make_loss({{"type", "orpo"}});
  EXPECT_FALSE(loss->needs_reference());
  EXPECT_TRUE(loss->paired());
  EXPECT_TRUE(loss->needs_nll());
  LossInputs in;
  in.chosen_logps = vec({-5.0}, torch::kFloat32, true);  // A_c = −5/10 = −0.5
  in.rejected_logps = vec({-6.0}, torch::kFloat32, true);  // A_r = −6/5 = −1.2
  in.chosen_lengths = vec({10}, torch::kFloat32);
  in.rejected_lengths = vec({5}, torch::kFloat32);
  in.nll_sum = torch::zeros({}, torch::requires_grad());
  in.nll_count = torch::full({}, 12.0);
  auto out = loss->compute(in);
  EXPECT_NEAR(out.metrics.at("log_odds_chosen"), 1.2743697117, 1e-6);
  EXPECT_NEAR(out.metrics.at("log_odds_ratio"), -0.2465531135, 1e-6);
  EXPECT_NEAR(out.loss.item<double>(), 0.0246553113, 1e-6);  // NLL 0 + the odds-ratio term
  EXPECT_NEAR(out.metrics.at("rewards/chosen"), -0.05, 1e-7);
  EXPECT_NEAR(out.metrics.at("rewards/rejected"), -0.12, 1e-7);
  EXPECT_EQ(out.metrics.at("rewards/accuracies"), 1.0);
  EXPECT_NEAR(out.metrics.at("logps/chosen"), -0.5, 1e-7);
  // The NLL enters with weight 1: nll_sum 6, count 12 adds 0.5.
  in.nll_sum = torch::full({}, 6.0);
  EXPECT_NEAR(loss->compute(in).loss.item<double>(), 0.5246553113, 1e-6);
}

LossInputs dpo_pair(double delta) {
  LossInputs in;
  in.chosen_logps = vec({-10.0 + delta}, torch::kFloat32, true);
  in.rejected_logps = vec({-12.0}, torch::kFloat32, true);
  in.ref_chosen_logps = vec({-10.0}, torch::kFloat32);
  in.ref_rejected_logps = vec({-12.0}, torch::kFloat32);
  return in;
}

TEST(TrlVectors, DpoSigmoidAndClassicLabelSmoothing) {
  auto dpo = make_loss({{"type", "dpo"}});
  EXPECT_TRUE(dpo->paired());
  EXPECT_TRUE(dpo->needs_reference());
  EXPECT_NEAR(dpo->compute(dpo_pair(2.0)).loss.item<double>(), 0.5981388694, 1e-6);
  auto cdpo = make_loss({{"type", "dpo"}, {"loss_type", "sigmoid"}, {"label_smoothing", 0.1}});
  EXPECT_NEAR(cdpo->compute(dpo_pair(2.0)).loss.item<double>(), 0.6181388694, 1e-6);
}

TEST(TrlVectors, DpoOtherTypesByHand) {
  const double l1 = -std::log(1 / (1 + std::exp(-0.2))), l2 = -std::log(1 / (1 + std::exp(0.2)));
  auto robust = make_loss({{"type", "dpo"}, {"loss_type", "robust"}, {"label_smoothing", 0.2}});
  EXPECT_NEAR(robust->compute(dpo_pair(2.0)).loss.item<double>(), (0.8 * l1 - 0.2 * l2) / 0.6, 1e-6);
  auto hinge = make_loss({{"type", "dpo"}, {"loss_type", "hinge"}});
  EXPECT_NEAR(hinge->compute(dpo_pair(2.0)).loss.item<double>(), 0.8, 1e-6);
  // IPO on per-token ratios: Δ̄ = 3/4 − (−1)/2 = 1.25; (1.25 − 1/(2·0.1))² = 14.0625.
  auto ipo = make_loss({{"type", "dpo"}, {"loss_type", "ipo"}});
  LossInputs in = dpo_pair(3.0);
  in.rejected_logps = vec({-13.0}, torch::kFloat32, true);
  in.chosen_lengths = vec({4}, torch::kFloat32);
  in.rejected_lengths = vec({2}, torch::kFloat32);
  EXPECT_NEAR(ipo->compute(in).loss.item<double>(), 14.0625, 1e-5);
}

TEST(TrlVectors, SimpoPureAndCpo) {
  LossInputs in;
  in.chosen_logps = vec({-5.0}, torch::kFloat32, true);  // A_c = −0.5
  in.rejected_logps = vec({-6.0}, torch::kFloat32, true);  // A_r = −1.2
  in.chosen_lengths = vec({10}, torch::kFloat32);
  in.rejected_lengths = vec({5}, torch::kFloat32);
  auto pure = make_loss({{"type", "simpo"}, {"beta", 2.0}, {"simpo_gamma", 0.5}, {"cpo_alpha", 0.0}});
  EXPECT_FALSE(pure->needs_nll());
  EXPECT_FALSE(pure->needs_reference());
  EXPECT_NEAR(pure->compute(in).loss.item<double>(), 0.3411538747, 1e-6);
  auto cpo = make_loss({{"type", "simpo"}, {"beta", 2.0}, {"simpo_gamma", 0.5}});
  EXPECT_TRUE(cpo->needs_nll());
  in.nll_sum = torch::full({}, 3.0, torch::requires_grad());
  in.nll_count = torch::full({}, 4.0);
  auto out = cpo->compute(in);
  EXPECT_NEAR(out.loss.item<double>(), 0.3411538747 + 0.75, 1e-6);
  EXPECT_NEAR(out.metrics.at("nll_loss"), 0.75, 1e-7);
  EXPECT_NEAR(out.metrics.at("rewards/margins"), 1.4, 1e-6);
}

TEST(TrlVectors, SftIsTokenMeanNll) {
  auto sft = make_loss({{"type", "sft"}});
  EXPECT_FALSE(sft->needs_reference());
  EXPECT_TRUE(sft->needs_nll());
  LossInputs in;
  in.nll_sum = torch::full({}, 30.0, torch::requires_grad());
  in.nll_count = torch::full({}, 12.0);
  auto out = sft->compute(in);
  EXPECT_NEAR(out.loss.item<double>(), 2.5, 1e-7);
  out.loss.backward();
  EXPECT_NEAR(in.nll_sum.grad().item<double>(), 1.0 / 12, 1e-7);
}

}  // namespace
}  // namespace prospect::loss::test
