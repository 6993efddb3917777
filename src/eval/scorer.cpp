#include "prospect/eval/scorer.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "prospect/core/error.h"
#include "prospect/eval/pytext.h"
#include "prospect/model/logprobs.h"

namespace prospect::eval {

std::optional<int64_t> prefix_token_id(const tokenizer::Tokenizer& tok) {
  const auto& sp = tok.special_tokens();
  if (sp.bos_id) return sp.bos_id;
  return sp.eos_id;
}

TokenRequest encode_pair(const tokenizer::Tokenizer& tok, const std::string& context, const std::string& continuation,
                         std::optional<int64_t> prefix_token, bool add_special_tokens) {
  TokenRequest r;
  if (context.empty()) {
    check(prefix_token.has_value(), "encode_pair", "empty context and the tokenizer has neither BOS nor EOS");
    r.context = {*prefix_token};
    r.continuation = tok.encode(continuation, add_special_tokens);
    return r;
  }
  // HFLM._encode_pair: the context's trailing whitespace belongs to the continuation.
  std::string ctx = pytext::rstrip(context);
  std::string cont = context.substr(ctx.size()) + continuation;
  std::vector<int64_t> whole = tok.encode(ctx + cont, add_special_tokens);
  r.context = tok.encode(ctx, add_special_tokens);
  if (r.context.size() < whole.size()) r.continuation.assign(whole.begin() + (std::ptrdiff_t)r.context.size(), whole.end());
  return r;
}

std::vector<TokenRequest> encode_requests(const tokenizer::Tokenizer& tok,
                                          const std::vector<std::pair<std::string, std::string>>& pairs,
                                          std::optional<int64_t> prefix_token, bool add_special_tokens) {
  std::vector<TokenRequest> out(pairs.size());
  std::map<std::string, std::vector<int64_t>> ctx_cache;
  std::vector<std::string> wholes;
  std::vector<size_t> whole_of;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& [context, continuation] = pairs[i];
    if (context.empty()) {
      out[i] = encode_pair(tok, context, continuation, prefix_token, add_special_tokens);
      continue;
    }
    const std::string ctx = pytext::rstrip(context);
    auto it = ctx_cache.find(ctx);
    if (it == ctx_cache.end()) it = ctx_cache.emplace(ctx, tok.encode(ctx, add_special_tokens)).first;
    out[i].context = it->second;
    wholes.push_back(context + continuation);  // == ctx + (trailing whitespace + continuation)
    whole_of.push_back(i);
  }
  auto encoded = tok.encode_batch(wholes, add_special_tokens);
  for (size_t k = 0; k < encoded.size(); ++k) {
    TokenRequest& r = out[whole_of[k]];
    if (r.context.size() < encoded[k].size())
      r.continuation.assign(encoded[k].begin() + (std::ptrdiff_t)r.context.size(), encoded[k].end());
  }
  return out;
}

namespace {

int64_t effective_max_length(model::CausalLM& model, const ScoreOptions& opts) {
  return opts.max_length > 0 ? opts.max_length : model->config().max_position_embeddings;
}


// The harness's input window: the last max_length + 1 tokens of context + continuation.
std::vector<int64_t> window(const TokenRequest& r, int64_t max_length) {
  std::vector<int64_t> seq = r.context;
  seq.insert(seq.end(), r.continuation.begin(), r.continuation.end());
  if ((int64_t)seq.size() > max_length + 1) seq.erase(seq.begin(), seq.end() - (max_length + 1));
  return seq;
}

}  // namespace

std::vector<double> score_requests_reference(model::CausalLM& model, const std::vector<TokenRequest>& reqs,
                                             const ScoreOptions& opts) {
  torch::NoGradGuard no_grad;
  const int64_t max_len = effective_max_length(model, opts);
  const torch::Device dev = model->device();
  std::vector<double> out(reqs.size(), 0.0);
  std::vector<size_t> order(reqs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reqs[a].context.size() + reqs[a].continuation.size() > reqs[b].context.size() + reqs[b].continuation.size();
  });
  const int64_t B = std::max<int64_t>(1, opts.batch_size);
  for (size_t start = 0; start < order.size(); start += (size_t)B) {
    const size_t end = std::min(order.size(), start + (size_t)B);
    std::vector<std::vector<int64_t>> seqs;
    int64_t T = 1;
    for (size_t i = start; i < end; ++i) {
      seqs.push_back(window(reqs[order[i]], max_len));
      T = std::max<int64_t>(T, (int64_t)seqs.back().size());
    }
    const int64_t n = (int64_t)seqs.size();
    auto ids = torch::zeros({n, T}, torch::kLong);   // [B, T]
    auto mask = torch::zeros({n, T}, torch::kLong);  // [B, T]
    for (int64_t b = 0; b < n; ++b) {
      const auto& s = seqs[(size_t)b];
      if (s.empty()) continue;
      ids[b].narrow(0, 0, (int64_t)s.size()).copy_(torch::tensor(s, torch::kLong));
      mask[b].narrow(0, 0, (int64_t)s.size()).fill_(1);
    }
    auto lp = model::token_logprobs(model, ids.to(dev), mask.to(dev)).to(torch::kCPU, torch::kDouble);  // [B, T]
    auto acc = lp.accessor<double, 2>();
    for (int64_t b = 0; b < n; ++b) {
      const auto& r = reqs[order[start + (size_t)b]];
      const int64_t len = (int64_t)seqs[(size_t)b].size();
      const int64_t m = std::min<int64_t>((int64_t)r.continuation.size(), len - 1);
      double s = 0;
      for (int64_t t = len - m; t < len; ++t) s += acc[b][t];
      out[order[start + (size_t)b]] = s;
    }
  }
  return out;
}

