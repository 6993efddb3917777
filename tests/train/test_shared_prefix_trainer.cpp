// train.share_prompt_prefix: the trainer's pass functions give the same losses, log-probs and LoRA
// gradients with and without prompt-prefix sharing (KTO family: KL rows and reference passes; paired
// losses: reference passes), with and without gradient checkpointing, and with LoRA dropout (where
// the policy's KL pass cannot reuse the training pass's prompt).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_util.h"
#include "train_test_util.h"

using namespace prospect;
using namespace prospect::test;

namespace {

struct StepResult {
  double loss;
  torch::Tensor pol, ref;
  std::vector<torch::Tensor> grads;
};

StepResult unpaired_step(bool share, bool gc, double dropout, const nlohmann::json& loss, bool training) {
  TempDir tmp;
  auto data = make_pref_data(8, 21);
  auto opts = tiny_options(tmp.path());
  opts.max_steps = 1;
  opts.share_prompt_prefix = share;
  opts.gradient_checkpointing = gc;
  auto policy = make_policy(1, dropout, /*nonzero_b=*/true);
  train::Trainer t(policy, loss::make_loss(loss), data, nullptr, opts);
  data::DataOptions d = opts.data;
  d.seed = opts.seed, d.batch_size = 4, d.need_kl = true;
  auto b = data::DataLoader(data, d).get(0, 1);
  torch::manual_seed(77);  // dropout masks
  auto o = t.forward_unpaired(b, training);
  StepResult r{o.loss.item<double>(), o.policy_logps, o.ref_logps, {}};
  if (training) {
    o.loss.backward();
    for (auto& p : policy.parameters()) r.grads.push_back(p.grad().clone());
  }
  return r;
}

// Log-prob sums are fp32: equal to their rounding, |a - b| <= tol * max(1, |b|).
bool close_rel(const torch::Tensor& a, const torch::Tensor& b, double tol) {
  return ((a - b).abs() <= b.abs().clamp_min(1.0) * tol).all().item<bool>();
}

void expect_close(const StepResult& a, const StepResult& b, double tol, const std::string& what) {
  EXPECT_NEAR(a.loss, b.loss, tol) << what;
  EXPECT_TRUE(close_rel(a.pol, b.pol, tol)) << what;
  EXPECT_TRUE(close_rel(a.ref, b.ref, tol)) << what;
  ASSERT_EQ(a.grads.size(), b.grads.size());
  double gmax = 0, d = 0;
  for (size_t i = 0; i < a.grads.size(); ++i) {
    gmax = std::max(gmax, a.grads[i].abs().max().item<double>());
    d = std::max(d, (a.grads[i] - b.grads[i]).abs().max().item<double>());
  }
  if (!a.grads.empty()) {
    EXPECT_GT(gmax, 1e-4) << what;  // gradients flowed: a real comparison
  }
  EXPECT_LE(d, tol) << what;
}

}  // namespace

TEST(SharePromptPrefix, UnpairedStepsEqualUnshared) {
  const nlohmann::json kto = {{"type", "kto"}, {"beta", 0.1}};
  for (const auto& lj : {enhanced_kto_json(true), kto})
    for (bool gc : {false, true}) {
      const std::string what = lj["type"].get<std::string>() + (gc ? " checkpointed" : "");
      expect_close(unpaired_step(true, gc, 0.0, lj, true), unpaired_step(false, gc, 0.0, lj, true), 1e-6, what);
    }
  // Dropout: the KL pass runs whole, the reference passes still share; the same dropout masks.
  expect_close(unpaired_step(true, true, 0.2, enhanced_kto_json(true), true),
               unpaired_step(false, true, 0.2, enhanced_kto_json(true), true), 1e-6, "dropout");
  // Evaluation (no grad; the KL rows continue the policy pass's prompts).
  expect_close(unpaired_step(true, false, 0.2, enhanced_kto_json(true), false),
               unpaired_step(false, false, 0.2, enhanced_kto_json(true), false), 1e-6, "eval");
}

TEST(SharePromptPrefix, PairedReferenceEqualsUnshared) {
  auto data = make_pref_data(8, 23);
  auto run = [&](bool share) {
    TempDir tmp;
    auto opts = tiny_options(tmp.path());
    opts.max_steps = 1;
    opts.share_prompt_prefix = share;
    train::Trainer t(make_policy(1, 0.0, true), loss::make_loss({{"type", "dpo"}, {"beta", 0.1}}), data, nullptr,
                     opts);
    data::DataOptions d = opts.data;
    d.seed = opts.seed, d.batch_size = 4, d.paired = true;
    auto o = t.forward_paired(data::PairLoader(data, d).get(0, 0), false);
    return std::make_pair(o.ref_chosen_logps, o.ref_rejected_logps);
  };
  auto [c1, r1] = run(true);
  auto [c0, r0] = run(false);
  EXPECT_TRUE(close_rel(c1, c0, 1e-6));
  EXPECT_TRUE(close_rel(r1, r0, 1e-6));
  EXPECT_GT((c0 - r0).abs().max().item<double>(), 1e-3);  // chosen and rejected differ: not a vacuous check
}
