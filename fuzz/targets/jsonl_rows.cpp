// Training/eval data: the input as a JSONL file, each line through the row validator and schema
// normaliser (paired, unpaired, conversational, implicit prompts).
#include <nlohmann/json.hpp>

#include "common.h"
#include "prospect/data/reader.h"

PROSPECT_FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = fuzz_text(data, size);
  size_t pos = 0;
  for (int64_t line = 1; pos <= text.size(); ++line) {
    size_t nl = text.find('\n', pos);
    const std::string row = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
    prospect::data::ojson j;
    try {
      j = prospect::data::ojson::parse(row);
    } catch (const nlohmann::json::exception&) {
      continue;  // the reader reports bad JSON with file:line
    }
    try {
      (void)prospect::data::parse_row(j, "fuzz.jsonl:" + std::to_string(line), line);
    } catch (const prospect::Error&) {
    }
  }
  return 0;
}
