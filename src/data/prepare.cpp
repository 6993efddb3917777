#include "prospect/data/prepare.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "prospect/core/error.h"

namespace prospect::data {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::vector<int64_t>& v, const std::vector<int64_t>& prefix) {
  return v.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), v.begin());
}

ojson concat_messages(const ojson& a, const ojson& b) {
  ojson out = a;
  for (const auto& m : b) out.push_back(m);
  return out;
}

// The template variables of one row, in transformers' precedence: special tokens, then the
// chat_template_kwargs (options, then the row's), then messages / add_generation_prompt / tools.
ojson row_context(const RawRow& row, const DataOptions& opt, const tokenizer::SpecialTokens& sp,
                  const ojson& messages, bool add_generation_prompt) {
  ojson ctx = ojson::object();
  if (sp.bos) ctx["bos_token"] = *sp.bos;
  if (sp.eos) ctx["eos_token"] = *sp.eos;
  if (sp.pad) ctx["pad_token"] = *sp.pad;
  if (sp.unk) ctx["unk_token"] = *sp.unk;
  if (opt.chat_template_kwargs.is_object())
    for (auto it = opt.chat_template_kwargs.begin(); it != opt.chat_template_kwargs.end(); ++it) ctx[it.key()] = it.value();
  if (row.chat_template_kwargs.is_object())
    for (auto it = row.chat_template_kwargs.begin(); it != row.chat_template_kwargs.end(); ++it)
      ctx[it.key()] = it.value();
  ctx["messages"] = messages;
  ctx["add_generation_prompt"] = add_generation_prompt;
  if (row.tools.is_array()) ctx["tools"] = row.tools;
  return ctx;
}

// Texts of one row to encode: the prompt, then one full text per completion (chosen, rejected or
// the single completion).
struct RowTexts {
  bool ok = false;
  bool conversational = false;
  std::string prompt;
  std::vector<std::string> full;
};

RowTexts row_texts(const RawRow& row, const DataOptions& opt, const tokenizer::Tokenizer& tok,
                   const RenderFn& render) {
  RowTexts t;
  t.conversational = row.conversational;
  std::vector<const ojson*> completions;
  if (row.paired) {
    completions = {&row.chosen, &row.rejected};
  } else {
    completions = {&row.completion};
  }
  if (row.conversational) {
    if (!render) throw Error("", "conversational row but no chat template renderer");
    const auto& sp = tok.special_tokens();
    t.prompt = render(row_context(row, opt, sp, row.prompt, true));
    for (const ojson* c : completions) t.full.push_back(render(row_context(row, opt, sp, concat_messages(row.prompt, *c), false)));
  } else {
    // TRL (current): standard completions end with the eos_token string.
    const std::string eos = tok.special_tokens().eos.value_or("");
    t.prompt = row.prompt.get<std::string>();
    for (const ojson* c : completions) {
      std::string s = c->get<std::string>();
      if (!eos.empty() && !ends_with(s, eos)) s += eos;
      t.full.push_back(t.prompt + s);
    }
  }
  t.ok = true;
  return t;
}

uint64_t fnv1a(uint64_t h, int64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (uint64_t)((v >> (8 * i)) & 0xff);
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t hash_ids(uint64_t h, const std::vector<int64_t>& ids) {
  h = fnv1a(h, (int64_t)ids.size());
  for (int64_t v : ids) h = fnv1a(h, v);
  return h;
}

constexpr size_t kChunkRows = 2048;  // rows rendered and encoded at a time (bounds text memory)
constexpr size_t kMaxReported = 10;

}  // namespace

int64_t pad_token_id(const tokenizer::Tokenizer& tok) {
  const auto& sp = tok.special_tokens();
  if (sp.pad_id) return *sp.pad_id;
  if (sp.eos_id) return *sp.eos_id;
  return 0;
}