std::vector<double> score_requests(model::CausalLM& model, const std::vector<TokenRequest>& reqs,
                                   const ScoreOptions& opts) {
  torch::NoGradGuard no_grad;
  const int64_t max_len = effective_max_length(model, opts);
  const torch::Device dev = model->device();

  // Unique requests, grouped by their context tokens.
  std::map<std::pair<std::vector<int64_t>, std::vector<int64_t>>, size_t> uniq_index;
  std::vector<const TokenRequest*> uniq;
  std::vector<size_t> req_to_uniq(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto key = std::make_pair(reqs[i].context, reqs[i].continuation);
    auto it = uniq_index.find(key);
    if (it == uniq_index.end()) {
      it = uniq_index.emplace(std::move(key), uniq.size()).first;
      uniq.push_back(&reqs[i]);
    }
    req_to_uniq[i] = it->second;
  }
  std::vector<double> uniq_ll(uniq.size(), 0.0);

  struct Group {
    const std::vector<int64_t>* ctx;
    std::vector<size_t> members;  // indices into uniq
    size_t longest = 0;           // longest continuation
  };
  std::map<std::vector<int64_t>, size_t> group_of;
  std::vector<Group> groups;
  std::vector<TokenRequest> too_long;  // beyond the window: the plain path truncates them as the harness
  std::vector<size_t> too_long_ids;
  for (size_t u = 0; u < uniq.size(); ++u) {
    const TokenRequest& r = *uniq[u];
    if (r.context.empty() || (int64_t)(r.context.size() + r.continuation.size()) > max_len + 1) {
      too_long.push_back(r);
      too_long_ids.push_back(u);
      continue;
    }
    auto it = group_of.find(r.context);
    if (it == group_of.end()) {
      it = group_of.emplace(r.context, groups.size()).first;
      groups.push_back({&it->first, {}, 0});
    }
    Group& g = groups[it->second];
    g.members.push_back(u);
    g.longest = std::max(g.longest, r.continuation.size());
  }
  if (!too_long.empty()) {
    auto ll = score_requests_reference(model, too_long, opts);
    for (size_t i = 0; i < ll.size(); ++i) uniq_ll[too_long_ids[i]] = ll[i];
  }

  // Longest first, as the harness's reorderer: padding stays small and an out-of-memory shows early.
  std::vector<size_t> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return groups[a].ctx->size() + groups[a].longest > groups[b].ctx->size() + groups[b].longest;
  });

  const torch::Tensor head = model->lm_head_weight();  // [V, E]
  size_t pos = 0;
  while (pos < order.size()) {
    // As many whole questions as fit in batch_size continuation rows (at least one).
    std::vector<size_t> batch;
    int64_t rows = 0;
    while (pos < order.size()) {
      const int64_t m = (int64_t)groups[order[pos]].members.size();
      if (!batch.empty() && rows + m > opts.batch_size) break;
      batch.push_back(order[pos++]);
      rows += m;
    }
    const int64_t G = (int64_t)batch.size();
    int64_t Lc = 0;
    for (size_t g : batch) Lc = std::max<int64_t>(Lc, (int64_t)groups[g].ctx->size());

    // 1) each shared context once.
    auto ids = torch::zeros({G, Lc}, torch::kLong);   // [G, Lc]
    auto mask = torch::zeros({G, Lc}, torch::kLong);  // [G, Lc]
    for (int64_t b = 0; b < G; ++b) {
      const auto& c = *groups[batch[(size_t)b]].ctx;
      ids[b].narrow(0, 0, (int64_t)c.size()).copy_(torch::tensor(c, torch::kLong));
      mask[b].narrow(0, 0, (int64_t)c.size()).fill_(1);
    }
    model::KVCache cache;
    model::ForwardOptions fo;
    fo.attention_mask = mask.to(dev);
    fo.cache = &cache;
    torch::Tensor hidden = model->forward(ids.to(dev), fo);  // [G, Lc, E]

    // 2) every continuation of the batch against its question's cache.
    std::vector<int64_t> row_group, row_ctx_len;
    std::vector<size_t> row_uniq;
    int64_t Tm = 0;
    for (int64_t b = 0; b < G; ++b)
      for (size_t u : groups[batch[(size_t)b]].members) {
        if (uniq[u]->continuation.empty()) continue;  // log-likelihood 0
        row_group.push_back(b);
        row_ctx_len.push_back((int64_t)groups[batch[(size_t)b]].ctx->size());
        row_uniq.push_back(u);
        Tm = std::max<int64_t>(Tm, (int64_t)uniq[u]->continuation.size() - 1);
      }
    const int64_t R = (int64_t)row_uniq.size();
    if (R == 0) continue;
    auto rg = torch::tensor(row_group, torch::kLong).to(dev);                  // [R]
    auto last = (torch::tensor(row_ctx_len, torch::kLong) - 1).to(dev);        // [R]
    // The first continuation token is predicted by the context's last real position.
    std::vector<torch::Tensor> hs{hidden.index({rg, last})};                   // [R, E]
    std::vector<int64_t> targets;
    for (int64_t r = 0; r < R; ++r) targets.push_back(uniq[row_uniq[(size_t)r]]->continuation[0]);
    std::vector<size_t> token_owner;
    for (int64_t r = 0; r < R; ++r) token_owner.push_back(row_uniq[(size_t)r]);
    if (Tm > 0) {
      auto ids2 = torch::zeros({R, Tm}, torch::kLong);    // [R, Tm]
      auto cmask = torch::zeros({R, Tm}, torch::kLong);   // [R, Tm]
      auto pos2 = torch::zeros({R, Tm}, torch::kLong);    // [R, Tm]
      for (int64_t r = 0; r < R; ++r) {
        const auto& cont = uniq[row_uniq[(size_t)r]]->continuation;
        const int64_t n = (int64_t)cont.size() - 1;
        if (n > 0) {
          ids2[r].narrow(0, 0, n).copy_(torch::tensor(std::vector<int64_t>(cont.begin(), cont.end() - 1), torch::kLong));
          cmask[r].narrow(0, 0, n).fill_(1);
        }
        pos2[r].copy_(torch::arange(row_ctx_len[(size_t)r], row_ctx_len[(size_t)r] + Tm, torch::kLong));
      }
      model::KVCache cache2;
      for (size_t l = 0; l < cache.k.size(); ++l) {
        cache2.k.push_back(cache.k[l].index_select(0, rg));  // [R, Hkv, Lc, D]
        cache2.v.push_back(cache.v[l].index_select(0, rg));
      }
      // Full buffers: the first append grows them (copying the context rows once).
      cache2.k_buf = cache2.k;
      cache2.v_buf = cache2.v;
      model::ForwardOptions fo2;
      fo2.attention_mask = torch::cat({mask.to(dev).index_select(0, rg), cmask.to(dev)}, 1);  // [R, Lc+Tm]
      fo2.position_ids = pos2.to(dev);
      fo2.cache = &cache2;
      torch::Tensor hidden2 = model->forward(ids2.to(dev), fo2);  // [R, Tm, E]
      auto sel = cmask.to(torch::kBool).to(dev);                  // [R, Tm]
      hs.push_back(hidden2.index({sel}));                         // [Ntok, E], row-major order
      for (int64_t r = 0; r < R; ++r) {
        const auto& cont = uniq[row_uniq[(size_t)r]]->continuation;
        for (size_t t = 1; t < cont.size(); ++t) {
          targets.push_back(cont[t]);
          token_owner.push_back(row_uniq[(size_t)r]);
        }
      }
    }
    auto lp = model::selected_logprobs(torch::cat(hs, 0), head, torch::tensor(targets, torch::kLong).to(dev))
                  .to(torch::kCPU, torch::kDouble);  // [N]
    auto a = lp.accessor<double, 1>();
    for (size_t i = 0; i < token_owner.size(); ++i) uniq_ll[token_owner[i]] += a[(int64_t)i];
  }

  std::vector<double> out(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) out[i] = uniq_ll[req_to_uniq[i]];
  return out;
}

}  // namespace prospect::eval
