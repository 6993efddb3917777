// Log-likelihood scoring: the KV-cache fast path against the plain path and against sums of
// model::token_logprobs over each full sequence; the harness's context/continuation split.
#include <gtest/gtest.h>

#include <filesystem>

#include "prospect/eval/preference.h"
#include "prospect/eval/scorer.h"
#include "prospect/lora/lora.h"
#include "prospect/model/logprobs.h"
#include "test_util.h"

using namespace prospect;
using eval::TokenRequest;

namespace {
model::CausalLM tiny_model(int64_t vocab = 97) {
  auto c = model::ModelConfig::preset("tiny");
  c.vocab_size = vocab;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 16;
  c.max_position_embeddings = 256;
  auto m = model::init_model(c, 7, torch::kFloat32);
  m->eval();
  return m;
}

// Independent expectation: each request alone through token_logprobs, summing the continuation
// positions of the harness's window (ctx + cont)[-(max_length+1):].
double expected_ll(model::CausalLM& m, const TokenRequest& r, int64_t max_length) {
  std::vector<int64_t> seq = r.context;
  seq.insert(seq.end(), r.continuation.begin(), r.continuation.end());
  if ((int64_t)seq.size() > max_length + 1) seq.erase(seq.begin(), seq.end() - (max_length + 1));
  auto ids = torch::tensor(seq, torch::kLong).unsqueeze(0);
  torch::NoGradGuard ng;
  auto lp = model::token_logprobs(m, ids);  // [1, T]
  const int64_t T = (int64_t)seq.size();
  return lp[0].narrow(0, T - (int64_t)r.continuation.size(), (int64_t)r.continuation.size()).sum().item<double>();
}

std::vector<TokenRequest> sample_requests() {
  torch::manual_seed(3);
  auto rnd = [](int64_t n) {
    auto t = torch::randint(1, 97, {n}, torch::kLong);
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
  };
  std::vector<TokenRequest> reqs;
  // Questions of different context lengths, 2-4 choices of 1-5 tokens each.
  for (int64_t q = 0; q < 5; ++q) {
    auto ctx = rnd(3 + 4 * q);
    for (int64_t c = 0; c < 2 + q % 3; ++c) reqs.push_back({ctx, rnd(1 + (q + c) % 5)});
  }
  reqs.push_back(reqs[2]);               // an identical request, scored once
  reqs.push_back({rnd(1), rnd(4)});      // one-token context
  return reqs;
}
}  // namespace

TEST(Scorer, FastPathMatchesTokenLogprobSumsAndPlainPath) {
  auto m = tiny_model();
  auto reqs = sample_requests();
  std::vector<double> want;
  for (const auto& r : reqs) want.push_back(expected_ll(m, r, 256));
  for (int64_t bs : {1, 3, 64}) {
    eval::ScoreOptions o;
    o.batch_size = bs;
    auto fast = eval::score_requests(m, reqs, o);
    auto plain = eval::score_requests_reference(m, reqs, o);
    ASSERT_EQ(fast.size(), reqs.size());
    for (size_t i = 0; i < reqs.size(); ++i) {
      SCOPED_TRACE("batch " + std::to_string(bs) + " request " + std::to_string(i));
      EXPECT_NEAR(fast[i], want[i], 1e-4);
      EXPECT_NEAR(plain[i], want[i], 1e-4);
      EXPECT_LT(fast[i], 0.0);
    }
  }
}

TEST(Scorer, LongRequestsUseTheHarnessWindow) {
  auto m = tiny_model();
  auto reqs = sample_requests();
  eval::ScoreOptions o;
  o.max_length = 8;  // most requests exceed 9 tokens and lose their start
  auto fast = eval::score_requests(m, reqs, o);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_NEAR(fast[i], expected_ll(m, reqs[i], 8), 1e-4) << i;
}

TEST(Scorer, EncodePairMovesContextTrailingSpaceToContinuation) {
  const auto dir = test::qwen3_tokenizer_dir();
  if (!std::filesystem::exists(dir / "tokenizer.json")) GTEST_SKIP() << "Qwen3 tokenizer not fetched";
  auto tok = tokenizer::Tokenizer::load(dir);
  // The context's trailing space joins the continuation: " Paris" is one token, "Paris" after a
  // separate " " would not be.
  auto r = eval::encode_pair(*tok, "The capital of France is ", "Paris", eval::prefix_token_id(*tok));
  EXPECT_EQ(r.context, tok->encode("The capital of France is"));
  auto whole = tok->encode("The capital of France is Paris");
  EXPECT_EQ(r.continuation, std::vector<int64_t>(whole.begin() + (std::ptrdiff_t)r.context.size(), whole.end()));
  EXPECT_EQ(tok->decode(r.continuation), " Paris");
  EXPECT_EQ(r.continuation, tok->encode(" Paris"));
  // Empty context: the prefix token (Qwen3 has no BOS -> EOS) is the context.
  auto e = eval::encode_pair(*tok, "", "Hello", eval::prefix_token_id(*tok));
  ASSERT_EQ(e.context.size(), 1u);
  EXPECT_EQ(e.context[0], *eval::prefix_token_id(*tok));
}

TEST(Scorer, PreferencePolicyAgainstAdapterDisabledReference) {
  auto m = tiny_model();
  lora::LoraConfig cfg;
  cfg.r = 4;
  cfg.lora_alpha = 8;
  cfg.init_lora_weights = lora::LoraInit::LinearDefault;  // B != 0: the adapter changes the outputs
  lora::AttachOptions ao;
  ao.trainable = false;
  lora::attach_lora(m, cfg, 11, ao);
  std::vector<data::PairExample> pairs(2);
  pairs[0].prompt_ids = {5, 6, 7};
  pairs[0].chosen_ids = {8, 9};
  pairs[0].rejected_ids = {10, 11, 12};
  pairs[1].prompt_ids = {20, 21};
  pairs[1].chosen_ids = {22};
  pairs[1].rejected_ids = {23, 24};
  auto lp = eval::pair_logps(m, pairs, {});
  for (size_t i = 0; i < pairs.size(); ++i) {
    TokenRequest c{pairs[i].prompt_ids, pairs[i].chosen_ids}, r{pairs[i].prompt_ids, pairs[i].rejected_ids};
    EXPECT_NEAR(lp.policy_chosen[i], expected_ll(m, c, 256), 1e-4);
    EXPECT_NEAR(lp.policy_rejected[i], expected_ll(m, r, 256), 1e-4);
    model::AdaptersDisabled off;
    EXPECT_NEAR(lp.ref_chosen[i], expected_ll(m, c, 256), 1e-4);
    EXPECT_NEAR(lp.ref_rejected[i], expected_ll(m, r, 256), 1e-4);
  }
  EXPECT_GT(std::abs(lp.policy_chosen[0] - lp.ref_chosen[0]), 1e-6);
}
