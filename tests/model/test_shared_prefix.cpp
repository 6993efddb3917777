// Prompt-prefix sharing against whole-row log-probs (the plain path), on several batch layouts, with
// fp64 and fp32 models (the log-prob sums are fp32 either way); the grad pass's captured prompt reused by no-grad rows with
// unchanged gradients; layer checkpointing under dropout; the LM head's eager input gradient.
#include <gtest/gtest.h>

#include "prospect/model/causal_lm.h"
#include "prospect/model/logprobs.h"
#include "prospect/model/shared_prefix.h"

using namespace prospect;
using namespace prospect::model;

namespace {

CausalLM tiny(torch::ScalarType dt, uint64_t seed = 5) {
  auto c = ModelConfig::preset("tiny");
  c.vocab_size = 300;
  c.initializer_range = 0.3;  // non-trivial attention and head values
  return init_model(c, seed, dt);
}

struct Rows {
  torch::Tensor ids, attn, cmask;
};

// Rows (prompt, completion) laid out as the collate does (right padded), or left padded.
Rows layout(const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>& rows, bool left) {
  int64_t T = 0;
  for (auto& [p, c] : rows) T = std::max<int64_t>(T, (int64_t)(p.size() + c.size()));
  const int64_t B = (int64_t)rows.size();
  auto ids = torch::zeros({B, T}, torch::kInt64), attn = torch::zeros({B, T}, torch::kInt64),
       cm = torch::zeros({B, T}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b) {
    const auto& [p, c] = rows[(size_t)b];
    const int64_t n = (int64_t)(p.size() + c.size()), off = left ? T - n : 0;
    for (int64_t t = 0; t < n; ++t) {
      const bool is_p = t < (int64_t)p.size();
      ids[b][off + t] = is_p ? p[(size_t)t] : c[(size_t)(t - (int64_t)p.size())];
      attn[b][off + t] = 1;
      cm[b][off + t] = is_p ? 0 : 1;
    }
  }
  return {ids, attn, cm};
}

std::vector<int64_t> toks(int64_t n, int64_t seed) {
  std::vector<int64_t> v((size_t)n);
  for (int64_t i = 0; i < n; ++i) v[(size_t)i] = 1 + (seed * 131 + i * 37) % 297;
  return v;
}

// Target rows (x_i, y_i) and KL rows (x_i, y_{i-1}) with varied prompt and completion lengths: an
// empty prompt, an empty completion (truncated away), and completions that start alike (the shared
// part then reaches into the completion).
std::pair<Rows, Rows> kto_rows(bool left) {
  std::vector<std::vector<int64_t>> x = {toks(5, 1), toks(2, 2), {}, toks(7, 4)};
  std::vector<std::vector<int64_t>> y = {toks(4, 11), toks(6, 12), toks(3, 13), {}};
  y[1][0] = y[0][0];  // the KL row of 1 borrows y_0: one more shared position
  std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> a, k;
  for (size_t i = 0; i < x.size(); ++i) {
    a.emplace_back(x[i], y[i]);
    k.emplace_back(x[i], y[(i + x.size() - 1) % x.size()]);
  }
  return {layout(a, left), layout(k, left)};
}

// Log-prob sums are fp32 whatever the model dtype (the head's softmax runs in fp32), so both paths
// agree to fp32 rounding of the sums: |got - want| <= rel * max(1, |want|).
void expect_same(const SequenceLogps& got, const SequenceLogps& want, double rel, const std::string& what) {
  EXPECT_TRUE(torch::equal(got.count, want.count)) << what;
  auto bound = want.sum.abs().clamp_min(1.0) * rel;
  EXPECT_TRUE(((got.sum - want.sum).abs() <= bound).all().item<bool>()) << what << "\n" << got.sum << want.sum;
  EXPECT_FALSE(want.sum.isnan().any().item<bool>()) << what;
}

// A LoRA-like adapter x A^T B^T (with optional dropout on its input) on every Linear.
struct TestAdapter : LinearAdapter {
  torch::Tensor A, B;
  double p;
  TestAdapter(int64_t in, int64_t out, int seed, double dropout, torch::ScalarType dt) : p(dropout) {
    torch::manual_seed(seed);
    A = (torch::randn({2, in}, dt) * 0.2).requires_grad_(true);
    B = (torch::randn({out, 2}, dt) * 0.2).requires_grad_(true);
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& base, const torch::Tensor&) override {
    auto xd = p > 0 ? torch::dropout(x, p, true) : x;
    return base + torch::matmul(torch::matmul(xd, A.t()), B.t());
  }
};

std::vector<std::shared_ptr<TestAdapter>> attach(CausalLM& m, double dropout, torch::ScalarType dt) {
  std::vector<std::shared_ptr<TestAdapter>> out;
  int seed = 100;
  for (auto& [name, lin] : m->named_linears()) {
    auto a = std::make_shared<TestAdapter>(lin->in_features, lin->out_features, seed++, dropout, dt);
    lin->adapter = a;
    out.push_back(a);
  }
  return out;
}

std::vector<torch::Tensor> take_grads(std::vector<std::shared_ptr<TestAdapter>>& ads) {
  std::vector<torch::Tensor> g;
  for (auto& a : ads) {
    g.push_back(a->A.grad().clone()), g.push_back(a->B.grad().clone());
    a->A.mutable_grad().zero_(), a->B.mutable_grad().zero_();
  }
  return g;
}

double max_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

}  // namespace

