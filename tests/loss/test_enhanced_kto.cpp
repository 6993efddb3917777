// enhanced_kto against enhanced_kto.md: equality with KTO when every component is off, the worked
// example, each component against hand computation, the BCO shift schedule and state, gradient clips.
#include <cmath>

#include "loss_test_util.h"
#include "prospect/core/error.h"
#include "prospect/loss/enhanced_kto.h"
#include "prospect/loss/kto.h"
#include "prospect/loss/ops.h"

namespace prospect::loss::test {
namespace {

using nlohmann::json;

double sig(double x) { return 1 / (1 + std::exp(-x)); }
double log_sig(double x) { return -std::log1p(std::exp(-x)); }
double log_odds_direct(double a) { return a - std::log(1 - std::exp(a)); }

json all_off(double beta = 0.1, double dw = 1.0, double uw = 1.0) {
  return {{"type", "enhanced_kto"},
          {"beta", beta},
          {"desirable_weight", dw},
          {"undesirable_weight", uw},
          {"value_function", {{"enabled", false}}},
          {"probability_weighting", {{"enabled", false}}},
          {"odds_ratio", {{"enabled", false}}},
          {"bco_shift", {{"enabled", false}}}};
}

LossInputs random_batch(int64_t n, torch::ScalarType dt, uint64_t seed, bool all_same_label = false) {
  torch::manual_seed(seed);
  auto o = torch::TensorOptions().dtype(torch::kFloat64);
  LossInputs in;
  auto lengths = torch::randint(3, 40, {n}, o);
  in.policy_logps = (-lengths * torch::rand({n}, o) * 2).to(dt).requires_grad_(true);
  in.ref_logps = (in.policy_logps.detach().to(torch::kFloat64) + torch::randn({n}, o) * 2).to(dt);
  in.lengths = lengths;
  in.labels = all_same_label ? torch::ones({n}, torch::kBool) : torch::rand({n}) < 0.5;
  in.kl_policy_logps = (-torch::rand({n}, o) * 60).to(dt);
  in.kl_ref_logps = (in.kl_policy_logps.to(torch::kFloat64) + torch::randn({n}, o)).to(dt);
  in.kl_lengths = torch::randint(3, 40, {n}, o);
  return in;
}

TEST(EnhancedKto, AllComponentsOffIsKtoExactly) {
  for (auto dt : {torch::kFloat32, torch::kBFloat16, torch::kFloat64}) {
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      SCOPED_TRACE("seed " + std::to_string(seed));
      const double beta = seed % 2 ? 0.1 : 0.37, dw = seed % 3 ? 1.0 : 1.33, uw = seed % 3 ? 1.0 : 0.75;
      auto in_a = random_batch(seed + 2, dt, seed, seed == 4);
      LossInputs in_b = in_a;
      in_b.policy_logps = in_a.policy_logps.detach().clone().requires_grad_(true);
      auto kto = make_loss({{"type", "kto"}, {"beta", beta}, {"desirable_weight", dw}, {"undesirable_weight", uw}});
      auto enh = make_loss(all_off(beta, dw, uw));
      EXPECT_EQ(kto->needs_kl(), enh->needs_kl());
      auto a = kto->compute(in_a), b = enh->compute(in_b);
      // The same floats, bit for bit.
      EXPECT_TRUE(torch::equal(a.loss, b.loss)) << a.loss.item<double>() << " vs " << b.loss.item<double>();
      a.loss.backward();
      b.loss.backward();
      EXPECT_TRUE(torch::equal(in_a.policy_logps.grad(), in_b.policy_logps.grad()));
      for (const auto& [k, v] : a.metrics) {
        ASSERT_TRUE(b.metrics.count(k)) << k;
        EXPECT_EQ(v, b.metrics.at(k)) << k;
      }
      std::set<std::string> extra;
      for (const auto& [k, v] : b.metrics)
        if (!a.metrics.count(k)) extra.insert(k);
      EXPECT_EQ(extra, (std::set<std::string>{"loss/kto", "value/gain_fraction", "z0"}));
      EXPECT_EQ(b.metrics.at("loss/kto"), b.metrics.at("loss"));
      EXPECT_EQ(b.metrics.at("z0"), a.metrics.at("kl"));
    }
  }
}

TEST(EnhancedKto, WorkedExample) {
  // β = 0.1, one desirable example, z = 0, r = 1 → h = 0.1.
  //   v(0.1) = 0.11^0.88 − 0.01^0.88 = 0.143359 − 0.017378 = 0.125981
  //   p = σ(0.125981) = 0.531454
  //   w(p) = p^0.61 / (p^0.61 + (1−p)^0.61)^(1/0.61) = 0.436926
  //   ℓ = 1 − w = 0.563074   (standard KTO: 1 − σ(0.1) = 0.475021)
  auto h = torch::full({1}, 0.1, torch::kFloat64);
  auto v = value_function(h, ValueFunctionOptions{});
  EXPECT_NEAR(v.item<double>(), 0.125981, 1e-6);
  EXPECT_NEAR(std::pow(0.11, 0.88) - std::pow(0.01, 0.88), 0.125981, 1e-6);
  EXPECT_NEAR(sig(v.item<double>()), 0.531454, 1e-6);
  auto w = torch::exp(log_weighted_probability(v, WeightingForm::kTverskyKahneman, 0.61));
  EXPECT_NEAR(w.item<double>(), 0.436926, 1e-6);

  json cfg = {{"type", "enhanced_kto"}, {"odds_ratio", {{"enabled", false}}}};
  LossInputs in;
  in.policy_logps = vec({-9.0}, torch::kFloat32, true);
  in.ref_logps = vec({-10.0}, torch::kFloat32);
  in.labels = bools({true});
  in.kl_policy_logps = vec({-20.0}, torch::kFloat32);  // KL difference 0 → z0 = 0
  in.kl_ref_logps = vec({-20.0}, torch::kFloat32);
  auto out = make_loss(cfg)->compute(in);
  EXPECT_NEAR(out.loss.item<double>(), 0.563074, 1e-6);
  EXPECT_NEAR(out.metrics.at("weighting/mean_w"), 0.436926, 1e-6);
  EXPECT_EQ(out.metrics.at("value/gain_fraction"), 1.0);
  EXPECT_NEAR(make_loss({{"type", "kto"}})->compute(in).loss.item<double>(), 0.475021, 1e-6);
}

TEST(EnhancedKto, TverskyKahnemanWeighting) {
  auto q0 = torch::zeros({1}, torch::kFloat64);  // p = 0.5
  EXPECT_NEAR(torch::exp(log_weighted_probability(q0, WeightingForm::kTverskyKahneman, 0.61)).item<double>(),
              0.42064, 1e-5);
  // Against the direct formula, and γ = 1 is the identity.
  for (double q : {-3.0, -0.4, 0.0, 0.7, 5.0}) {
    for (double g : {0.28, 0.5, 0.61, 0.9}) {
      double p = sig(q), want = std::pow(p, g) / std::pow(std::pow(p, g) + std::pow(1 - p, g), 1 / g);
      auto got = torch::exp(log_weighted_probability(torch::full({1}, q, torch::kFloat64),
                                                     WeightingForm::kTverskyKahneman, g));
      EXPECT_NEAR(got.item<double>(), want, 1e-12) << q << " " << g;
    }
    auto id = torch::exp(log_weighted_probability(torch::full({1}, q, torch::kFloat64),
                                                  WeightingForm::kTverskyKahneman, 1.0));
    EXPECT_NEAR(id.item<double>(), sig(q), 1e-12);
  }
  // Overweights small p, underweights large p.
  auto w = [](double q) {
    return torch::exp(log_weighted_probability(torch::full({1}, q, torch::kFloat64),
                                               WeightingForm::kTverskyKahneman, 0.61)).item<double>();
  };
  EXPECT_GT(w(-3.0), sig(-3.0));
  EXPECT_LT(w(3.0), sig(3.0));
}

TEST(EnhancedKto, PrelecWeighting) {
  // p = 1/e is Prelec's fixed point for every γ; elsewhere exp(−(−ln p)^γ).
  const double q_inv_e = std::log(std::exp(-1.0) / (1 - std::exp(-1.0)));
  for (double g : {0.3, 0.65, 1.0}) {
    auto w = torch::exp(log_weighted_probability(torch::full({1}, q_inv_e, torch::kFloat64), WeightingForm::kPrelec, g));
    EXPECT_NEAR(w.item<double>(), std::exp(-1.0), 1e-12);
  }
  auto w = torch::exp(log_weighted_probability(torch::zeros({1}, torch::kFloat64), WeightingForm::kPrelec, 0.65));
  EXPECT_NEAR(w.item<double>(), std::exp(-std::pow(std::log(2.0), 0.65)), 1e-12);
}

TEST(EnhancedKto, ValueFunctionProperties) {
  ValueFunctionOptions o;  // α 0.88, λ 2.25, ε 0.01
  auto hs = torch::linspace(-5, 5, 201, torch::kFloat64);
  auto v = value_function(hs, o);
  EXPECT_EQ(value_function(torch::zeros({1}, torch::kFloat64), o).item<double>(), 0.0);
  EXPECT_TRUE((v.slice(0, 1) > v.slice(0, 0, -1)).all().item<bool>());  // strictly increasing
  auto pos = torch::linspace(0.01, 7, 50, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(value_function(-pos, o), -o.lambda * value_function(pos, o), 1e-12, 1e-12));
  // Slope at 0: α·ε^(α−1) on the gain side (autograd at exactly 0 and a one-sided difference),
  // λ·α·ε^(α−1) on the loss side.
  const double slope = o.alpha_gain * std::pow(o.eps, o.alpha_gain - 1);
  auto h0 = torch::zeros({1}, torch::kFloat64).requires_grad_(true);
  value_function(h0, o).sum().backward();
  EXPECT_NEAR(h0.grad().item<double>(), slope, 1e-12);
  const double d = 1e-8;
  EXPECT_NEAR(value_function(torch::full({1}, d, torch::kFloat64), o).item<double>() / d, slope, 1e-5);
  EXPECT_NEAR(-value_function(torch::full({1}, -d, torch::kFloat64), o).item<double>() / d, o.lambda * slope, 1e-4);
  // Different α for gains and losses against the formula.
  ValueFunctionOptions o2{0.7, 0.95, 1.5, 0.05};
  for (double h : {-2.0, -0.3, 0.4, 3.0}) {
    double want = h >= 0 ? std::pow(h + 0.05, 0.7) - std::pow(0.05, 0.7)
                         : -1.5 * (std::pow(-h + 0.05, 0.95) - std::pow(0.05, 0.95));
    EXPECT_NEAR(value_function(torch::full({1}, h, torch::kFloat64), o2).item<double>(), want, 1e-12);
  }
}

TEST(EnhancedKto, Log1mexpBothBranches) {
  for (double a : {-30.0, -5.0, -0.7, -0.69, -0.3, -1e-3, -1e-6}) {
    auto got = log1mexp(torch::full({1}, a, torch::kFloat64)).item<double>();
    EXPECT_NEAR(got, std::log(-std::expm1(a)), 1e-12 * std::max(1.0, std::abs(got))) << a;
  }
}

// ORPO's guard acts only at A = 0 exactly: just below it the value is TRL's log(1 − e^A) (no clamp
// to −1e-7), and a certain sequence gives the finite guarded value with a zero gradient.
TEST(EnhancedKto, Log1mexpGuardOnlyAtZero) {
  for (double a : {-1e-9, -1e-12}) {
    auto got = log1mexp(torch::full({1}, a, torch::kFloat64)).item<double>();
    EXPECT_NEAR(got, std::log(-std::expm1(a)), 1e-12 * std::abs(got)) << a;
    EXPECT_NEAR(log_odds(torch::full({1}, a, torch::kFloat64)).item<double>(), a - std::log(-std::expm1(a)),
                1e-12 * std::abs(got));
  }
  auto z = torch::zeros({1}, torch::dtype(torch::kFloat64).requires_grad(true));
  auto v = log_odds(z);
  EXPECT_NEAR(v.item<double>(), kMaxMeanLogp - std::log(-std::expm1(kMaxMeanLogp)), 1e-9);
  v.sum().backward();
  EXPECT_EQ(z.grad().item<double>(), 0.0);
}

// Only the KTO part and the odds-ratio term on, value and weighting off, so that the hand
// computation stays short.
json or_only(double mu) {
  json c = all_off(0.1);
  c["odds_ratio"] = {{"enabled", true}, {"weight", mu}};
  return c;
}

TEST(EnhancedKto, OddsRatioPaired) {
  // Examples 0 (desirable) and 1 (undesirable) share pair id 7; example 2 is alone (no KL pass →
  // baseline 0 for it, with estimate_kl off).
  json cfg = or_only(0.2);
  cfg["estimate_kl"] = false;
  auto loss = make_loss(cfg);
  EXPECT_FALSE(loss->needs_kl());
  LossInputs in;
  in.policy_logps = vec({-4.0, -9.0, -6.0}, torch::kFloat64, true);
  in.ref_logps = vec({-5.0, -8.0, -6.5}, torch::kFloat64);
  in.lengths = vec({8, 6, 3});
  in.labels = bools({true, false, false});
  in.pair_ids = ids({7, 7, 3});
  auto out = loss->compute(in);
  const double lo0 = log_odds_direct(-0.5), lo1 = log_odds_direct(-1.5), lo2 = log_odds_direct(-2.0);
  const double pair = -log_sig(lo0 - lo1), alone = -log_sig(-1.0 * (lo2 - 0.0));
  const double r[3] = {1.0, -1.0, 0.5}, d[3] = {1, -1, -1};
  double kto = 0;
  for (int i = 0; i < 3; ++i) kto += 1 - sig(0.1 * d[i] * r[i]);
  const double want = (kto + 0.2 * (pair + alone)) / 3;  // pair split half to each member
  EXPECT_NEAR(out.loss.item<double>(), want, 1e-12);
  EXPECT_NEAR(out.metrics.at("loss/odds_ratio"), (pair + alone) / 3, 1e-12);
  EXPECT_NEAR(out.metrics.at("odds/log_odds_chosen"), lo0, 1e-12);
  EXPECT_NEAR(out.metrics.at("odds/log_odds_rejected"), (lo1 + lo2) / 2, 1e-12);
  // Gradient of the pair term: ∂/∂lo0 = −σ(−(lo0−lo1))·μ/n, and ∂lo/∂A = 1/(1 − e^A), ∂A/∂s = 1/|y|.
  out.loss.backward();
  const double g_kto0 = -sig(0.1) * (1 - sig(0.1)) * 0.1 / 3;
  const double g_or0 = -sig(-(lo0 - lo1)) * 0.2 / 3 / (1 - std::exp(-0.5)) / 8;
  EXPECT_NEAR(in.policy_logps.grad()[0].item<double>(), g_kto0 + g_or0, 1e-12);
}

TEST(EnhancedKto, OddsRatioSameLabelOrMissingPartnerIsUnpaired) {
  json cfg = or_only(1.0);
  LossInputs in;
  in.policy_logps = vec({-4.0, -9.0}, torch::kFloat64, true);
  in.ref_logps = vec({-4.0, -9.0}, torch::kFloat64);
  in.lengths = vec({8, 6});
  in.labels = bools({true, true});
  in.pair_ids = ids({1, 1});  // same pair id but the same label: no partner
  in.kl_policy_logps = vec({-6.0, -2.0});
  in.kl_ref_logps = vec({-6.0, -2.0});
  in.kl_lengths = vec({4, 10});
  auto out = make_loss(cfg)->compute(in);
  const double b0 = log_odds_direct(-1.5), b1 = log_odds_direct(-0.2);
  const double or0 = -log_sig(log_odds_direct(-0.5) - b0), or1 = -log_sig(log_odds_direct(-1.5) - b1);
  EXPECT_NEAR(out.loss.item<double>(), (0.5 + or0 + 0.5 + or1) / 2, 1e-12);  // r = 0, z0 = 0 → 1 − σ(0)
  // Without kl_lengths the unpaired baseline cannot be formed.
  in.kl_lengths = torch::Tensor();
  EXPECT_THROW(make_loss(cfg)->compute(in), prospect::Error);
}

TEST(EnhancedKto, BcoShiftSchedule) {
  auto make = [](int64_t start, int64_t ramp) {
    EnhancedKtoOptions o = EnhancedKtoOptions::plain_kto();
    o.bco_shift = true;
    o.bco_start_step = start;
    o.bco_ramp_steps = ramp;
    return EnhancedKtoLoss(o);
  };
  auto staged = make(3, 4);
  for (auto [t, rho] : std::vector<std::pair<int64_t, double>>{{0, 0}, {2, 0}, {3, 0.25}, {4, 0.5}, {6, 1}, {50, 1}})
    EXPECT_EQ(staged.rho(t), rho) << t;
  auto immediate = make(0, 0);  // BCO's own behaviour: δ from the first step
  EXPECT_EQ(immediate.rho(0), 1.0);
  auto one = make(2, 1);
  EXPECT_EQ(one.rho(1), 0.0);
  EXPECT_EQ(one.rho(2), 1.0);
  EnhancedKtoOptions off = EnhancedKtoOptions::plain_kto();
  EXPECT_EQ(EnhancedKtoLoss(off).rho(10), 0.0);
}

TEST(EnhancedKto, BcoShiftRunningMeanAndReferencePoint) {
  EnhancedKtoOptions o = EnhancedKtoOptions::plain_kto();
  o.bco_shift = true;  // start 0, ramp 0: ρ = 1, z = δ
  EnhancedKtoLoss loss(o);
  std::vector<double> seen;
  double last_delta = 0;
  for (int step = 0; step < 3; ++step) {
    auto in = random_batch(3 + step, torch::kFloat64, 100 + step);
    in.step = step;
    for (double r : to_vector(in.policy_logps - in.ref_logps)) seen.push_back(r);
    auto out = loss.compute(in);
    double mean = 0;
    for (double r : seen) mean += r;
    mean /= seen.size();
    EXPECT_NEAR(loss.delta(), mean, 1e-12);  // updated with this batch before the loss
    EXPECT_NEAR(out.metrics.at("bco/delta"), mean, 1e-12);
    EXPECT_EQ(out.metrics.at("bco/rho"), 1.0);
    // z = δ replaces z0: the loss is KTO's with reference point δ.
    auto r = to_vector(in.policy_logps - in.ref_logps);
    auto lab = in.labels.to(torch::kInt64);
    double want = 0;
    for (size_t i = 0; i < r.size(); ++i) want += 1 - sig(0.1 * (lab[i].item<int64_t>() ? 1 : -1) * (r[i] - mean));
    EXPECT_NEAR(out.loss.item<double>(), want / r.size(), 1e-12);
    last_delta = mean;
  }
  // Evaluation never updates δ.
  EXPECT_NEAR(loss.delta(), last_delta, 1e-12);
  const double before = loss.delta();
  auto in = random_batch(5, torch::kFloat64, 999);
  in.training = false;
  loss.compute(in);
  EXPECT_EQ(loss.delta(), before);
}

TEST(EnhancedKto, BcoShiftMomentum) {
  auto loss = make_loss({{"type", "enhanced_kto"}, {"bco_shift", {{"enabled", true}, {"momentum", 0.8}}}});
  double delta = 0;
  for (int step = 0; step < 3; ++step) {
    auto in = random_batch(4, torch::kFloat64, 200 + step);
    double mean = (in.policy_logps - in.ref_logps).mean().item<double>();
    delta = 0.8 * delta + 0.2 * mean;
    auto out = loss->compute(in);
    EXPECT_NEAR(out.metrics.at("bco/delta"), delta, 1e-12);
  }
}

TEST(EnhancedKto, BcoShiftStateRoundTripIsExact) {
  json cfg = {{"type", "enhanced_kto"}, {"bco_shift", {{"enabled", true}, {"start_step", 1}, {"ramp_steps", 3}}}};
  auto a = make_loss(cfg);
  for (int step = 0; step < 3; ++step) {
    auto in = random_batch(5, torch::kFloat32, 300 + step);
    in.step = step;
    a->compute(in);
  }
  auto b = make_loss(cfg);
  b->load_state(json::parse(a->state().dump()));  // through text, as a checkpoint would
  EXPECT_EQ(b->state(), a->state());
  auto in = random_batch(6, torch::kFloat32, 400);
  in.step = 3;
  auto oa = a->compute(in), ob = b->compute(in);
  EXPECT_TRUE(torch::equal(oa.loss, ob.loss));
  EXPECT_EQ(oa.metrics, ob.metrics);
  // A state that does not belong to this loss is refused.
  EXPECT_THROW(b->load_state(json::object()), prospect::Error);
  EXPECT_THROW(b->load_state({{"type", "bco"}, {"delta", {{"mean", "0x0p+0"}, {"count", "0x1p+0"}}}}),
               prospect::Error);
}

TEST(EnhancedKto, BcoStateRoundTripIsExact) {
  auto a = make_loss({{"type", "bco"}});
  for (int step = 0; step < 3; ++step) a->compute(random_batch(5, torch::kFloat32, 500 + step));
  auto s = a->state();
  auto b = make_loss({{"type", "bco"}});
  b->load_state(json::parse(s.dump()));
  auto in = random_batch(4, torch::kFloat32, 600);
  auto oa = a->compute(in), ob = b->compute(in);
  EXPECT_EQ(oa.metrics.at("delta"), ob.metrics.at("delta"));
  EXPECT_TRUE(torch::equal(oa.loss, ob.loss));
  EXPECT_THROW(b->load_state({{"type", "bco"}, {"delta", {{"mean", "zz"}, {"count", "0x1p+0"}}}}), prospect::Error);
}

TEST(EnhancedKto, ComponentGradClipKto) {
  // value/weighting on: per-example ∂ℓ_i/∂h_i from an unclipped run, then the clipped run must give
  // clamp(∂ℓ_i/∂h_i, −c, c)·β·d_i/n at the policy log-probs, times the trainer's loss scale.
  json base = {{"type", "enhanced_kto"}, {"beta", 0.5}, {"odds_ratio", {{"enabled", false}}}};
  auto in = random_batch(6, torch::kFloat64, 700);
  const int64_t n = 6;
  auto free = in;
  free.policy_logps = in.policy_logps.detach().clone().requires_grad_(true);
  make_loss(base)->compute(free).loss.backward();
  auto sign = torch::where(in.labels, torch::ones({n}, torch::kFloat64), -torch::ones({n}, torch::kFloat64));
  auto dl_dh = free.policy_logps.grad() * n / (0.5 * sign);  // ∂ℓ_i/∂h_i
  const double c = dl_dh.abs().median().item<double>();        // clips about half of them
  ASSERT_GT((dl_dh.abs() > c * 1.01).sum().item<int64_t>(), 0);
  json clipped = base;
  clipped["component_grad_clip"] = {{"kto", c}};
  for (double scale : {1.0, 0.25}) {
    auto ci = in;
    ci.policy_logps = in.policy_logps.detach().clone().requires_grad_(true);
    ci.loss_scale = scale;
    auto out = make_loss(clipped)->compute(ci);
    auto free_out = make_loss(base)->compute(in);
    EXPECT_EQ(out.loss.item<double>(), free_out.loss.item<double>());  // identity forward
    (out.loss * scale).backward();
    auto want = dl_dh.clamp(-c, c) * 0.5 * sign / n * scale;
    EXPECT_TRUE(torch::allclose(ci.policy_logps.grad(), want, 1e-12, 1e-14)) << ci.policy_logps.grad() << want;
  }
}

TEST(EnhancedKto, ComponentGradClipOddsRatio) {
  // One pair: x = lo_w − lo_l; ∂ℓ/∂x summed over the pair = −μ·σ(−x). Clip it to c.
  const double mu = 0.5;
  json cfg = or_only(mu);
  cfg["estimate_kl"] = false;
  cfg["component_grad_clip"] = {{"odds_ratio", 0.05}};
  LossInputs in;
  in.policy_logps = vec({-40.0, -2.0}, torch::kFloat64, true);  // the winner is far worse: x ≪ 0
  in.ref_logps = vec({-40.0, -2.0}, torch::kFloat64);
  in.lengths = vec({10, 10});
  in.labels = bools({true, false});
  in.pair_ids = ids({0, 0});
  make_loss(cfg)->compute(in).loss.backward();
  const double aw = -4.0, al = -0.2, x = log_odds_direct(aw) - log_odds_direct(al);
  ASSERT_GT(mu * sig(-x), 0.05);  // the clip is active
  // Policy gradient = KTO part (r = 0: −σ'(0)·β·d/n) + clipped OR part through ∂lo/∂s = 1/((1−e^A)|y|).
  const double kto_w = -0.25 * 0.1 / 2, kto_l = 0.25 * 0.1 / 2;
  const double or_w = -0.05 / 2 / (1 - std::exp(aw)) / 10, or_l = 0.05 / 2 / (1 - std::exp(al)) / 10;
  EXPECT_NEAR(in.policy_logps.grad()[0].item<double>(), kto_w + or_w, 1e-12);
  EXPECT_NEAR(in.policy_logps.grad()[1].item<double>(), kto_l + or_l, 1e-12);
}

TEST(EnhancedKto, ClampGradIsAnIdentityWithClampedBackward) {
  auto x = torch::tensor({-2.0, 0.5, 3.0}, torch::kFloat64).requires_grad_(true);
  auto y = clamp_grad(x, 1.5);
  EXPECT_TRUE(torch::equal(y, x.detach()));
  (y * torch::tensor({-4.0, 1.0, 2.0}, torch::kFloat64)).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({-1.5, 1.0, 1.5}, torch::kFloat64)));
}

