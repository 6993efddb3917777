#include "prospect/eval/pytext.h"

#include <vector>

namespace prospect::eval::pytext {

namespace {
// Decodes the code point starting at s[i]; `n` receives its byte length. Invalid bytes decode as
// themselves (one byte), which is all strip() needs.
uint32_t decode_at(const std::string& s, size_t i, size_t& n) {
  const auto c = (unsigned char)s[i];
  auto cont = [&](size_t k) { return i + k < s.size() && ((unsigned char)s[i + k] & 0xC0) == 0x80; };
  if (c < 0x80) { n = 1; return c; }
  if ((c & 0xE0) == 0xC0 && cont(1)) { n = 2; return ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3F); }
  if ((c & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    n = 3;
    return ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3F);
  }
  if ((c & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    n = 4;
    return ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3F);
  }
  n = 1;
  return c;
}

// Byte offsets where each code point starts, plus s.size().
std::vector<size_t> starts(const std::string& s) {
  std::vector<size_t> v;
  for (size_t i = 0, n = 0; i < s.size(); i += n) {
    v.push_back(i);
    decode_at(s, i, n);
  }
  v.push_back(s.size());
  return v;
}
}  // namespace

bool is_space(uint32_t cp) {
  // CPython's _PyUnicode_IsWhitespace: bidirectional types WS, B, S plus Zs.
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

std::string rstrip(const std::string& s) {
  auto st = starts(s);
  size_t end = st.size() - 1;  // index into st of the end position
  while (end > 0) {
    size_t n;
    if (!is_space(decode_at(s, st[end - 1], n))) break;
    --end;
  }
  return s.substr(0, st[end]);
}

std::string strip(const std::string& s) {
  std::string r = rstrip(s);
  size_t i = 0, n = 0;
  while (i < r.size() && is_space(decode_at(r, i, n))) i += n;
  return r.substr(i);
}

std::string capitalize(const std::string& s) {
  std::string r = s;
  bool first = true;
  for (size_t i = 0, n = 0; i < r.size(); i += n) {
    decode_at(r, i, n);
    if (n == 1) {
      char& c = r[i];
      if (first && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
      if (!first && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    }
    first = false;
  }
  return r;
}

int64_t len(const std::string& s) { return (int64_t)starts(s).size() - 1; }

std::string replace(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string remove_bracketed(const std::string& s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '[') {
      // Lazy ".*?" up to the first ']', failing (no match at this '[') if a newline comes first.
      size_t j = i + 1;
      while (j < s.size() && s[j] != ']' && s[j] != '\n') ++j;
      if (j < s.size() && s[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

std::string hellaswag_preprocess(const std::string& text) {
  std::string t = strip(text);
  // Brackets are artifacts of the WikiHow part of HellaSwag.
  t = replace(t, " [title]", ". ");
  t = remove_bracketed(t);
  t = replace(t, "  ", " ");
  return t;
}

}  // namespace prospect::eval::pytext
