#pragma once
// "1, 2,3" -> {1, 2, 3}: the comma-separated token ids that several subcommands accept.
#include <sstream>
#include <string>
#include <vector>

#include "prospect/core/error.h"

namespace prospect::cli {

// `option` names the flag in error messages ("--ids", "--decode").
inline std::vector<int64_t> parse_id_list(const std::string& s, const std::string& option = "--ids") {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    size_t a = tok.find_first_not_of(" \t"), b = tok.find_last_not_of(" \t");
    if (a == std::string::npos) throw Error(option, "empty entry in '" + s + "'");
    tok = tok.substr(a, b - a + 1);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != tok.size()) throw Error(option, "'" + tok + "' is not an integer token id");
    out.push_back(v);
  }
  return out;
}

}  // namespace prospect::cli
