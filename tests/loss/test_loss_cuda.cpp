// CUDA gives the CPU results (loss, metrics, gradients) for every golden case; skipped without a GPU.
#include "loss_test_util.h"
#include "prospect/core/compat.h"
#include "prospect/loss/loss.h"
#include "prospect/loss/running_mean.h"

namespace prospect::loss::test {
namespace {

LossInputs to_device(const LossInputs& in, const torch::Device& dev) {
  LossInputs o = in;
  auto mv = [&](torch::Tensor& t) {
    if (!t.defined()) return;
    bool g = t.requires_grad();
    t = t.detach().to(dev).requires_grad_(g);
  };
  for (auto* t : {&o.policy_logps, &o.ref_logps, &o.lengths, &o.labels, &o.kl_policy_logps, &o.kl_ref_logps,
                  &o.kl_lengths, &o.pair_ids, &o.chosen_logps, &o.rejected_logps, &o.ref_chosen_logps,
                  &o.ref_rejected_logps, &o.chosen_lengths, &o.rejected_lengths, &o.nll_sum, &o.nll_count})
    mv(*t);
  return o;
}

TEST(LossCuda, MatchesCpuOnEveryGoldenCase) {
  if (!compat::cuda_available()) GTEST_SKIP() << "no CUDA device";
  auto j = read_json(prospect::test::golden_dir() / "loss" / "losses.json");
  for (auto dt : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& c : j.at("cases")) {
      SCOPED_TRACE(c.at("name").get<std::string>());
      auto cpu = make_loss(c.at("config")), gpu = make_loss(c.at("config"));
      for (const auto& s : c.at("steps")) {
        auto in_c = inputs_from_json(s.at("inputs"), dt);
        auto in_g = to_device(in_c, torch::Device(torch::kCUDA));
        auto oc = cpu->compute(in_c), og = gpu->compute(in_g);
        EXPECT_TRUE(og.loss.is_cuda());
        const double tol = dt == torch::kFloat32 ? 1e-6 : 1e-12;
        EXPECT_NEAR(oc.loss.item<double>(), og.loss.item<double>(), tol * std::max(1.0, std::abs(oc.loss.item<double>())));
        ASSERT_EQ(oc.metrics.size(), og.metrics.size());
        for (const auto& [k, v] : oc.metrics) EXPECT_NEAR(v, og.metrics.at(k), tol * std::max(1.0, std::abs(v))) << k;
        oc.loss.backward();
        og.loss.backward();
        auto lc = grad_leaves(in_c), lg = grad_leaves(in_g);
        for (size_t i = 0; i < lc.size(); ++i) {
          if (!lc[i].second.grad().defined()) continue;
          ASSERT_TRUE(lg[i].second.grad().defined());
          EXPECT_TRUE(torch::allclose(lc[i].second.grad(), lg[i].second.grad().cpu(), tol, tol)) << lc[i].first;
        }
      }
      // δ sums the batch on each device in its own order: equal to rounding, not bit for bit.
      auto sc = cpu->state(), sg = gpu->state();
      if (sc.contains("delta")) sc = sc["delta"], sg = sg["delta"];
      if (sc.contains("bco_delta")) sc = sc["bco_delta"], sg = sg["bco_delta"];
      for (const char* k : {"mean", "count"}) {
        if (!sc.contains(k)) continue;
        double a = double_from_json(sc[k], k), b = double_from_json(sg[k], k);
        EXPECT_NEAR(a, b, 1e-6 * std::max(1.0, std::abs(a))) << k;
      }
    }
  }
}

}  // namespace
}  // namespace prospect::loss::test