TEST(SharedPrefix, CommonPrefixLengths) {
  auto [a, k] = kto_rows(false);
  auto s = common_prefix_lengths(a.ids, a.attn, k.ids, k.attn);
  // Prompts 5, 2, 0, 7 tokens; row 1's completions agree on their first token; row 2's completions
  // (y_2 vs y_1) differ at once; row 3 has no completion: its prompt then its KL completion's pads.
  EXPECT_EQ(s[0].item<int64_t>(), 5);
  EXPECT_EQ(s[1].item<int64_t>(), 3);
  EXPECT_EQ(s[2].item<int64_t>(), 0);
  EXPECT_EQ(s[3].item<int64_t>(), 7);
}

TEST(SharedPrefix, EqualsWholeRowsOnCollateAndLeftPaddedLayouts) {
  for (auto dt : {torch::kFloat64, torch::kFloat32}) {
    auto m = tiny(dt);
    const double tol = 1e-6;
    for (bool left : {false, true}) {
      auto [a, k] = kto_rows(left);
      const std::string what = std::string(left ? "left" : "right") + (dt == torch::kFloat64 ? " f64" : " f32");
      torch::NoGradGuard ng;
      auto want_a = sequence_logprobs(m, a.ids, a.attn, a.cmask), want_k = sequence_logprobs(m, k.ids, k.attn, k.cmask);
      EXPECT_GT(want_a.count.sum().item<int64_t>(), 8);
      auto [got_a, got_k] = shared_prefix_logprobs(m, a.ids, a.attn, a.cmask, k.ids, k.attn, k.cmask);
      expect_same(got_a, want_a, tol, what + " targets");
      expect_same(got_k, want_k, tol, what + " KL rows");
      // Rows with nothing in common (s = 0 everywhere) and identical rows (nothing left to run).
      auto none = encode_prefix(m, a.ids, a.attn, torch::zeros({a.ids.size(0)}, torch::kInt64));
      expect_same(continuation_logprobs(m, none, a.ids, a.attn, a.cmask), want_a, tol, what + " s=0");
      auto all = encode_prefix(m, a.ids, a.attn, torch::full({a.ids.size(0)}, a.ids.size(1), torch::kInt64));
      expect_same(continuation_logprobs(m, all, a.ids, a.attn, a.cmask), want_a, tol, what + " s=T");
    }
  }
}

