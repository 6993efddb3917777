#pragma once
// Dataset statistics for `prospect train --dry-run` and the run log.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace prospect::data {

// Length distribution in tokens. Percentiles use linear interpolation between closest ranks
// (numpy.percentile's default).
struct LengthSummary {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;
  int64_t max = 0;
  nlohmann::ordered_json to_json() const;
};
LengthSummary summarize_lengths(std::vector<int64_t> lengths);

struct DataStats {
  int64_t rows = 0;             // input rows read, bad ones included
  int64_t bad_rows = 0;         // skipped with skip_bad_rows (bad JSON/field/type, empty completion, template error)
  std::vector<std::string> bad_row_messages;  // first few, "file:line: message"
  int64_t paired_rows = 0, unpaired_rows = 0, conversational_rows = 0;  // among good rows

  // Unpaired view (KTO family, SFT): one example per kept completion.
  int64_t examples = 0, desirable = 0, undesirable = 0;
  // Paired view (DPO, ORPO, SimPO, preference accuracy): one per kept paired row.
  int64_t pairs = 0;

  // Completions (unpaired-view examples) dropped, by reason.
  int64_t dropped_prompt_too_long = 0;  // prompt (after max_prompt_length) has >= max_length tokens
  int64_t dropped_not_prefix = 0;       // rendered prompt is not a text prefix of the rendered full text
  int64_t dropped_pairs = 0;            // paired rows lost to either reason (either half)
  std::vector<std::string> not_prefix_sources;  // first few "file:line"
  // Kept completions whose tokens merged across the prompt boundary: split one token earlier (TRL).
  int64_t boundary_adjusted = 0;
  std::vector<std::string> boundary_adjusted_sources;  // first few "file:line"

  int64_t truncated_prompts = 0;    // prompts cut by max_prompt_length
  int64_t truncated_sequences = 0;  // examples longer than max_length (cut at collation)

  // Kept examples, before max_length truncation (prompts after max_prompt_length).
  LengthSummary prompt_len, completion_len, total_len;

  // TRL's desirable/undesirable weight warning (§1.10); empty when it does not fire.
  std::string class_weight_warning;

  nlohmann::ordered_json to_json() const;
};

// TRL's rule, exactly: n_D = max(num_desirable, 1), n_U = max(total - n_D, 1); when n_D != n_U and
// neither weight lies in its recommended range (bounds rounded to 2 decimals as Python's round),
// returns TRL's warning text; otherwise "".
std::string class_weight_warning(int64_t num_desirable, int64_t total, double desirable_weight,
                                 double undesirable_weight);

}  // namespace prospect::data
