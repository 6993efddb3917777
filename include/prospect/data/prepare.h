#pragma once
// From rows of text to tokenized examples, as TRL's KTOTrainer (current, §1.2) prepares them:
//  * conversational rows: prompt_ids = tokens of render(prompt, add_generation_prompt=true);
//    full_ids = tokens of render(prompt + completion) (no generation prompt); the row's `tools` and
//    `chat_template_kwargs` (over DataOptions::chat_template_kwargs) and the tokenizer's special
//    tokens go to both renders; rendered text is encoded without special tokens (apply_chat_template).
//  * standard rows: the tokenizer's eos_token string is appended to the completion unless it already
//    ends with it; prompt_ids = encode(prompt, true), full_ids = encode(prompt + completion, true).
//  * completion_ids = full_ids minus prompt_ids. When full_ids do not start with prompt_ids but the
//    texts do continue each other (a BPE merge across the boundary, "." + "Sure"), the split moves
//    back one token and prompt_ids come from full_ids, as TRL's KTO/DPO tokenization does; such
//    completions are counted (DataStats::boundary_adjusted). Only a rendered prompt that is not a
//    text prefix of the rendered conversation (a broken template) drops the completion.
//  * max_prompt_length cuts the prompt (truncation_mode); a completion whose prompt alone has
//    >= max_length tokens is dropped and counted. max_length itself is applied at collation.
// Paired rows give a PairExample (paired view) and two Examples (chosen: label true, rejected: label
// false) sharing pair_id = the row number; unpaired rows give one Example with pair_id -1.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "prospect/data/batch.h"
#include "prospect/data/options.h"
#include "prospect/data/reader.h"
#include "prospect/data/stats.h"
#include "prospect/tokenizer/tokenizer.h"

namespace prospect::data {

// Renders a chat-template context (messages, add_generation_prompt, tools, special tokens, extra
// kwargs) to text. Errors are prospect::Error; prepare_rows() prefixes them with the row's file:line.
using RenderFn = std::function<std::string(const ojson& context)>;

// The tokenizer's own chat template (tokenizer_config.json / chat_template.jinja of its directory,
// the "tool_use" variant when the row has tools), rendered as transformers does. If the tokenizer
// has no template the returned function throws on use (only conversational rows need it).
RenderFn chat_template_renderer(const tokenizer::Tokenizer& tok);

// Pad id used by the collators: the tokenizer's pad token, else its eos (TRL), else 0.
int64_t pad_token_id(const tokenizer::Tokenizer& tok);

struct PreparedData {
  std::vector<Example> examples;   // unpaired view, Example::index == position
  std::vector<PairExample> pairs;  // paired view (paired rows only), PairExample::index == position
  DataStats stats;
  int64_t pad_id = 0;
  // FNV-1a 64 over every token id, label and pair id of both views: keys caches (precomputed
  // reference log-probs) to exactly this tokenized data.
  uint64_t fingerprint = 0;
};

// Tokenizes already-read rows. Bad rows found here (template errors, empty rendering) throw or are
// counted per options.skip_bad_rows. Statistics of the reading step are not filled in.
PreparedData prepare_rows(const std::vector<RawRow>& rows, const DataOptions& options,
                          const tokenizer::Tokenizer& tok, const RenderFn& render);

// read_rows(options.paths, options.skip_bad_rows) + prepare_rows + statistics, logging a summary
// (spdlog) and the class-weight warning.
PreparedData prepare_data(const DataOptions& options, const tokenizer::Tokenizer& tok,
                          const RenderFn& render);
// Same with chat_template_renderer(tok).
PreparedData prepare_data(const DataOptions& options, const tokenizer::Tokenizer& tok);

}  // namespace prospect::data
