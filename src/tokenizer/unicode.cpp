// Unicode normalization per UAX #15: full decomposition (tables + algorithmic Hangul), canonical
// ordering by combining class, then canonical composition. The plain algorithm is the reference; the
// only fast path is "return the input unchanged when no code point can change under the form".
#include "unicode.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "unicode_tables.h"

namespace prospect::tokenizer::unicode {
namespace ud = unicode_data;

namespace {
constexpr uint32_t S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7;
constexpr uint32_t L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT;

struct Tables {
  std::unique_ptr<std::bitset<0x110000>> nfc_unsafe, nfkc_unsafe;
  std::unique_ptr<std::array<uint8_t, 0x110000>> ccc;
  std::unordered_map<uint64_t, uint32_t> compose;
  Tables() {
    nfc_unsafe = std::make_unique<std::bitset<0x110000>>();
    nfkc_unsafe = std::make_unique<std::bitset<0x110000>>();
    ccc = std::make_unique<std::array<uint8_t, 0x110000>>();
    ccc->fill(0);
    for (size_t i = 0; i < ud::nfc_unsafe_count; ++i)
      for (uint32_t c = ud::nfc_unsafe[i].first; c <= ud::nfc_unsafe[i].last; ++c) nfc_unsafe->set(c);
    for (size_t i = 0; i < ud::nfkc_unsafe_count; ++i)
      for (uint32_t c = ud::nfkc_unsafe[i].first; c <= ud::nfkc_unsafe[i].last; ++c) nfkc_unsafe->set(c);
    for (size_t i = 0; i < ud::ccc_ranges_count; ++i)
      for (uint32_t c = ud::ccc_ranges[i].first; c <= ud::ccc_ranges[i].last; ++c)
        (*ccc)[c] = static_cast<uint8_t>(ud::ccc_ranges[i].value);
    compose.reserve(ud::composition_pairs_count * 2);
    for (size_t i = 0; i < ud::composition_pairs_count; ++i) {
      const auto& p = ud::composition_pairs[i];
      compose[(uint64_t(p.first) << 32) | p.second] = p.composite;
    }
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}

const ud::MapEntry* find_entry(const ud::MapEntry* entries, size_t n, uint32_t cp) {
  auto it = std::lower_bound(entries, entries + n, cp, [](const ud::MapEntry& e, uint32_t c) { return e.cp < c; });
  return (it != entries + n && it->cp == cp) ? it : nullptr;
}

void decompose_cp(uint32_t cp, bool compat, std::vector<uint32_t>& out) {
  if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
    uint32_t s = cp - S_BASE;
    out.push_back(L_BASE + s / N_COUNT);
    out.push_back(V_BASE + (s % N_COUNT) / T_COUNT);
    if (s % T_COUNT) out.push_back(T_BASE + s % T_COUNT);
    return;
  }
  if (cp >= 0xA0) {  // nothing below U+00A0 decomposes
    const auto* e = compat ? find_entry(ud::nfkd_entries, ud::nfkd_count, cp) : find_entry(ud::nfd_entries, ud::nfd_count, cp);
    if (e) {
      const uint32_t* pool = compat ? ud::nfkd_pool : ud::nfd_pool;
      out.insert(out.end(), pool + e->offset, pool + e->offset + e->length);
      return;
    }
  }
  out.push_back(cp);
}

uint8_t ccc_of(uint32_t cp) { return cp < 0x300 ? 0 : (*tables().ccc)[cp]; }

void canonical_order(std::vector<uint32_t>& v) {
  // Stable sort of each run of non-starters by combining class.
  size_t i = 0, n = v.size();
  while (i < n) {
    if (ccc_of(v[i]) == 0) { ++i; continue; }
    size_t j = i;
    while (j < n && ccc_of(v[j]) != 0) ++j;
    std::stable_sort(v.begin() + i, v.begin() + j, [](uint32_t a, uint32_t b) { return ccc_of(a) < ccc_of(b); });
    i = j;
  }
}

uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
    return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
  if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
    return a + (b - T_BASE);
  const auto& m = tables().compose;
  auto it = m.find((uint64_t(a) << 32) | b);
  return it == m.end() ? 0 : it->second;
}

void canonical_compose(std::vector<uint32_t>& v) {
  if (v.empty()) return;
  size_t starter = SIZE_MAX, out = 0;
  int last_ccc = -1;
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t c = v[i];
    int cc = ccc_of(c);
    if (starter != SIZE_MAX) {
      // Not blocked: no intervening character, or the last one kept has a lower class (and is not a starter).
      bool blocked = last_ccc != -1 && (last_ccc == 0 || last_ccc >= cc);
      if (!blocked) {
        if (uint32_t comp = compose_pair(v[starter], c)) {
          v[starter] = comp;
          continue;
        }
      }
    }
    if (cc == 0) {
      starter = out;
      last_ccc = -1;
    } else {
      last_ccc = cc;
    }
    v[out++] = c;
  }
  v.resize(out);
}
}  // namespace

