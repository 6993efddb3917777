#pragma once
// PCRE2 (UTF + UCP + JIT) regex with Oniguruma semantics for the patterns found in tokenizer.json:
// \s/\S are Unicode White_Space, \w is Letter|Mark|Nd|Pc, \h is a hex digit, ^/$ are line anchors.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace prospect::tokenizer {

// Rewrites Oniguruma-only shorthand classes into PCRE2 syntax (exposed for tests).
std::string onig_to_pcre2(const std::string& pattern);

class Regex {
 public:
  // literal=true matches the string itself. Throws prospect::Error(context, ...) on a bad pattern.
  Regex(const std::string& pattern, bool literal, const std::string& context);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Calls fn(start, end) for every non-overlapping leftmost match (finditer semantics; an empty match
  // advances by one character). `s` must be valid UTF-8.
  void find_all(std::string_view s, const std::function<void(size_t, size_t)>& fn) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace prospect::tokenizer
