// CUDA parity: the same model, adapter and loss give the same numbers on CUDA as on CPU (f32), and a
// bf16-base / fp32-LoRA training step runs on the GPU. Every test skips cleanly without a GPU.
#include <gtest/gtest.h>

#include "prospect/lora/lora.h"
#include "prospect/lora/merge.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/logprobs.h"
#include "test_util.h"

using namespace prospect;

namespace {

#define REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

model::ModelConfig tiny_config(bool tied) {
  auto c = model::ModelConfig::preset("tiny");
  c.vocab_size = 512;
  c.tie_word_embeddings = tied;
  return c;
}

torch::Tensor sample_ids(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randint(V, {B, T}, gen, torch::kLong);
}

lora::LoraConfig lora_config() {
  lora::LoraConfig cfg;
  cfg.r = 4;
  cfg.lora_alpha = 8;
  cfg.all_linear = true;
  cfg.init_lora_weights = lora::LoraInit::LinearDefault;  // B != 0: the adapter changes the outputs
  return cfg;
}

}  // namespace

TEST(Cuda, ForwardMatchesCpuF32) {
  REQUIRE_CUDA();
  for (bool tied : {true, false}) {
    auto cpu = model::init_model(tiny_config(tied), 11, torch::kFloat32);
    auto gpu = model::init_model(tiny_config(tied), 11, torch::kFloat32);
    gpu->to(torch::Device("cuda"));
    auto ids = sample_ids(2, 24, 512, 3);
    auto mask = torch::ones_like(ids);
    mask[1].slice(0, 17).zero_();  // right padding on the second row
    torch::NoGradGuard ng;
    auto a = model::token_logprobs(cpu, ids, mask);
    auto b = model::token_logprobs(gpu, ids.cuda(), mask.cuda()).cpu();
    EXPECT_LT((a - b).abs().max().item<double>(), 1e-4) << "tied=" << tied;
  }
}

TEST(Cuda, Bf16ForwardCloseToF32) {
  REQUIRE_CUDA();
  auto f32 = model::init_model(tiny_config(true), 5, torch::kFloat32);
  auto bf16 = model::init_model(tiny_config(true), 5, torch::kFloat32);
  bf16->to(torch::Device("cuda"), torch::kBFloat16);
  auto ids = sample_ids(1, 32, 512, 9);
  torch::NoGradGuard ng;
  auto a = model::token_logprobs(f32, ids);
  auto b = model::token_logprobs(bf16, ids.cuda()).cpu();
  // bf16 keeps 8 mantissa bits: per-token log-probs agree to a few hundredths.
  EXPECT_LT((a - b).abs().max().item<double>(), 0.1);
}

TEST(Cuda, ChunkedLogprobsAndGradsMatchReference) {
  REQUIRE_CUDA();
  auto gen = at::detail::createCPUGenerator(1);
  auto hidden = torch::randn({37, 64}, gen).cuda().requires_grad_(true);
  auto head = torch::randn({1000, 64}, gen).cuda() * 0.1;
  auto targets = torch::randint(1000, {37}, gen, torch::kLong).cuda();
  auto fast = model::selected_logprobs(hidden, head, targets, 8);
  auto g1 = torch::autograd::grad({fast.sum()}, {hidden})[0];
  auto ref = model::selected_logprobs_reference(hidden, head, targets);
  auto g2 = torch::autograd::grad({ref.sum()}, {hidden})[0];
  EXPECT_LT((fast - ref).abs().max().item<double>(), 1e-4);
  EXPECT_LT((g1 - g2).abs().max().item<double>(), 1e-4);
}

TEST(Cuda, LoraAdapterAndMergeMatchCpu) {
  REQUIRE_CUDA();
  auto cpu = model::init_model(tiny_config(true), 21, torch::kFloat32);
  auto gpu = model::init_model(tiny_config(true), 21, torch::kFloat32);
  gpu->to(torch::Device("cuda"));
  auto la = lora::attach_lora(cpu, lora_config(), 4);
  auto lb = lora::attach_lora(gpu, lora_config(), 4);
  // Same seeded CPU generator for both: identical adapter tensors.
  auto pa = la.named_parameters(), pb = lb.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second.cpu())) << pa[i].first;
  auto ids = sample_ids(2, 16, 512, 8);
  torch::NoGradGuard ng;
  auto a = model::token_logprobs(cpu, ids);
  auto b = model::token_logprobs(gpu, ids.cuda()).cpu();
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-4);
  lora::merge_into(gpu);
  auto c = model::token_logprobs(gpu, ids.cuda()).cpu();
  EXPECT_LT((a - c).abs().max().item<double>(), 1e-4);
}

TEST(Cuda, Bf16BaseFp32LoraTrainingStep) {
  REQUIRE_CUDA();
  auto m = model::init_model(tiny_config(true), 2, torch::kFloat32);
  m->to(torch::Device("cuda"), torch::kBFloat16);
  auto lm = lora::attach_lora(m, lora_config(), 3);
  auto params = lm.parameters();
  ASSERT_FALSE(params.empty());
  for (auto& p : params) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  auto ids = sample_ids(2, 20, 512, 4).cuda();
  auto attn = torch::ones_like(ids);
  auto comp = torch::zeros_like(ids);
  comp.slice(1, 8).fill_(1);
  auto lp = model::sequence_logprobs(m, ids, attn, comp);
  auto loss = -lp.sum.sum();
  loss.backward();
  double gnorm = 0;
  for (auto& p : params) {
    ASSERT_TRUE(p.grad().defined());
    gnorm += p.grad().pow(2).sum().item<double>();
  }
  EXPECT_GT(gnorm, 0.0);
  EXPECT_TRUE(std::isfinite(gnorm));
  // Base weights stay frozen.
  for (auto& [name, t] : m->hf_state()) EXPECT_FALSE(t.requires_grad()) << name;
}
