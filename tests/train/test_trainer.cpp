// The real training loop on a tiny in-process model: the first-step loss against the loss module fed
// with separately computed log-probs, recorded losses, bitwise resume, Enhanced KTO with every
// component off = KTO, gradient accumulation, the non-finite guard and checkpoint rotation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "prospect/core/fs.h"
#include "prospect/model/linear.h"
#include "prospect/model/logprobs.h"
#include "prospect/train/svg_plot.h"
#include "test_util.h"
#include "train_test_util.h"

using namespace prospect;
using namespace prospect::test;

namespace {

std::vector<double> losses_of(const std::filesystem::path& out) {
  std::vector<double> v;
  for (auto& r : train::read_metrics_jsonl(out / "metrics.jsonl"))
    if (r.contains("loss")) v.push_back(r["loss"].get<double>());
  return v;
}

struct ThreadGuard {
  int prev = torch::get_num_threads();
  ThreadGuard() { torch::set_num_threads(1); }
  ~ThreadGuard() { torch::set_num_threads(prev); }
};

}  // namespace

TEST(Trainer, FirstStepLossEqualsLossOfSeparateLogprobs) {
  TempDir tmp;
  auto data = make_pref_data(8, 11);
  auto policy = make_policy(1, 0.0, /*nonzero_b=*/true);  // policy != reference from the start
  std::shared_ptr<loss::Loss> l = loss::make_loss(enhanced_kto_json(true));
  auto opts = tiny_options(tmp.path());
  opts.max_steps = 1;
  train::Trainer t(policy, l, data, nullptr, opts);

  // Independently: the first micro-batch, policy / KL / reference log-probs through the model API.
  data::DataOptions d = opts.data;
  d.seed = opts.seed, d.batch_size = 4, d.need_kl = true;
  data::DataLoader loader(data, d);
  auto b = loader.get(0, 0);
  auto& m = policy.model();
  loss::LossInputs in;
  {
    torch::NoGradGuard ng;
    auto pol = model::sequence_logprobs(m, b.input_ids, b.attention_mask, b.completion_mask);
    auto kl = model::sequence_logprobs(m, b.kl_input_ids, b.kl_attention_mask, b.kl_completion_mask);
    model::AdaptersDisabled off;
    in.ref_logps = model::sequence_logprobs(m, b.input_ids, b.attention_mask, b.completion_mask).sum;
    in.kl_ref_logps = model::sequence_logprobs(m, b.kl_input_ids, b.kl_attention_mask, b.kl_completion_mask).sum;
    in.policy_logps = pol.sum, in.lengths = pol.count, in.kl_policy_logps = kl.sum, in.kl_lengths = kl.count;
  }
  in.labels = b.labels, in.pair_ids = b.pair_ids;
  auto fresh = loss::make_loss(enhanced_kto_json(true));
  const double want = fresh->compute(in).loss.item<double>();
  EXPECT_GT(std::fabs((in.policy_logps - in.ref_logps).sum().item<double>()), 1e-4);  // r != 0: a real check

  t.train();
  auto ls = losses_of(tmp.path());
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_NEAR(ls[0], want, 1e-6);
}

