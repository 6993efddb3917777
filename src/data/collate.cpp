#include "prospect/data/collate.h"

#include <algorithm>

#include "prospect/core/error.h"

namespace prospect::data {

namespace {

struct Padded {
  torch::Tensor input_ids, attention_mask, completion_mask, lengths;
};

// Rows of (prompt, completion) -> right-padded [B, T] tensors, each row cut to max_length (keep start).
Padded pad_rows(const std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>>& rows,
                const CollateOptions& opt) {
  const int64_t B = (int64_t)rows.size();
  std::vector<int64_t> lens(rows.size());
  int64_t T = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    int64_t L = (int64_t)(rows[i].first->size() + rows[i].second->size());
    if (opt.max_length > 0) L = std::min(L, opt.max_length);
    lens[i] = L;
    T = std::max(T, L);
  }
  std::vector<int64_t> ids((size_t)(B * T), opt.pad_id), attn((size_t)(B * T), 0), comp((size_t)(B * T), 0),
      clen((size_t)B, 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& p = *rows[i].first;
    const auto& c = *rows[i].second;
    const int64_t P = (int64_t)p.size();
    for (int64_t t = 0; t < lens[i]; ++t) {
      const size_t at = i * (size_t)T + (size_t)t;
      ids[at] = t < P ? p[(size_t)t] : c[(size_t)(t - P)];
      attn[at] = 1;
      comp[at] = t < P ? 0 : 1;
    }
    clen[i] = std::max<int64_t>(0, lens[i] - P);
  }
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  Padded out;
  out.input_ids = torch::from_blob(ids.data(), {B, T}, i64).clone();         // [B, T]
  out.attention_mask = torch::from_blob(attn.data(), {B, T}, i64).clone();   // [B, T]
  out.completion_mask = torch::from_blob(comp.data(), {B, T}, i64).clone();  // [B, T]
  out.lengths = torch::from_blob(clen.data(), {B}, i64).clone();             // [B]
  return out;
}

void check_index(int64_t i, size_t n) {
  check(i >= 0 && (size_t)i < n, "data", "collate: index " + std::to_string(i) + " out of range");
}

}  // namespace

Batch collate_examples(const std::vector<Example>& examples, const std::vector<int64_t>& rows,
                       const std::vector<int64_t>* kl_source, const CollateOptions& opt) {
  check(!rows.empty(), "data", "collate: empty micro-batch");
  std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> main, kl;
  std::vector<uint8_t> labels;
  std::vector<int64_t> pair_ids;
  Batch b;
  for (size_t i = 0; i < rows.size(); ++i) {
    check_index(rows[i], examples.size());
    const Example& e = examples[(size_t)rows[i]];
    main.emplace_back(&e.prompt_ids, &e.completion_ids);
    labels.push_back(e.label ? 1 : 0);
    pair_ids.push_back(e.pair_id);
    b.indices.push_back(e.index);
    if (kl_source) {
      check(kl_source->size() == rows.size(), "data", "collate: kl_source size mismatch");
      check_index((*kl_source)[i], examples.size());
      const Example& s = examples[(size_t)(*kl_source)[i]];
      kl.emplace_back(&e.prompt_ids, &s.completion_ids);
      b.kl_source.push_back(s.index);
    }
  }
  Padded m = pad_rows(main, opt);
  b.input_ids = m.input_ids;
  b.attention_mask = m.attention_mask;
  b.completion_mask = m.completion_mask;
  b.lengths = m.lengths;
  const int64_t B = (int64_t)rows.size();
  b.labels = torch::from_blob(labels.data(), {B}, torch::kUInt8).to(torch::kBool);            // [B]
  b.pair_ids = torch::from_blob(pair_ids.data(), {B}, torch::kInt64).clone();                 // [B]
  if (kl_source) {
    Padded k = pad_rows(kl, opt);
    b.kl_input_ids = k.input_ids;
    b.kl_attention_mask = k.attention_mask;
    b.kl_completion_mask = k.completion_mask;
    b.kl_lengths = k.lengths;
  }
  return b;
}

PairBatch collate_pairs(const std::vector<PairExample>& pairs, const std::vector<int64_t>& rows,
                        const CollateOptions& opt) {
  check(!rows.empty(), "data", "collate: empty micro-batch");
  std::vector<std::pair<const std::vector<int64_t>*, const std::vector<int64_t>*>> ch, rj;
  std::vector<int64_t> pair_ids;
  PairBatch b;
  for (int64_t r : rows) {
    check_index(r, pairs.size());
    const PairExample& p = pairs[(size_t)r];
    ch.emplace_back(&p.prompt_ids, &p.chosen_ids);
    rj.emplace_back(&p.prompt_ids, &p.rejected_ids);
    pair_ids.push_back(p.pair_id);
    b.indices.push_back(p.index);
  }
  Padded c = pad_rows(ch, opt), r = pad_rows(rj, opt);
  b.chosen_input_ids = c.input_ids;
  b.chosen_attention_mask = c.attention_mask;
  b.chosen_completion_mask = c.completion_mask;
  b.chosen_lengths = c.lengths;
  b.rejected_input_ids = r.input_ids;
  b.rejected_attention_mask = r.attention_mask;
  b.rejected_completion_mask = r.completion_mask;
  b.rejected_lengths = r.lengths;
  b.pair_ids = torch::from_blob(pair_ids.data(), {(int64_t)rows.size()}, torch::kInt64).clone();  // [B]
  return b;
}

}  // namespace prospect::data