const char* unicode_version() { return ud::kUnicodeVersion; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<uint32_t> to_cps(std::string_view s) {
  std::vector<uint32_t> v;
  v.reserve(s.size());
  for (size_t i = 0; i < s.size();) v.push_back(next_cp(s, i));
  return v;
}

std::string from_cps(const std::vector<uint32_t>& cps) {
  std::string s;
  s.reserve(cps.size() * 2);
  for (uint32_t c : cps) append_utf8(s, c);
  return s;
}

namespace {
// Length of the valid UTF-8 sequence at s[i], or 0 if invalid; `bad` = length of the maximal invalid prefix.
size_t valid_seq_len(std::string_view s, size_t i, size_t& bad) {
  auto b = [&](size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  unsigned c = b(i);
  size_t n = s.size();
  bad = 1;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    if (i + 1 < n && (b(i + 1) & 0xC0) == 0x80) return 2;
    return 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    if (i + 1 >= n || b(i + 1) < lo || b(i + 1) > hi) return 0;
    bad = 2;
    if (i + 2 >= n || (b(i + 2) & 0xC0) != 0x80) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    if (i + 1 >= n || b(i + 1) < lo || b(i + 1) > hi) return 0;
    bad = 2;
    if (i + 2 >= n || (b(i + 2) & 0xC0) != 0x80) return 0;
    bad = 3;
    if (i + 3 >= n || (b(i + 3) & 0xC0) != 0x80) return 0;
    return 4;
  }
  return 0;
}
}  // namespace

bool is_valid_utf8(std::string_view s) {
  size_t i = 0, n = s.size(), bad;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    size_t len = valid_seq_len(s, i, bad);
    if (!len) return false;
    i += len;
  }
  return true;
}

std::string to_valid_utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0, n = s.size(), bad;
  while (i < n) {
    size_t len = valid_seq_len(s, i, bad);
    if (len) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      i += bad;
    }
  }
  return out;
}

std::string normalize(std::string_view s, NormForm form) {
  bool compat = form == NormForm::NFKC || form == NormForm::NFKD;
  bool compose = form == NormForm::NFC || form == NormForm::NFKC;
  const auto& unsafe = compat ? *tables().nfkc_unsafe : *tables().nfc_unsafe;
  // Quick check: with no "unsafe" code point the composed forms are the identity. For the decomposed
  // forms, a code point below U+00A0 never decomposes, otherwise take the slow path.
  bool need = false;
  for (size_t i = 0; i < s.size() && !need;) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { ++i; continue; }
    uint32_t cp = next_cp(s, i);
    need = compose ? unsafe.test(cp) : true;
  }
  if (!need) return std::string(s);
  std::vector<uint32_t> d;
  d.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) decompose_cp(next_cp(s, i), compat, d);
  canonical_order(d);
  if (compose) canonical_compose(d);
  return from_cps(d);
}

std::string lowercase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      ++i;
      continue;
    }
    uint32_t cp = next_cp(s, i);
    const auto* e = find_entry(ud::lower_entries, ud::lower_count, cp);
    if (!e) {
      append_utf8(out, cp);
    } else {
      for (uint32_t k = 0; k < e->length; ++k) append_utf8(out, ud::lower_pool[e->offset + k]);
    }
  }
  return out;
}

bool is_white_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

}  // namespace prospect::tokenizer::unicode
