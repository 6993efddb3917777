#pragma once
// Reading preference datasets (JSONL or JSON arrays) into rows of text, with TRL's schema handling:
//  * paired, explicit prompt:  {prompt, chosen, rejected}, all strings or all message lists;
//  * paired, UltraFeedback Binarized: string `prompt` with message-list `chosen`/`rejected` that
//    repeat the user turn -> the prompt is the common leading messages of chosen and rejected
//    (classic maybe_extract_prompt); `prompt_id`, `messages`, `score_*` are ignored;
//  * paired, message-list prompt repeated at the start of chosen and rejected -> stripped from them;
//  * paired, implicit prompt (no `prompt`): extract_prompt() as TRL §5.2 (strings or message lists);
//  * unpaired KTO: {prompt, completion, label: bool}, strings or message lists.
// Optional columns: `tools` (list, or a JSON string holding one) and `chat_template_kwargs` (object).
// Objects keep their key order (ordered_json) so that `tojson` in templates prints them as Python does.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace prospect::data {

using ojson = nlohmann::ordered_json;

// One input row after schema detection and prompt extraction, still text. Text fields are a string
// ("standard") or an array of {role, content, ...} messages ("conversational"), never mixed.
struct RawRow {
  bool paired = true;
  bool conversational = false;
  ojson prompt;              // string or messages (may be "" for standard rows; never [] )
  ojson chosen, rejected;    // paired rows
  ojson completion;          // unpaired rows
  bool label = true;         // unpaired rows: desirable?
  ojson tools;               // null, or an array
  ojson chat_template_kwargs;  // null, or an object
  std::string source;        // "file:line"
  int64_t row = 0;           // 0-based number of the row over all files, bad rows included
};

// TRL `extract_prompt`: split chosen/rejected (both strings or both message lists) at the first index
// where they differ. For strings the index counts code points, and if the character before it is a
// space the split moves back by one so the space goes to the completions. As in TRL, when one is a
// prefix of the other the split is at min(len) - 1. (TRL's idx=0 wrap-around to chosen[-1] is not
// reproduced: a difference at index 0 gives an empty prompt.)
struct ExtractedPrompt {
  ojson prompt, chosen, rejected;
};
ExtractedPrompt extract_prompt(const ojson& chosen, const ojson& rejected);

// Validates one parsed JSON row and normalises its schema (see above).
// Throws prospect::Error(source, message) for a missing field, a wrong type, mixed string/message
// fields, an empty completion or a prompt that cannot be extracted.
RawRow parse_row(const ojson& obj, const std::string& source, int64_t row_number = 0);

// Visits every row of a JSONL file or JSON array file: fn(text_of_row, "file:line", first_line).
// Only structural errors of a JSON array (unterminated array/string) throw here.
void for_each_json_row(const std::filesystem::path& path,
                       const std::function<void(const std::string& text, const std::string& source)>& fn);

struct ReadResult {
  std::vector<RawRow> rows;
  int64_t total_rows = 0;  // good + bad
  int64_t bad_rows = 0;    // skipped (skip_bad_rows = true)
  std::vector<std::string> bad_row_messages;  // the first few errors, "file:line: message"
};

// Reads every entry in order: JSONL / JSON array / Parquet files, directories, globs and hub dataset
// splits (see sources.h). skip_bad_rows = false: the first bad row throws prospect::Error naming
// file:line (file:row N for Parquet); true: bad rows are skipped and counted.
ReadResult read_rows(const std::vector<std::filesystem::path>& entries, bool skip_bad_rows);

}  // namespace prospect::data