TEST(Trainer, RecordedLossesAndArtifacts) {
  ThreadGuard tg;
  TempDir tmp;
  auto data = make_pref_data(12, 5);
  auto opts = tiny_options(tmp.path());
  opts.learning_rate = 5e-3;
  opts.max_steps = 4;
  train::Trainer t(make_policy(), loss::make_loss(enhanced_kto_json(true)), data, nullptr, opts);
  auto summary = t.train();
  auto ls = losses_of(tmp.path());
  ASSERT_EQ(ls.size(), 4u);
  // Recorded from this implementation (tiny model seed 1, adapter seed 7, data seed 5, trainer seed 3).
  const std::vector<double> recorded = {0.6476329565, 0.6283504367, 0.6477040648, 0.6470712423};
  ASSERT_EQ(recorded.size(), ls.size());
  for (size_t i = 0; i < ls.size(); ++i) EXPECT_NEAR(ls[i], recorded[i], 1e-4) << "step " << i + 1;
  EXPECT_TRUE(std::filesystem::exists(tmp / "adapter" / "adapter_model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "adapter" / "adapter_config.json"));
  auto recs = train::read_metrics_jsonl(tmp / "metrics.jsonl");
  for (const char* k : {"step", "epoch", "loss", "learning_rate", "grad_norm", "kl", "rewards/chosen",
                        "rewards/rejected", "rewards/margins", "logps/chosen", "loss/kto", "loss/odds_ratio",
                        "train/skipped_steps", "tokens_per_second"})
    EXPECT_TRUE(recs.back().contains(k)) << k;
  EXPECT_EQ(summary["global_step"], 4);
}

TEST(Trainer, ResumeIsBitwiseIdentical) {
  ThreadGuard tg;
  TempDir tmp;
  auto data = make_pref_data(10, 9);
  auto run = [&](const std::filesystem::path& out, int64_t stop, bool resume) {
    auto opts = tiny_options(out);
    opts.per_device_train_batch_size = 2;
    opts.gradient_accumulation_steps = 2;
    opts.num_train_epochs = 2;  // crosses an epoch boundary (5 micro-batches per epoch: a partial update)
    opts.save_steps = 2;
    opts.stop_after_steps = stop;
    opts.lr_scheduler_type = "cosine";
    opts.warmup_steps = 1;
    auto policy = make_policy(1, /*dropout=*/0.1);  // dropout: RNG state must be restored too
    train::Trainer t(policy, loss::make_loss(enhanced_kto_json(true)), data, nullptr, opts);
    std::optional<std::filesystem::path> r;
    if (resume) r = train::list_checkpoints(out).back();
    t.train(r);
    std::vector<torch::Tensor> ps;
    for (auto& [n, p] : policy.named_parameters()) ps.push_back(p.detach().clone());
    return ps;
  };
  auto full = run(tmp / "full", -1, false);
  run(tmp / "split", 3, false);  // "killed" after step 3: the last checkpoint is checkpoint-2
  ASSERT_EQ(train::list_checkpoints(tmp / "split").back().filename(), "checkpoint-2");
  auto resumed = run(tmp / "split", -1, true);
  ASSERT_EQ(full.size(), resumed.size());
  for (size_t i = 0; i < full.size(); ++i) EXPECT_TRUE(torch::equal(full[i], resumed[i])) << i;
  // The metrics file of the resumed run reads as one run (steps 1..6, the killed step 3 not doubled).
  auto a = losses_of(tmp / "full"), b = losses_of(tmp / "split");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
}

TEST(Trainer, EnhancedKtoWithComponentsOffEqualsKto) {
  ThreadGuard tg;
  TempDir tmp;
  auto data = make_pref_data(8, 21);
  auto go = [&](const nlohmann::json& lj, const std::string& name) {
    auto opts = tiny_options(tmp / name);
    opts.max_steps = 3;
    opts.learning_rate = 1e-2;
    train::Trainer t(make_policy(), loss::make_loss(lj), data, nullptr, opts);
    t.train();
    return losses_of(tmp / name);
  };
  auto a = go(enhanced_kto_json(false), "ekto");
  auto b = go({{"type", "kto"}, {"beta", 0.1}}, "kto");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-7) << i;
  EXPECT_NE(a[1], a[0]);  // it trained
}

TEST(Trainer, GradientAccumulationMatchesLargerBatch) {
  ThreadGuard tg;
  TempDir tmp;
  // Equal-length sequences and a token-mean loss without a KL pass (SFT): the mean of two micro-batch
  // means equals the mean over the batch, so batch 4 × GA 1 and batch 2 × GA 2 give the same update.
  auto data = make_pref_data(4, 33, 512, /*fixed_len=*/true);
  auto go = [&](int64_t bs, int64_t ga, const std::string& name) {
    auto opts = tiny_options(tmp / name);
    opts.per_device_train_batch_size = bs;
    opts.gradient_accumulation_steps = ga;
    opts.max_steps = 2;
    opts.lr_scheduler_type = "constant";
    auto policy = make_policy();
    train::Trainer t(policy, loss::make_loss({{"type", "sft"}}), data, nullptr, opts);
    t.train();
    std::vector<torch::Tensor> ps;
    for (auto& [n, p] : policy.named_parameters()) ps.push_back(p.detach().clone());
    return std::make_pair(ps, losses_of(tmp / name));
  };
  auto [p1, l1] = go(4, 1, "b4");
  auto [p2, l2] = go(2, 2, "b2ga2");
  for (size_t i = 0; i < l1.size(); ++i) EXPECT_NEAR(l1[i], l2[i], 1e-5);
  for (size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(torch::allclose(p1[i], p2[i], 1e-4, 1e-6)) << i;
}

TEST(Trainer, NonFiniteStepsAreSkippedThenStop) {
  TempDir tmp;
  auto data = make_pref_data(8, 2);
  auto policy = make_policy();
  {
    torch::NoGradGuard ng;
    for (auto& [n, p] : policy.named_parameters()) p.fill_(std::numeric_limits<float>::quiet_NaN());
  }
  auto opts = tiny_options(tmp.path());
  opts.max_steps = 10;
  opts.max_consecutive_skips = 3;
  train::Trainer t(policy, loss::make_loss(enhanced_kto_json(true)), data, nullptr, opts);
  try {
    t.train();
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("max_consecutive_skips"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t.state().skipped_steps, 3);
  EXPECT_EQ(t.optimizer().steps(), 0);  // no update was applied
}

TEST(Trainer, CheckpointContentsAndRotation) {
  TempDir tmp;
  auto data = make_pref_data(8, 4);
  auto opts = tiny_options(tmp.path());
  opts.per_device_train_batch_size = 2;
  opts.max_steps = 5;
  opts.save_steps = 1;
  opts.save_total_limit = 2;
  train::Trainer t(make_policy(), loss::make_loss(enhanced_kto_json(true)), data, nullptr, opts);
  t.train();
  auto cks = train::list_checkpoints(tmp.path());
  ASSERT_EQ(cks.size(), 2u);
  EXPECT_EQ(cks[0].filename(), "checkpoint-4");
  EXPECT_EQ(cks[1].filename(), "checkpoint-5");
  for (const char* f : {"adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors", "scheduler.json",
                        "rng_state.safetensors", "trainer_state.json"})
    EXPECT_TRUE(std::filesystem::exists(cks[1] / f)) << f;
  auto st = read_json_file(cks[1] / "trainer_state.json");
  EXPECT_EQ(st["global_step"], 5);
  EXPECT_EQ(st["log_history"].size(), 5u);
  EXPECT_TRUE(st.contains("cursor"));
}

TEST(Trainer, EvaluationReportsPreferenceAccuracy) {
  TempDir tmp;
  auto data = make_pref_data(8, 4), eval = make_pref_data(6, 99);
  auto opts = tiny_options(tmp.path());
  opts.max_steps = 2;
  opts.eval_on_start = true;
  opts.eval_steps = 1;
  train::Trainer t(make_policy(), loss::make_loss(enhanced_kto_json(true)), data, &eval, opts);
  t.train();
  int evals = 0;
  for (auto& r : train::read_metrics_jsonl(tmp / "metrics.jsonl")) {
    if (!r.contains("eval_loss")) continue;
    ++evals;
    EXPECT_EQ(r["eval_pairs"], 6);
    double acc = r["eval_preference_accuracy"];
    EXPECT_GE(acc, 0.0);
    EXPECT_LE(acc, 1.0);
    if (r["step"] == 0) {
      EXPECT_EQ(acc, 0.0);  // fresh adapter (B = 0): policy == reference, no pair wins
    }
    EXPECT_TRUE(r.contains("eval_rewards/chosen"));
  }
  EXPECT_EQ(evals, 3);  // start, step 1, step 2
}

TEST(Trainer, PrecomputedReferenceGivesTheSameRunAndIsCached) {
  ThreadGuard tg;
  TempDir tmp;
  auto data = make_pref_data(8, 13);
  auto go = [&](bool pre, const std::string& name) {
    auto opts = tiny_options(tmp / name);
    opts.max_steps = 3;
    opts.precompute_ref_logps = pre;
    opts.ref_cache_file = tmp / "cache" / "ref.safetensors";
    // B != 0: the precomputed and live reference passes round differently, and with B = 0 (rewards 0 up
    // to that rounding) its sign would choose the side of the value function's kink at step 1.
    train::Trainer t(make_policy(1, 0.0, /*nonzero_b=*/true), loss::make_loss(enhanced_kto_json(true)), data,
                     nullptr, opts);
    t.train();
    return losses_of(tmp / name);
  };
  auto live = go(false, "live"), pre = go(true, "pre");
  ASSERT_EQ(live.size(), pre.size());
  for (size_t i = 0; i < live.size(); ++i) EXPECT_NEAR(live[i], pre[i], 1e-6) << i;
  ASSERT_TRUE(std::filesystem::exists(tmp / "cache" / "ref.safetensors"));
  auto again = go(true, "pre2");  // served from the cache file
  for (size_t i = 0; i < live.size(); ++i) EXPECT_NEAR(again[i], pre[i], 1e-7) << i;
}

TEST(Trainer, PairedLossesTrain) {
  TempDir tmp;
  auto data = make_pref_data(8, 17), eval = make_pref_data(4, 18);
  for (const char* type : {"dpo", "orpo", "simpo"}) {
    auto opts = tiny_options(tmp / type);
    opts.per_device_train_batch_size = 2;
    opts.max_steps = 3;
    opts.learning_rate = 1e-2;
    train::Trainer t(make_policy(), loss::make_loss({{"type", type}}), data, &eval, opts);
    t.train();
    auto ls = losses_of(tmp / type);
    ASSERT_EQ(ls.size(), 3u) << type;
    for (double v : ls) EXPECT_TRUE(std::isfinite(v)) << type;
    if (std::string(type) == "dpo") {
      EXPECT_NEAR(ls[0], std::log(2.0), 1e-6);  // r = 0 at start: -log σ(0)
    }
    auto recs = train::read_metrics_jsonl(tmp / type / "metrics.jsonl");
    EXPECT_TRUE(recs.back().contains("eval_preference_accuracy")) << type;
  }
}

// Evaluation computes z0 as TRL's evaluation does: from the eval split's KL completions (each
// example's prompt with another pair's completion of the same eval micro-batch), policy minus
// reference, mean, clamped at 0; the eval loss uses that z0. Checked against an independent
// computation through the model API, with a policy that differs from the reference.
TEST(Trainer, EvaluationComputesZ0FromKlCompletions) {
  ThreadGuard tg;
  TempDir tmp;
  auto train_data = make_pref_data(8, 11);
  auto eval_data = make_pref_data(6, 12);
  auto policy = make_policy(1, 0.0, /*nonzero_b=*/true);
  auto opts = tiny_options(tmp.path());
  const nlohmann::json lj = {{"type", "kto"}, {"beta", 0.1}};
  train::Trainer t(policy, loss::make_loss(lj), train_data, &eval_data, opts);
  auto ev = t.evaluate();

  data::DataOptions d = opts.data;
  d.seed = opts.seed, d.batch_size = opts.per_device_eval_batch_size, d.need_kl = true, d.shuffle = false;
  data::DataLoader loader(eval_data, d);
  auto& m = policy.model();
  double kl_sum = 0, loss_sum = 0, raw_abs = 0;
  for (int64_t i = 0; i < loader.num_batches(); ++i) {
    auto b = loader.get(0, i);
    loss::LossInputs in;
    torch::NoGradGuard ng;
    auto pol = model::sequence_logprobs(m, b.input_ids, b.attention_mask, b.completion_mask);
    auto kl = model::sequence_logprobs(m, b.kl_input_ids, b.kl_attention_mask, b.kl_completion_mask);
    {
      model::AdaptersDisabled off;
      in.ref_logps = model::sequence_logprobs(m, b.input_ids, b.attention_mask, b.completion_mask).sum;
      in.kl_ref_logps = model::sequence_logprobs(m, b.kl_input_ids, b.kl_attention_mask, b.kl_completion_mask).sum;
    }
    in.policy_logps = pol.sum, in.lengths = pol.count, in.kl_policy_logps = kl.sum, in.kl_lengths = kl.count;
    in.labels = b.labels, in.pair_ids = b.pair_ids, in.training = false;
    const double raw = (in.kl_policy_logps - in.kl_ref_logps).mean().item<double>();
    raw_abs = std::max(raw_abs, std::fabs(raw));
    auto out = loss::make_loss(lj)->compute(in);
    EXPECT_NEAR(out.metrics.at("kl"), std::max(0.0, raw), 1e-6) << "batch " << i;
    kl_sum += out.metrics.at("kl");
    loss_sum += out.loss.item<double>();
  }
  EXPECT_GT(raw_abs, 1e-3);  // the policy differs from the reference on the KL rows: a real check
  const double nb = (double)loader.num_batches();
  EXPECT_NEAR(ev.at("eval_kl"), kl_sum / nb, 1e-6);
  EXPECT_NEAR(ev.at("eval_loss"), loss_sum / nb, 1e-6);
}