PreparedData prepare_rows(const std::vector<RawRow>& rows, const DataOptions& opt, const tokenizer::Tokenizer& tok,
                          const RenderFn& render) {
  check(opt.max_length >= 0, "data", "max_length must be >= 0");
  check(opt.max_prompt_length >= 0, "data", "max_prompt_length must be >= 0");
  PreparedData out;
  out.pad_id = pad_token_id(tok);
  DataStats& st = out.stats;
  std::vector<int64_t> prompt_lens, completion_lens, total_lens;

  for (size_t c0 = 0; c0 < rows.size(); c0 += kChunkRows) {
    const size_t c1 = std::min(rows.size(), c0 + kChunkRows);
    // 1. Render (or concatenate) the texts of the chunk.
    std::vector<RowTexts> texts(c1 - c0);
    std::vector<std::string> conv, plain;  // encoded without / with special tokens
    std::vector<std::pair<size_t, size_t>> where(c1 - c0);  // (offset in conv or plain, count)
    for (size_t i = c0; i < c1; ++i) {
      const RawRow& row = rows[i];
      try {
        texts[i - c0] = row_texts(row, opt, tok, render);
      } catch (const std::exception& e) {
        if (!opt.skip_bad_rows) throw Error(row.source, std::string("chat template: ") + e.what());
        ++st.bad_rows;
        if (st.bad_row_messages.size() < kMaxReported)
          st.bad_row_messages.push_back(row.source + ": chat template: " + e.what());
        continue;
      }
      RowTexts& t = texts[i - c0];
      auto& dst = t.conversational ? conv : plain;
      where[i - c0] = {dst.size(), 1 + t.full.size()};
      dst.push_back(std::move(t.prompt));
      for (auto& f : t.full) dst.push_back(std::move(f));
    }
    // 2. Encode them (multithreaded inside the tokenizer).
    auto conv_ids = tok.encode_batch(conv, false);
    auto plain_ids = tok.encode_batch(plain, true);

    // 3. Split, check, truncate.
    for (size_t i = c0; i < c1; ++i) {
      const RawRow& row = rows[i];
      const RowTexts& t = texts[i - c0];
      if (!t.ok) continue;
      auto& ids = t.conversational ? conv_ids : plain_ids;
      const auto& txt = t.conversational ? conv : plain;
      const size_t off = where[i - c0].first, n_full = where[i - c0].second - 1;
      std::vector<int64_t> prompt_ids = ids[off];
      std::vector<std::vector<int64_t>> completion_ids(n_full), own_prompt(n_full, prompt_ids);
      std::vector<bool> keep(n_full, true);
      for (size_t k = 0; k < n_full; ++k) {
        const auto& full = ids[off + 1 + k];
        size_t split = prompt_ids.size();
        if (!starts_with(full, prompt_ids)) {
          const std::string& pt = txt[off];
          const std::string& ft = txt[off + 1 + k];
          if (full.size() >= prompt_ids.size() && prompt_ids.size() > 1 && ft.compare(0, pt.size(), pt) == 0) {
            // The texts continue each other but the tokenizer merged across the boundary ("." +
            // "Sure"): as TRL's KTO/DPO tokenization, the boundary moves back one token and the
            // prompt ids are taken from the full encoding, so that prompt + completion is exactly it.
            split = prompt_ids.size() - 1;
            own_prompt[k].assign(full.begin(), full.begin() + (std::ptrdiff_t)split);
            ++st.boundary_adjusted;
            if (st.boundary_adjusted_sources.size() < kMaxReported) st.boundary_adjusted_sources.push_back(row.source);
          } else {
            // The rendered prompt is not even a text prefix of the rendered conversation (a template
            // that renders the generation prompt differently): TRL would slice garbage; dropped.
            keep[k] = false;
            ++st.dropped_not_prefix;
            if (st.not_prefix_sources.size() < kMaxReported) {
              st.not_prefix_sources.push_back(row.source);
              spdlog::warn("{}: the rendered prompt is not a prefix of the rendered prompt + completion; "
                           "completion dropped",
                           row.source);
            }
            continue;
          }
        }
        completion_ids[k].assign(full.begin() + (std::ptrdiff_t)split, full.end());
        if (completion_ids[k].empty()) {
          // Cannot happen with a sane template; never train on an empty completion.
          keep[k] = false;
          ++st.dropped_not_prefix;
          if (st.not_prefix_sources.size() < kMaxReported) st.not_prefix_sources.push_back(row.source);
        }
      }
      bool prompt_cut = false;
      // The paired view shares one prompt between chosen and rejected: their common prefix, with what
      // each merged across the boundary moved to its completion (each sequence stays exact).
      std::vector<int64_t> pair_prompt;
      std::vector<std::vector<int64_t>> pair_completion;
      if (row.paired && keep[0] && keep[1]) {
        size_t n = 0;
        while (n < own_prompt[0].size() && n < own_prompt[1].size() && own_prompt[0][n] == own_prompt[1][n]) ++n;
        pair_prompt.assign(own_prompt[0].begin(), own_prompt[0].begin() + (std::ptrdiff_t)n);
        for (size_t k = 0; k < 2; ++k) {
          pair_completion.emplace_back(own_prompt[k].begin() + (std::ptrdiff_t)n, own_prompt[k].end());
          pair_completion[k].insert(pair_completion[k].end(), completion_ids[k].begin(), completion_ids[k].end());
        }
        if (opt.max_prompt_length > 0 && (int64_t)pair_prompt.size() > opt.max_prompt_length) {
          if (opt.truncation_mode == TruncationMode::keep_end)
            pair_prompt.erase(pair_prompt.begin(), pair_prompt.end() - opt.max_prompt_length);
          else
            pair_prompt.resize(opt.max_prompt_length);
        }
      }
      for (size_t k = 0; k < n_full; ++k) {
        auto& p = own_prompt[k];
        if (opt.max_prompt_length > 0 && (int64_t)p.size() > opt.max_prompt_length) {
          if (opt.truncation_mode == TruncationMode::keep_end)
            p.erase(p.begin(), p.end() - opt.max_prompt_length);
          else
            p.resize(opt.max_prompt_length);
          prompt_cut = true;
        }
        if (keep[k] && opt.max_length > 0 && (int64_t)p.size() >= opt.max_length) {
          keep[k] = false;
          ++st.dropped_prompt_too_long;
        }
      }

      if (row.paired) ++st.paired_rows;
      else ++st.unpaired_rows;
      if (row.conversational) ++st.conversational_rows;

      for (size_t k = 0; k < n_full; ++k) {
        if (!keep[k]) continue;
        Example ex;
        ex.prompt_ids = own_prompt[k];
        ex.completion_ids = completion_ids[k];
        ex.label = row.paired ? (k == 0) : row.label;
        ex.pair_id = row.paired ? row.row : -1;
        ex.index = (int64_t)out.examples.size();
        ex.source = row.source;
        const int64_t total = (int64_t)(ex.prompt_ids.size() + ex.completion_ids.size());
        prompt_lens.push_back((int64_t)ex.prompt_ids.size());
        completion_lens.push_back((int64_t)ex.completion_ids.size());
        total_lens.push_back(total);
        if (prompt_cut) ++st.truncated_prompts;
        if (opt.max_length > 0 && total > opt.max_length) ++st.truncated_sequences;
        (ex.label ? st.desirable : st.undesirable) += 1;
        out.examples.push_back(std::move(ex));
      }
      if (row.paired) {
        if (keep[0] && keep[1]) {
          PairExample p;
          p.prompt_ids = std::move(pair_prompt);
          p.chosen_ids = std::move(pair_completion[0]);
          p.rejected_ids = std::move(pair_completion[1]);
          p.pair_id = row.row;
          p.index = (int64_t)out.pairs.size();
          p.source = row.source;
          out.pairs.push_back(std::move(p));
        } else {
          ++st.dropped_pairs;
        }
      }
    }
  }

  st.examples = (int64_t)out.examples.size();
  st.pairs = (int64_t)out.pairs.size();
  st.prompt_len = summarize_lengths(std::move(prompt_lens));
  st.completion_len = summarize_lengths(std::move(completion_lens));
  st.total_len = summarize_lengths(std::move(total_lens));
  st.class_weight_warning = class_weight_warning(st.desirable, st.examples, opt.desirable_weight, opt.undesirable_weight);

  uint64_t h = 1469598103934665603ULL;
  for (const auto& e : out.examples) {
    h = hash_ids(h, e.prompt_ids);
    h = hash_ids(h, e.completion_ids);
    h = fnv1a(h, e.label ? 1 : 0);
    h = fnv1a(h, e.pair_id);
  }
  for (const auto& p : out.pairs) {
    h = hash_ids(h, p.prompt_ids);
    h = hash_ids(h, p.chosen_ids);
    h = hash_ids(h, p.rejected_ids);
    h = fnv1a(h, p.pair_id);
  }
  out.fingerprint = h;
  return out;
}

