#include "prospect/data/options.h"

#include "prospect/core/error.h"

namespace prospect::data {

TruncationMode parse_truncation_mode(const std::string& s) {
  if (s == "keep_end") return TruncationMode::keep_end;
  if (s == "keep_start") return TruncationMode::keep_start;
  throw Error("truncation_mode", "unknown value '" + s + "' (expected keep_end or keep_start)");
}

const char* to_string(TruncationMode m) { return m == TruncationMode::keep_end ? "keep_end" : "keep_start"; }

}  // namespace prospect::data
