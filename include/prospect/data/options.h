#pragma once
// Options of the data layer: one plain struct that the training and eval recipes fill from their
// JSON config (components never read configs). Defaults follow TRL where TRL has the option.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace prospect::data {

// Which end of an over-long prompt survives `max_prompt_length` (classic TRL semantics).
enum class TruncationMode { keep_end, keep_start };
// "keep_end" / "keep_start"; anything else -> prospect::Error naming the value.
TruncationMode parse_truncation_mode(const std::string& s);
const char* to_string(TruncationMode m);

struct DataOptions {
  // ---- reading ----------------------------------------------------------------------------------
  // Input files, concatenated in this order. Each is JSONL (one JSON object per line; blank lines
  // ignored) or a JSON array of objects (detected by a leading '['). Row schemas: see reader.h.
  std::vector<std::filesystem::path> paths;
  // Malformed rows (bad JSON, missing field, wrong type, empty completion, template error):
  // false -> prospect::Error naming "file:line"; true -> skipped and counted in DataStats::bad_rows.
  bool skip_bad_rows = false;

  // ---- tokenization -----------------------------------------------------------------------------
  // Template variables given to every conversational row (e.g. {"enable_thinking": false}); a row's
  // own `chat_template_kwargs` column overrides them key by key.
  nlohmann::ordered_json chat_template_kwargs = nlohmann::ordered_json::object();
  // 0 = no limit. Every collated sequence (prompt + completion, and the KL sequence) is cut to its
  // first max_length tokens (keep start, as current TRL); a completion whose prompt alone has
  // >= max_length tokens is dropped and counted (DataStats::dropped_prompt_too_long).
  int64_t max_length = 0;
  // 0 = none (current TRL has none). Longer prompts are cut to this many tokens before the
  // max_length check, keeping their end (keep_end, classic TRL default) or their start.
  int64_t max_prompt_length = 0;
  TruncationMode truncation_mode = TruncationMode::keep_end;

  // ---- statistics only ----------------------------------------------------------------------------
  // KTO weights λ_D, λ_U: only used for TRL's class-weight warning in DataStats.
  double desirable_weight = 1.0, undesirable_weight = 1.0;

  // ---- ordering and batching (loader.h) -------------------------------------------------------------
  uint64_t seed = 42;        // fixes the per-epoch shuffle and therefore the KL pairs
  int64_t batch_size = 1;    // micro-batch size per rank (per_device_train_batch_size)
  bool shuffle = true;       // false: dataset order every epoch (e.g. evaluation)
  bool drop_last = false;    // drop a last micro-batch smaller than batch_size
  bool need_kl = false;      // build KL rows (KTO, Enhanced KTO, BCO with KL); needs batch_size >= 2
  bool paired = false;       // true: PairBatch of PairExamples (DPO, ORPO, SimPO); false: Batch of Examples
  // Data parallelism: this rank takes its slice of every global micro-batch of batch_size × world
  // examples (see BatchSchedule).
  int64_t rank = 0, world = 1;
};

}  // namespace prospect::data