PreparedData prepare_data(const DataOptions& opt, const tokenizer::Tokenizer& tok, const RenderFn& render) {
  check(!opt.paths.empty(), "data", "no data files given");
  ReadResult read = read_rows(opt.paths, opt.skip_bad_rows);
  PreparedData out = prepare_rows(read.rows, opt, tok, render);
  DataStats& st = out.stats;
  st.rows = read.total_rows;
  st.bad_rows += read.bad_rows;
  std::vector<std::string> msgs = read.bad_row_messages;
  for (auto& m : st.bad_row_messages)
    if (msgs.size() < kMaxReported) msgs.push_back(m);
  st.bad_row_messages = std::move(msgs);

  if (st.bad_rows > 0) spdlog::warn("data: skipped {} bad rows (first: {})", st.bad_rows, st.bad_row_messages.front());
  if (st.dropped_not_prefix > 0)
    spdlog::warn("data: dropped {} completions whose rendered prompt is not a prefix of the full text",
                 st.dropped_not_prefix);
  if (st.boundary_adjusted > 0)
    spdlog::info("data: {} completions merged a token across the prompt boundary; the boundary moved back one "
                 "token as in TRL (first: {})",
                 st.boundary_adjusted, st.boundary_adjusted_sources.front());
  if (st.dropped_prompt_too_long > 0)
    spdlog::warn("data: dropped {} completions whose prompt has >= max_length ({}) tokens", st.dropped_prompt_too_long,
                 opt.max_length);
  if (!opt.paired && !st.class_weight_warning.empty()) spdlog::warn("{}", st.class_weight_warning);
  spdlog::info("data: {} rows -> {} examples ({} desirable, {} undesirable), {} pairs", st.rows, st.examples,
               st.desirable, st.undesirable, st.pairs);
  if (opt.paired ? st.pairs == 0 : st.examples == 0)
    throw Error(opt.paths.front().string(), "no usable examples after preprocessing");
  return out;
}

}  // namespace prospect::data
