#pragma once
// The few Python str operations that lm-evaluation-harness's task definitions apply to dataset text,
// on UTF-8 std::strings: strip/rstrip (Python's Unicode whitespace), capitalize, len (code points),
// replace, and HellaSwag's preprocess().
#include <cstdint>
#include <string>

namespace prospect::eval::pytext {

bool is_space(uint32_t cp);                  // str.isspace() for one code point
std::string strip(const std::string& s);     // str.strip()
std::string rstrip(const std::string& s);    // str.rstrip()
// str.capitalize(): first character upper case, the rest lower case. Only ASCII letters change case
// (HellaSwag's text is ASCII; other code points are kept as they are).
std::string capitalize(const std::string& s);
int64_t len(const std::string& s);           // len(str): number of code points
// str.replace(old, new): every non-overlapping occurrence, scanning left to right.
std::string replace(const std::string& s, const std::string& from, const std::string& to);
// re.sub(r"\[.*?\]", "", s): '.' does not match '\n'.
std::string remove_bracketed(const std::string& s);
// lm_eval/tasks/hellaswag/utils.py preprocess().
std::string hellaswag_preprocess(const std::string& text);

}  // namespace prospect::eval::pytext
