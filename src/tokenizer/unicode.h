#pragma once
// UTF-8 helpers and Unicode normalization (NFC/NFD/NFKC/NFKD) and lowercasing for the tokenizer,
// built on the generated tables in unicode_tables.cpp (Unicode version: unicode_version()).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace prospect::tokenizer::unicode {

const char* unicode_version();

// Decodes one code point at s[i] (valid UTF-8 assumed), advancing i.
inline uint32_t next_cp(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { ++i; return c; }
  if (c < 0xE0) { uint32_t cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu); i += 2; return cp; }
  if (c < 0xF0) {
    uint32_t cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    i += 3;
    return cp;
  }
  uint32_t cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
  i += 4;
  return cp;
}
// Length in bytes of the UTF-8 sequence starting with lead byte c (valid UTF-8 assumed).
inline size_t cp_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }
void append_utf8(std::string& out, uint32_t cp);
std::vector<uint32_t> to_cps(std::string_view s);
std::string from_cps(const std::vector<uint32_t>& cps);

// True when s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);
// Replaces every maximal invalid subsequence by U+FFFD, as Rust's String::from_utf8_lossy.
std::string to_valid_utf8_lossy(std::string_view s);

enum class NormForm { NFC, NFD, NFKC, NFKD };
// Normalizes valid UTF-8. Text already known to be normalized (the common case) is returned quickly.
std::string normalize(std::string_view s, NormForm form);
// Per-code-point full lowercase mapping (Unicode SpecialCasing unconditional, as Rust char::to_lowercase).
std::string lowercase(std::string_view s);

// Unicode White_Space (the definition of Oniguruma's \s and Rust's char::is_whitespace).
bool is_white_space(uint32_t cp);

}  // namespace prospect::tokenizer::unicode
