#include "regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "prospect/core/error.h"

namespace prospect::tokenizer {

namespace {
// Unicode White_Space, the meaning of \s in Oniguruma (PCRE2's \s differs at U+0085).
const char* kSpaceItems = "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
const char* kWordItems = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";
const char* kHexItems = "0-9a-fA-F";

struct MatchResources {
  pcre2_match_data* md = nullptr;
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* mctx = nullptr;
  MatchResources() {
    md = pcre2_match_data_create(4, nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    mctx = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(mctx, nullptr, stack);
  }
  ~MatchResources() {
    pcre2_match_context_free(mctx);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(md);
  }
};
MatchResources& resources() {
  thread_local MatchResources r;
  return r;
}
}  // namespace

std::string onig_to_pcre2(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 32);
  int class_depth = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      ++i;
      const char* items = nullptr;
      bool negate = false;
      switch (e) {
        case 's': items = kSpaceItems; break;
        case 'S': items = kSpaceItems; negate = true; break;
        case 'w': items = kWordItems; break;
        case 'W': items = kWordItems; negate = true; break;
        case 'h': items = kHexItems; break;
        case 'H': items = kHexItems; negate = true; break;
        default: break;
      }
      if (!items || (negate && class_depth > 0)) {
        // Other escapes are the same in both engines. A negated shorthand inside a class has no
        // PCRE2 spelling as items; PCRE2's own meaning is kept there.
        out += '\\';
        out += e;
        continue;
      }
      if (class_depth > 0) {
        out += items;
      } else {
        out += negate ? "[^" : "[";
        out += items;
        out += ']';
      }
      continue;
    }
    if (c == '[') {
      // "[" inside a class opens a nested class in Oniguruma; PCRE2 only knows POSIX [:x:] there.
      if (class_depth > 0 && i + 1 < p.size() && p[i + 1] == ':') {
        size_t close = p.find(":]", i + 2);
        if (close != std::string::npos) {
          out.append(p, i, close + 2 - i);
          i = close + 1;
          continue;
        }
      }
      if (class_depth > 0) {
        out += "\\[";
        continue;
      }
      ++class_depth;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') { out += '^'; ++i; }
      if (i + 1 < p.size() && p[i + 1] == ']') { out += "\\]"; ++i; }
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

Regex::Regex(const std::string& pattern, bool literal, const std::string& context) : pattern_(pattern) {
  std::string translated = literal ? pattern : onig_to_pcre2(pattern);
  uint32_t opts = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), opts, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    throw Error(context, "cannot compile regex '" + pattern + "' at offset " + std::to_string(off) + ": " +
                             reinterpret_cast<char*>(buf));
  }
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::find_all(std::string_view s, const std::function<void(size_t, size_t)>& fn) const {
  auto* code = static_cast<pcre2_code*>(code_);
  auto& r = resources();
  PCRE2_SPTR subj = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0, n = s.size();
  while (pos <= n) {
    int rc = jit_ ? pcre2_jit_match(code, subj, n, pos, 0, r.md, r.mctx)
                  : pcre2_match(code, subj, n, pos, PCRE2_NO_UTF_CHECK, r.md, r.mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof buf);
      throw Error("regex '" + pattern_ + "'", std::string("match failed: ") + reinterpret_cast<char*>(buf));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(r.md);
    size_t a = ov[0], b = ov[1];
    fn(a, b);
    if (b > a) {
      pos = b;
    } else {
      if (b >= n) break;
      // Empty match: step over one whole character.
      unsigned char c = static_cast<unsigned char>(s[b]);
      pos = b + (c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4);
    }
  }
}

}  // namespace prospect::tokenizer
