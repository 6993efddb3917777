// LR schedules against values hand-computed from transformers' lambdas, and AdamW against the
// closed form of its first step and against LibTorch's own torch::optim::AdamW over several steps.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "prospect/train/optimizer.h"
#include "prospect/train/schedule.h"

using namespace prospect::train;

TEST(Schedule, LinearWithWarmupMatchesHF) {
  // get_linear_schedule_with_warmup(warmup=2, total=10), base 1e-3:
  // step<2: step/2; else (10-step)/8.
  LrSchedule s{"linear", 1e-3, 2, 10};
  const double want[] = {0.0, 0.5e-3, 1e-3, 0.875e-3, 0.75e-3, 0.625e-3, 0.5e-3, 0.375e-3, 0.25e-3, 0.125e-3, 0.0};
  for (int i = 0; i <= 10; ++i) EXPECT_NEAR(s.lr_at(i), want[i], 1e-15) << i;
  EXPECT_EQ(s.lr_at(12), 0.0);  // clamped at 0 past the end
}

TEST(Schedule, CosineWithWarmupMatchesHF) {
  // get_cosine_schedule_with_warmup(warmup=1, total=5): progress=(s-1)/4, 0.5*(1+cos(pi*progress)).
  LrSchedule s{"cosine", 2e-4, 1, 5};
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.0);
  EXPECT_NEAR(s.lr_at(1), 2e-4, 1e-18);
  EXPECT_NEAR(s.lr_at(2), 2e-4 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-18);  // 1.7071e-4
  EXPECT_NEAR(s.lr_at(3), 1e-4, 1e-18);
  EXPECT_NEAR(s.lr_at(4), 2e-4 * 0.5 * (1 + std::cos(M_PI * 0.75)), 1e-18);  // 2.929e-5
  EXPECT_NEAR(s.lr_at(5), 0.0, 1e-20);
}

TEST(Schedule, ConstantIgnoresWarmupConstantWithWarmupDoesNot) {
  LrSchedule c{"constant", 1e-4, 5, 100};
  EXPECT_EQ(c.lr_at(0), 1e-4);
  LrSchedule w{"constant_with_warmup", 1e-4, 4, 100};
  EXPECT_DOUBLE_EQ(w.lr_at(1), 0.25e-4);
  EXPECT_DOUBLE_EQ(w.lr_at(4), 1e-4);
  EXPECT_DOUBLE_EQ(w.lr_at(99), 1e-4);
}

TEST(Schedule, WarmupRatioIsCeiledAsHF) {
  EXPECT_EQ(resolve_warmup_steps(0, 0.1, 37), 4);  // ceil(3.7)
  EXPECT_EQ(resolve_warmup_steps(3, 0.5, 37), 3);  // warmup_steps wins when > 0
  EXPECT_EQ(resolve_warmup_steps(0, 0.0, 37), 0);
  EXPECT_THROW((LrSchedule{"cosine_restarts", 1, 0, 1}.lr_at(0)), std::exception);
}

TEST(AdamW, FirstStepClosedForm) {
  // After one step: m = (1-b1) g, v = (1-b2) g², m̂ = g, v̂ = g², so p ← p(1-lr·wd) − lr·g/(|g|+eps).
  auto p = torch::tensor({1.0f, -2.0f, 0.5f}).set_requires_grad(true);
  p.mutable_grad() = torch::tensor({0.1f, -3.0f, 0.0f});
  AdamWOptions o;
  o.weight_decay = 0.01;
  AdamW opt({{"p", p}}, o);
  const double lr = 0.1;
  opt.step(lr);
  const double g[] = {0.1, -3.0, 0.0}, p0[] = {1.0, -2.0, 0.5};
  for (int i = 0; i < 3; ++i) {
    double want = p0[i] * (1 - lr * 0.01) - lr * g[i] / (std::fabs(g[i]) + 1e-8);
    EXPECT_NEAR(p[i].item<double>(), want, 1e-6) << i;
  }
  EXPECT_EQ(opt.steps(), 1);
}

TEST(AdamW, MatchesLibTorchAdamWOverSteps) {
  torch::manual_seed(0);
  auto a = torch::randn({5, 7}).set_requires_grad(true);
  auto b = a.detach().clone().set_requires_grad(true);
  AdamWOptions o;
  o.weight_decay = 0.05;
  AdamW mine({{"a", a}}, o);
  torch::optim::AdamW ref({b}, torch::optim::AdamWOptions(3e-3).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.05));
  for (int s = 0; s < 6; ++s) {
    auto g = torch::randn({5, 7});
    a.mutable_grad() = g.clone();
    b.mutable_grad() = g.clone();
    mine.step(3e-3);
    ref.step();
  }
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-7)) << (a - b).abs().max().item<double>();
}

TEST(AdamW, StateRoundTripIsExact) {
  torch::manual_seed(1);
  auto a = torch::randn({3, 4}).set_requires_grad(true);
  AdamW opt({{"a", a}}, {});
  a.mutable_grad() = torch::randn({3, 4});
  opt.step(1e-2);
  auto st = opt.state();
  auto a2 = a.detach().clone().set_requires_grad(true);
  AdamW opt2({{"a", a2}}, {});
  opt2.load_state([&](const std::string& k) {
    for (auto& [n, t] : st) if (n == k) return t;
    return torch::Tensor();
  }, "test");
  auto g = torch::randn({3, 4});
  a.mutable_grad() = g.clone();
  a2.mutable_grad() = g.clone();
  opt.step(1e-2);
  opt2.step(1e-2);
  EXPECT_TRUE(torch::equal(a, a2));
  EXPECT_THROW(opt2.load_state([](const std::string&) { return torch::Tensor(); }, "x"), std::exception);
}

TEST(AdamW, ClipGradNormAsTorch) {
  auto a = torch::zeros({2}).set_requires_grad(true), b = torch::zeros({1}).set_requires_grad(true);
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  double n = AdamW::clip_grad_norm({a, b}, 1.0);
  EXPECT_NEAR(n, 5.0, 1e-6);  // reported before clipping
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_NEAR(b.grad()[0].item<double>(), 4.0 / (5.0 + 1e-6), 1e-6);
  // Below the threshold nothing changes.
  double n2 = AdamW::clip_grad_norm({a, b}, 10.0);
  EXPECT_NEAR(n2, 1.0, 1e-5);
  EXPECT_NEAR(b.grad()[0].item<double>(), 4.0 / (5.0 + 1e-6), 1e-6);
}