TEST(SharedPrefix, GradPassCaptureKeepsLogprobsAndLoraGradients) {
  for (auto dt : {torch::kFloat64, torch::kFloat32}) {
    auto m = tiny(dt, 9);
    auto ads = attach(m, 0.0, dt);
    auto [a, k] = kto_rows(false);
    const auto w = torch::tensor({1.0, -0.5, 2.0, 0.7}, dt);
    for (bool gc : {false, true}) {
      // Plain: KL rows whole (no grad), targets with grad; the loss uses both (the KL term detached).
      SequenceLogps kl0, pol0;
      {
        torch::NoGradGuard ng;
        kl0 = sequence_logprobs(m, k.ids, k.attn, k.cmask);
      }
      pol0 = sequence_logprobs(m, a.ids, a.attn, a.cmask, gc);
      ((pol0.sum.to(dt) - kl0.sum.to(dt).mean()) * w).sum().backward();
      auto g0 = take_grads(ads);
      // Shared: the targets' grad pass captures the prompts, the KL rows continue them.
      SharedPrefix pre;
      pre.lengths = common_prefix_lengths(a.ids, a.attn, k.ids, k.attn);
      auto pol1 = sequence_logprobs(m, a.ids, a.attn, a.cmask, gc, &pre);
      SequenceLogps kl1 = continuation_logprobs(m, pre, k.ids, k.attn, k.cmask);
      ((pol1.sum.to(dt) - kl1.sum.to(dt).mean()) * w).sum().backward();
      auto g1 = take_grads(ads);
      const double tol = 1e-6;
      const std::string what = std::string(gc ? "checkpointed" : "plain") + (dt == torch::kFloat64 ? " f64" : " f32");
      expect_same(pol1, pol0, tol, what + " targets");
      expect_same(kl1, kl0, tol, what + " KL rows");
      double gmax = 0;
      for (auto& g : g0) gmax = std::max(gmax, g.abs().max().item<double>());
      EXPECT_GT(gmax, 1e-3) << what;
      EXPECT_LE(max_diff(g1, g0), dt == torch::kFloat64 ? 1e-12 : 1e-6) << what;
    }
  }
}

TEST(Checkpointing, DropoutMasksReplayedInRecomputation) {
  auto m = tiny(torch::kFloat64, 3);
  auto ads = attach(m, 0.3, torch::kFloat64);
  auto [a, k] = kto_rows(false);
  auto run = [&](bool gc) {
    torch::manual_seed(1234);
    auto s = sequence_logprobs(m, a.ids, a.attn, a.cmask, gc);
    s.sum.sum().backward();
    return std::make_pair(s.sum.detach(), take_grads(ads));
  };
  auto [v0, g0] = run(false);
  auto [v1, g1] = run(true);
  EXPECT_LE((v0 - v1).abs().max().item<double>(), 1e-12);  // the same masks in the forward
  EXPECT_LE(max_diff(g1, g0), 1e-10);                       // and in the recomputation
}

TEST(Logprobs, EagerHeadGradientMatchesReference) {
  torch::manual_seed(2);
  for (auto dt : {torch::kFloat32, torch::kFloat64}) {
    auto h0 = torch::randn({29, 8}, dt), w = torch::randn({41, 8}, dt);  // head frozen
    auto tg = torch::randint(0, 41, {29}, torch::kInt64);
    auto h1 = h0.clone().requires_grad_(true), h2 = h0.clone().requires_grad_(true);
    auto fast = selected_logprobs(h1, w, tg, /*chunk=*/6);
    auto ref = selected_logprobs_reference(h2, w, tg);
    EXPECT_LT((fast - ref).abs().max().item<double>(), 1e-5);
    auto g = torch::randn({29});
    (fast * g).sum().backward();
    (ref * g).sum().backward();
    // The head's softmax is fp32 for every dtype: fp32-level agreement.
    EXPECT_LT((h1.grad() - h2.grad()).abs().max().item<double>(), 1e-5);
    EXPECT_EQ(h1.grad().scalar_type(), dt);
  }
}