TEST(EnhancedKto, DefaultConfigIsTheModelCardConfiguration) {
  auto loss = make_loss({{"type", "enhanced_kto"}});
  auto* e = dynamic_cast<EnhancedKtoLoss*>(loss.get());
  ASSERT_NE(e, nullptr);
  const auto& o = e->options();
  EXPECT_TRUE(o.value_function && o.probability_weighting && o.odds_ratio);
  EXPECT_FALSE(o.bco_shift);
  EXPECT_EQ(o.beta, 0.1);
  EXPECT_EQ(o.value.alpha_gain, 0.88);
  EXPECT_EQ(o.value.lambda, 2.25);
  EXPECT_EQ(o.value.eps, 0.01);
  EXPECT_EQ(o.gamma, 0.61);
  EXPECT_EQ(o.odds_ratio_weight, 0.1);
  EXPECT_FALSE(o.clip_kto.has_value());
  EXPECT_TRUE(loss->needs_kl());
  EXPECT_TRUE(loss->needs_reference());
  EXPECT_EQ(loss->state(), json::object());
  auto out = loss->compute(random_batch(4, torch::kFloat32, 1));
  for (const char* k : {"loss", "kl", "loss/kto", "loss/odds_ratio", "z0", "value/gain_fraction", "weighting/mean_w"})
    EXPECT_TRUE(out.metrics.count(k)) << k;
  EXPECT_NEAR(out.metrics.at("loss"), out.metrics.at("loss/kto") + 0.1 * out.metrics.at("loss/odds_ratio"), 1e-6);
}

}  // namespace
}  // namespace prospect::loss::test
