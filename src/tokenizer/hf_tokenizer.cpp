// Hugging Face tokenizer.json: added tokens -> normalizer -> pre-tokenizer -> BPE model ->
// post-processor, and the decoder chain for decode. Semantics follow the Rust `tokenizers` crate.
#include "prospect/tokenizer/hf_tokenizer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "regex.h"
#include "unicode.h"

namespace prospect::tokenizer {

using nlohmann::json;
namespace uc = unicode;

namespace {

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet (GPT-2): printable bytes map to themselves, the other 68 to U+0100.. in order.
struct ByteAlphabet {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_str;
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;
  ByteAlphabet() {
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_to_cp[b] = printable ? b : next++;
      uc::append_utf8(byte_to_str[b], byte_to_cp[b]);
      cp_to_byte[byte_to_cp[b]] = static_cast<uint8_t>(b);
    }
  }
};
const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet a;
  return a;
}

std::string byte_level_map(std::string_view s) {
  const auto& a = byte_alphabet();
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) out += a.byte_to_str[c];
  return out;
}

std::string type_of(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "<no type>";
  return j["type"].get<std::string>();
}

// Reads a {"String": s} / {"Regex": r} pattern.
std::unique_ptr<Regex> read_pattern(const json& p, const std::string& ctx) {
  if (p.is_object() && p.contains("Regex")) return std::make_unique<Regex>(p["Regex"].get<std::string>(), false, ctx);
  if (p.is_object() && p.contains("String")) return std::make_unique<Regex>(p["String"].get<std::string>(), true, ctx);
  if (p.is_string()) return std::make_unique<Regex>(p.get<std::string>(), true, ctx);
  throw Error(ctx, "pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

// ---------------------------------------------------------------------------------------------
// Normalizers
struct Normalizer {
  virtual ~Normalizer() = default;
  virtual std::string apply(std::string s) const = 0;
};

struct NormalizeForm : Normalizer {
  uc::NormForm form;
  explicit NormalizeForm(uc::NormForm f) : form(f) {}
  std::string apply(std::string s) const override { return uc::normalize(s, form); }
};
struct Lowercase : Normalizer {
  std::string apply(std::string s) const override { return uc::lowercase(s); }
};
struct ReplaceNorm : Normalizer {
  std::unique_ptr<Regex> re;
  std::string content;
  std::string apply(std::string s) const override {
    std::string out;
    size_t prev = 0;
    re->find_all(s, [&](size_t a, size_t b) {
      out.append(s, prev, a - prev);
      out += content;
      prev = b;
    });
    out.append(s, prev, std::string::npos);
    return out;
  }
};
struct PrependNorm : Normalizer {
  std::string prepend;
  std::string apply(std::string s) const override { return s.empty() ? s : prepend + s; }
};
struct StripNorm : Normalizer {
  bool left = true, right = true;
  std::string apply(std::string s) const override {
    size_t a = 0, b = s.size();
    if (left) {
      while (a < b) {
        size_t i = a;
        if (!uc::is_white_space(uc::next_cp(s, i))) break;
        a = i;
      }
    }
    if (right) {
      while (b > a) {
        size_t i = b - 1;
        while (i > a && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
        size_t j = i;
        if (!uc::is_white_space(uc::next_cp(s, j))) break;
        b = i;
      }
    }
    return s.substr(a, b - a);
  }
};
struct SequenceNorm : Normalizer {
  std::vector<std::unique_ptr<Normalizer>> items;
  std::string apply(std::string s) const override {
    for (const auto& n : items) s = n->apply(std::move(s));
    return s;
  }
};

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& ctx) {
  std::string t = type_of(j);
  std::string c = ctx + ": normalizer " + t;
  if (t == "NFC") return std::make_unique<NormalizeForm>(uc::NormForm::NFC);
  if (t == "NFD") return std::make_unique<NormalizeForm>(uc::NormForm::NFD);
  if (t == "NFKC") return std::make_unique<NormalizeForm>(uc::NormForm::NFKC);
  if (t == "NFKD") return std::make_unique<NormalizeForm>(uc::NormForm::NFKD);
  if (t == "Lowercase") return std::make_unique<Lowercase>();
  if (t == "Replace") {
    auto r = std::make_unique<ReplaceNorm>();
    r->re = read_pattern(j.at("pattern"), c);
    r->content = j.at("content").get<std::string>();
    return r;
  }
  if (t == "Prepend") {
    auto r = std::make_unique<PrependNorm>();
    r->prepend = j.at("prepend").get<std::string>();
    return r;
  }
  if (t == "Strip") {
    auto r = std::make_unique<StripNorm>();
    r->left = j.value("strip_left", true);
    r->right = j.value("strip_right", true);
    return r;
  }
  if (t == "Sequence") {
    auto r = std::make_unique<SequenceNorm>();
    for (const auto& n : j.at("normalizers")) r->items.push_back(make_normalizer(n, ctx));
    return r;
  }
  throw Error(ctx, "unsupported normalizer type '" + t + "'");
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers. Pieces are strings; `first` marks the piece that starts the input (Metaspace "first").
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const json& j, const std::string& ctx) {
  std::string b = j.get<std::string>();
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  throw Error(ctx, "unsupported split behavior '" + b + "'");
}

struct Span {
  size_t a, b;
  bool match;
};

// HF SplitDelimiterBehavior applied to the alternating (match / non-match) spans of s.
void split_spans(std::string_view s, const std::vector<Span>& spans, Behavior beh, std::vector<std::string>& out) {
  std::vector<std::pair<size_t, size_t>> res;
  switch (beh) {
    case Behavior::Removed:
      for (const auto& sp : spans)
        if (!sp.match) res.emplace_back(sp.a, sp.b);
      break;
    case Behavior::Isolated:
      for (const auto& sp : spans) res.emplace_back(sp.a, sp.b);
      break;
    case Behavior::MergedWithPrevious: {
      bool prev = false;
      for (const auto& sp : spans) {
        if (sp.match && !prev && !res.empty()) res.back().second = sp.b;
        else res.emplace_back(sp.a, sp.b);
        prev = sp.match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool prev = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !prev && !res.empty()) res.back().first = it->a;
        else res.emplace_back(it->a, it->b);
        prev = it->match;
      }
      std::reverse(res.begin(), res.end());
      break;
    }
    case Behavior::Contiguous: {
      bool prev = false;
      for (const auto& sp : spans) {
        if (sp.match == prev && !res.empty()) res.back().second = sp.b;
        else res.emplace_back(sp.a, sp.b);
        prev = sp.match;
      }
      break;
    }
  }
  for (const auto& [a, b] : res)
    if (b > a) out.emplace_back(s.substr(a, b - a));
}

void regex_spans(const Regex& re, std::string_view s, bool invert, std::vector<Span>& spans) {
  spans.clear();
  size_t prev = 0;
  re.find_all(s, [&](size_t a, size_t b) {
    if (a > prev) spans.push_back({prev, a, invert});
    spans.push_back({a, b, !invert});
    prev = b;
  });
  if (prev < s.size()) spans.push_back({prev, s.size(), invert});
}

struct PreTokenizer {
  virtual ~PreTokenizer() = default;
  // Transforms the pieces in place.
  virtual void apply(std::vector<std::string>& pieces, bool at_start) const = 0;
};

struct SplitPre : PreTokenizer {
  std::unique_ptr<Regex> re;
  Behavior behavior = Behavior::Isolated;
  bool invert = false;
  void apply(std::vector<std::string>& pieces, bool) const override {
    std::vector<std::string> out;
    out.reserve(pieces.size() * 4);
    std::vector<Span> spans;
    for (const auto& p : pieces) {
      regex_spans(*re, p, invert, spans);
      split_spans(p, spans, behavior, out);
    }
    pieces.swap(out);
  }
};

const char* kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct ByteLevelPre : PreTokenizer {
  bool add_prefix_space = true, use_regex = true;
  bool map_bytes = true;  // false when the model maps the raw bytes itself (fast path)
  std::unique_ptr<Regex> re;
  ByteLevelPre() : re(std::make_unique<Regex>(kGpt2Pattern, false, "ByteLevel")) {}
  void apply(std::vector<std::string>& pieces, bool) const override {
    std::vector<std::string> out;
    out.reserve(pieces.size() * 4);
    std::vector<Span> spans;
    for (auto& p : pieces) {
      if (add_prefix_space && (p.empty() || p[0] != ' ')) p.insert(p.begin(), ' ');
      if (use_regex) {
        regex_spans(*re, p, false, spans);
        split_spans(p, spans, Behavior::Isolated, out);
      } else if (!p.empty()) {
        out.push_back(std::move(p));
      }
    }
    if (map_bytes)
      for (auto& p : out) p = byte_level_map(p);
    pieces.swap(out);
  }
};

struct MetaspacePre : PreTokenizer {
  std::string replacement = "\xE2\x96\x81";  // U+2581
  std::string prepend_scheme = "always";
  bool split = true;
  void apply(std::vector<std::string>& pieces, bool at_start) const override {
    std::vector<std::string> out;
    for (auto& p : pieces) {
      std::string r;
      r.reserve(p.size() + 8);
      for (char c : p) {
        if (c == ' ') r += replacement;
        else r += c;
      }
      bool prepend = prepend_scheme == "always" || (prepend_scheme == "first" && at_start && &p == &pieces.front());
      if (prepend && r.compare(0, replacement.size(), replacement) != 0) r = replacement + r;
      if (!split) {
        out.push_back(std::move(r));
        continue;
      }
      // Split before each replacement char (MergedWithNext).
      size_t start = 0;
      for (size_t pos = r.find(replacement, 1); pos != std::string::npos; pos = r.find(replacement, pos + 1)) {
        out.push_back(r.substr(start, pos - start));
        start = pos;
      }
      if (start < r.size()) out.push_back(r.substr(start));
    }
    pieces.swap(out);
  }
};

struct SequencePre : PreTokenizer {
  std::vector<std::unique_ptr<PreTokenizer>> items;
  void apply(std::vector<std::string>& pieces, bool at_start) const override {
    for (const auto& p : items) p->apply(pieces, at_start);
  }
};

std::unique_ptr<SplitPre> make_split(const std::string& regex, Behavior b, bool invert, const std::string& ctx) {
  auto r = std::make_unique<SplitPre>();
  r->re = std::make_unique<Regex>(regex, false, ctx);
  r->behavior = b;
  r->invert = invert;
  return r;
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& ctx) {
  std::string t = type_of(j);
  std::string c = ctx + ": pre_tokenizer " + t;
  if (t == "Split") {
    auto r = std::make_unique<SplitPre>();
    r->re = read_pattern(j.at("pattern"), c);
    r->behavior = parse_behavior(j.at("behavior"), c);
    r->invert = j.value("invert", false);
    return r;
  }
  if (t == "ByteLevel") {
    auto r = std::make_unique<ByteLevelPre>();
    r->add_prefix_space = j.value("add_prefix_space", true);
    r->use_regex = j.value("use_regex", true);
    return r;
  }
  if (t == "Digits") {
    bool individual = j.value("individual_digits", false);
    return make_split(individual ? "\\p{N}" : "\\p{N}+", individual ? Behavior::Isolated : Behavior::Contiguous, false, c);
  }
  if (t == "Whitespace") return make_split("\\w+|[^\\w\\s]+", Behavior::Removed, true, c);
  if (t == "WhitespaceSplit") return make_split("\\s+", Behavior::Removed, false, c);
  if (t == "Metaspace") {
    auto r = std::make_unique<MetaspacePre>();
    r->replacement = j.value("replacement", std::string("\xE2\x96\x81"));
    if (j.contains("prepend_scheme")) r->prepend_scheme = j["prepend_scheme"].get<std::string>();
    else if (j.contains("add_prefix_space")) r->prepend_scheme = j["add_prefix_space"].get<bool>() ? "always" : "never";
    r->split = j.value("split", true);
    return r;
  }
  if (t == "Sequence") {
    auto r = std::make_unique<SequencePre>();
    for (const auto& p : j.at("pretokenizers")) r->items.push_back(make_pre_tokenizer(p, ctx));
    return r;
  }
  throw Error(ctx, "unsupported pre_tokenizer type '" + t + "'");
}

// ---------------------------------------------------------------------------------------------
// BPE model
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Bpe {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::string> id_to_token;  // indexed by id ("" for holes)
  struct Merge {
    int32_t rank, id;
  };
  std::unordered_map<uint64_t, Merge> merges;
  std::optional<int32_t> unk_id;
  bool byte_fallback = false, fuse_unk = false, ignore_merges = false;
  std::string prefix, suffix;
  std::array<int32_t, 256> byte_ids{};      // id of the byte-level char of each byte (-1 if absent)
  std::array<int32_t, 256> fallback_ids{};  // id of "<0xXX>" (-1 if absent)

  // Piece cache: sharded to keep encode_batch threads from contending.
  static constexpr size_t kShards = 16, kMaxPerShard = 1 << 15;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>> map;
  };
  mutable std::array<Shard, kShards> cache;
  bool use_cache = true;

  std::optional<int32_t> find(std::string_view s) const {
    auto it = vocab.find(std::string(s));
    if (it == vocab.end()) return std::nullopt;
    return it->second;
  }

  void push_unknown(std::string_view ch, std::vector<int32_t>& syms) const {
    if (byte_fallback) {
      bool all = true;
      for (unsigned char b : ch) all = all && fallback_ids[b] >= 0;
      if (all) {
        for (unsigned char b : ch) syms.push_back(fallback_ids[b]);
        return;
      }
    }
    if (unk_id) {
      if (fuse_unk && !syms.empty() && syms.back() == *unk_id) return;
      syms.push_back(*unk_id);
    }
    // No unk token: the character is dropped, as in the Rust implementation.
  }

  // Initial symbols of a piece. raw_bytes: the piece is raw bytes to be read through byte_ids.
  void initial_symbols(std::string_view piece, bool raw_bytes, std::vector<int32_t>& syms) const {
    syms.clear();
    if (raw_bytes) {
      for (unsigned char b : piece) {
        if (byte_ids[b] >= 0) syms.push_back(byte_ids[b]);
        else push_unknown(byte_alphabet().byte_to_str[b], syms);
      }
      return;
    }
    std::string buf;
    for (size_t i = 0; i < piece.size();) {
      size_t len = uc::cp_len(static_cast<unsigned char>(piece[i]));
      std::string_view ch = piece.substr(i, len);
      bool first = i == 0, last = i + len >= piece.size();
      i += len;
      std::optional<int32_t> id;
      if ((first || prefix.empty()) && (!last || suffix.empty())) {
        id = find(ch);
      } else {
        buf.clear();
        if (!first) buf += prefix;
        buf += ch;
        if (last) buf += suffix;
        id = find(buf);
      }
      if (id) syms.push_back(*id);
      else push_unknown(ch, syms);
    }
  }

  void merge(std::vector<int32_t>& syms) const {
    size_t n = syms.size();
    if (n < 2) return;
    // Doubly linked symbols; a priority queue of candidate merges ordered by (rank, position).
    std::vector<int32_t> prev(n), next(n);
    for (size_t i = 0; i < n; ++i) {
      prev[i] = static_cast<int32_t>(i) - 1;
      next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    }
    struct Cand {
      int32_t rank, pos, left, right;
      bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> pq;
    auto consider = [&](int32_t i) {
      if (i < 0 || next[i] < 0) return;
      auto it = merges.find((uint64_t(uint32_t(syms[i])) << 32) | uint32_t(syms[next[i]]));
      if (it != merges.end()) pq.push({it->second.rank, i, syms[i], syms[next[i]]});
    };
    for (size_t i = 0; i + 1 < n; ++i) consider(static_cast<int32_t>(i));
    std::vector<char> alive(n, 1);
    while (!pq.empty()) {
      Cand c = pq.top();
      pq.pop();
      int32_t i = c.pos;
      if (!alive[i] || next[i] < 0 || syms[i] != c.left || syms[next[i]] != c.right) continue;
      int32_t j = next[i];
      syms[i] = merges.at((uint64_t(uint32_t(c.left)) << 32) | uint32_t(c.right)).id;
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      consider(prev[i]);
      consider(i);
    }
    size_t out = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) syms[out++] = syms[i];
    syms.resize(out);
  }

  void tokenize(const std::string& piece, bool raw_bytes, std::vector<int64_t>& out) const {
    if (piece.empty()) return;
    Shard* shard = nullptr;
    if (use_cache) {
      shard = &cache[std::hash<std::string>{}(piece) % kShards];
      std::lock_guard<std::mutex> lk(shard->mu);
      auto it = shard->map.find(piece);
      if (it != shard->map.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int32_t> syms;
    bool whole = false;
    if (ignore_merges) {
      auto id = raw_bytes ? find(byte_level_map(piece)) : find(piece);
      if (id) {
        syms.push_back(*id);
        whole = true;
      }
    }
    if (!whole) {
      initial_symbols(piece, raw_bytes, syms);
      merge(syms);
    }
    out.insert(out.end(), syms.begin(), syms.end());
    if (shard) {
      std::lock_guard<std::mutex> lk(shard->mu);
      if (shard->map.size() < kMaxPerShard) shard->map.emplace(piece, std::move(syms));
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Added tokens
struct AddedToken {
  int32_t id;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

bool is_word_cp(uint32_t cp);

// Leftmost-longest matcher over a small set of literal strings.
struct AddedMatcher {
  std::vector<const AddedToken*> tokens;  // patterns, longest first within a first byte
  std::array<std::vector<size_t>, 256> by_first;
  std::vector<std::string> patterns;
  void add(const AddedToken* t, std::string pattern) {
    if (pattern.empty()) return;
    tokens.push_back(t);
    patterns.push_back(std::move(pattern));
  }
  void build() {
    for (auto& v : by_first) v.clear();
    for (size_t i = 0; i < patterns.size(); ++i) by_first[static_cast<unsigned char>(patterns[i][0])].push_back(i);
    for (auto& v : by_first)
      std::stable_sort(v.begin(), v.end(), [&](size_t a, size_t b) { return patterns[a].size() > patterns[b].size(); });
  }
  bool empty() const { return patterns.empty(); }
  // Finds the leftmost-longest match at or after pos; returns pattern index or -1.
  long find(std::string_view s, size_t pos, size_t& at) const {
    for (size_t i = pos; i < s.size(); ++i) {
      const auto& cands = by_first[static_cast<unsigned char>(s[i])];
      for (size_t k : cands) {
        const auto& p = patterns[k];
        if (s.size() - i >= p.size() && std::memcmp(s.data() + i, p.data(), p.size()) == 0) {
          at = i;
          return static_cast<long>(k);
        }
      }
    }
    return -1;
  }
};

struct Segment {
  size_t a, b;
  int32_t id;  // -1: text to process
};

size_t cp_start_before(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Splits s into added-token matches and text, applying lstrip/rstrip/single_word as HF AddedVocabulary.
void split_added(std::string_view s, const AddedMatcher& m, std::vector<Segment>& segs) {
  segs.clear();
  if (m.empty()) {
    segs.push_back({0, s.size(), -1});
    return;
  }
  size_t pos = 0, text_start = 0;
  size_t at;
  while (pos < s.size()) {
    long k = m.find(s, pos, at);
    if (k < 0) break;
    const AddedToken& t = *m.tokens[k];
    size_t start = at, stop = at + m.patterns[k].size();
    if (t.single_word) {
      bool start_ok = true, stop_ok = true;
      if (start > 0) {
        size_t i = cp_start_before(s, start);
        start_ok = !is_word_cp(uc::next_cp(s, i));
      }
      if (stop < s.size()) {
        size_t i = stop;
        stop_ok = !is_word_cp(uc::next_cp(s, i));
      }
      if (!start_ok || !stop_ok) {
        pos = at + uc::cp_len(static_cast<unsigned char>(s[at]));
        continue;
      }
    }
    if (t.lstrip) {
      while (start > text_start) {
        size_t i = cp_start_before(s, start), j = i;
        if (!uc::is_white_space(uc::next_cp(s, j))) break;
        start = i;
      }
    }
    if (t.rstrip) {
      while (stop < s.size()) {
        size_t j = stop;
        if (!uc::is_white_space(uc::next_cp(s, j))) break;
        stop = j;
      }
    }
    if (start > text_start) segs.push_back({text_start, start, -1});
    segs.push_back({start, stop, t.id});
    pos = text_start = stop;
  }
  if (text_start < s.size()) segs.push_back({text_start, s.size(), -1});
}

// ---------------------------------------------------------------------------------------------
// Post-processors (only the ids matter here; ByteLevel adds nothing).
struct PostProcessor {
  virtual ~PostProcessor() = default;
  virtual void apply(std::vector<int64_t>& ids) const = 0;
};
struct TemplatePost : PostProcessor {
  // Items: -1 = the sequence, otherwise a list of ids.
  std::vector<std::vector<int64_t>> items;
  std::vector<bool> is_seq;
  void apply(std::vector<int64_t>& ids) const override {
    std::vector<int64_t> out;
    out.reserve(ids.size() + 4);
    for (size_t i = 0; i < items.size(); ++i) {
      if (is_seq[i]) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), items[i].begin(), items[i].end());
    }
    ids.swap(out);
  }
};
struct NoopPost : PostProcessor {
  void apply(std::vector<int64_t>&) const override {}
};
struct SequencePost : PostProcessor {
  std::vector<std::unique_ptr<PostProcessor>> items;
  void apply(std::vector<int64_t>& ids) const override {
    for (const auto& p : items) p->apply(ids);
  }
};

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& ctx) {
  std::string t = type_of(j);
  std::string c = ctx + ": post_processor " + t;
  if (t == "ByteLevel") return std::make_unique<NoopPost>();
  if (t == "TemplateProcessing") {
    auto r = std::make_unique<TemplatePost>();
    const json& specials = j.contains("special_tokens") ? j["special_tokens"] : json::object();
    for (const auto& item : j.at("single")) {
      if (item.contains("Sequence")) {
        if (item["Sequence"].value("id", std::string("A")) != "A") throw Error(c, "single template uses sequence B");
        r->items.emplace_back();
        r->is_seq.push_back(true);
      } else if (item.contains("SpecialToken")) {
        std::string id = item["SpecialToken"].at("id").get<std::string>();
        if (!specials.contains(id)) throw Error(c, "special token '" + id + "' missing from special_tokens");
        r->items.push_back(specials[id].at("ids").get<std::vector<int64_t>>());
        r->is_seq.push_back(false);
      } else {
        throw Error(c, "unknown template item " + item.dump());
      }
    }
    return r;
  }
  if (t == "BertProcessing" || t == "RobertaProcessing") {
    auto r = std::make_unique<TemplatePost>();
    r->items = {{j.at("cls").at(1).get<int64_t>()}, {}, {j.at("sep").at(1).get<int64_t>()}};
    r->is_seq = {false, true, false};
    return r;
  }
  if (t == "Sequence") {
    auto r = std::make_unique<SequencePost>();
    for (const auto& p : j.at("processors")) r->items.push_back(make_post_processor(p, ctx));
    return r;
  }
  throw Error(ctx, "unsupported post_processor type '" + t + "'");
}

// ---------------------------------------------------------------------------------------------
// Decoders: decode_chain over the token strings, joined at the end.
struct Decoder {
  virtual ~Decoder() = default;
  virtual void apply(std::vector<std::string>& tokens) const = 0;
};

std::string lossy(const std::string& bytes) {
  return uc::is_valid_utf8(bytes) ? bytes : uc::to_valid_utf8_lossy(bytes);
}

struct ByteLevelDec : Decoder {
  void apply(std::vector<std::string>& tokens) const override {
    const auto& a = byte_alphabet();
    std::string bytes;
    for (const auto& t : tokens) {
      size_t mark = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size();) {
        uint32_t cp = uc::next_cp(t, i);
        auto it = a.cp_to_byte.find(cp);
        if (it == a.cp_to_byte.end()) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(it->second));
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, lossy(bytes));
  }
};
struct ReplaceDec : Decoder {
  std::unique_ptr<Regex> re;
  std::string content;
  void apply(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::string out;
      size_t prev = 0;
      re->find_all(t, [&](size_t a, size_t b) {
        out.append(t, prev, a - prev);
        out += content;
        prev = b;
      });
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
  }
};
struct FuseDec : Decoder {
  void apply(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, all);
  }
};
struct StripDec : Decoder {
  std::string content;
  size_t start = 0, stop = 0;
  void apply(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<uint32_t> cps = uc::to_cps(t);
      uint32_t c = uc::to_cps(content).at(0);
      size_t a = 0, b = cps.size();
      for (size_t k = 0; k < start && a < b && cps[a] == c; ++k) ++a;
      for (size_t k = 0; k < stop && b > a && cps[b - 1] == c; ++k) --b;
      t = uc::from_cps(std::vector<uint32_t>(cps.begin() + a, cps.begin() + b));
    }
  }
};
struct ByteFallbackDec : Decoder {
  void apply(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_n = 0;
    auto flush = [&]() {
      if (!pending_n) return;
      if (uc::is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending_n; ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
      pending_n = 0;
    };
    for (auto& t : tokens) {
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
          std::isxdigit(static_cast<unsigned char>(t[4]))) {
        pending.push_back(static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
        ++pending_n;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }
};
struct MetaspaceDec : Decoder {
  std::string replacement = "\xE2\x96\x81";
  bool strip_first = true;
  void apply(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const auto& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, replacement.size(), replacement) == 0) {
          out += ' ';
          k += replacement.size();
        } else {
          out += t[k++];
        }
      }
      if (i == 0 && strip_first && !out.empty() && out[0] == ' ') out.erase(0, 1);
      tokens[i] = std::move(out);
    }
  }
};
struct SequenceDec : Decoder {
  std::vector<std::unique_ptr<Decoder>> items;
  void apply(std::vector<std::string>& tokens) const override {
    for (const auto& d : items) d->apply(tokens);
  }
};

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& ctx) {
  std::string t = type_of(j);
  std::string c = ctx + ": decoder " + t;
  if (t == "ByteLevel") return std::make_unique<ByteLevelDec>();
  if (t == "Replace") {
    auto r = std::make_unique<ReplaceDec>();
    r->re = read_pattern(j.at("pattern"), c);
    r->content = j.at("content").get<std::string>();
    return r;
  }
  if (t == "Fuse") return std::make_unique<FuseDec>();
  if (t == "Strip") {
    auto r = std::make_unique<StripDec>();
    r->content = j.at("content").get<std::string>();
    r->start = j.value("start", 0);
    r->stop = j.value("stop", 0);
    if (r->content.empty()) throw Error(c, "empty content");
    return r;
  }
  if (t == "ByteFallback") return std::make_unique<ByteFallbackDec>();
  if (t == "Metaspace") {
    auto r = std::make_unique<MetaspaceDec>();
    r->replacement = j.value("replacement", std::string("\xE2\x96\x81"));
    std::string scheme = j.value("prepend_scheme", std::string(j.value("add_prefix_space", true) ? "always" : "never"));
    r->strip_first = scheme != "never";
    return r;
  }
  if (t == "Sequence") {
    auto r = std::make_unique<SequenceDec>();
    for (const auto& d : j.at("decoders")) r->items.push_back(make_decoder(d, ctx));
    return r;
  }
  throw Error(ctx, "unsupported decoder type '" + t + "'");
}

std::unique_ptr<Regex>& word_regex() {
  static std::unique_ptr<Regex> re = std::make_unique<Regex>("[\\p{L}\\p{N}_]", false, "word");
  return re;
}
bool is_word_cp(uint32_t cp) {
  std::string s;
  uc::append_utf8(s, cp);
  bool found = false;
  word_regex()->find_all(s, [&](size_t, size_t) { found = true; });
  return found;
}

// A token id read from tokenizer.json: an integer up to 2^31 - 1, else `message` (a float or a huge
// value would otherwise be an undefined or truncating cast; found by fuzzing).
int32_t json_token_id(const json& v, const std::string& source, const std::string& message) {
  const bool too_big = v.is_number_unsigned() ? v.get<uint64_t>() > (uint64_t)INT32_MAX
                                              : v.is_number_integer() && v.get<int64_t>() > INT32_MAX;
  if (!v.is_number_integer() || too_big) throw Error(source, message);
  return v.get<int32_t>();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
struct HfTokenizer::Impl {
  std::string source;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  ByteLevelPre* final_byte_level = nullptr;  // the last pre-tokenizer step when it is ByteLevel
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  Bpe bpe;
  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_by_content;
  std::unordered_map<int32_t, size_t> added_by_id;
  AddedMatcher raw_matcher, norm_matcher;
  bool fast_byte_level = false;
  int64_t size = 0;

  void encode_text(std::string_view text, bool at_start, std::vector<int64_t>& out) const {
    std::string norm = normalizer ? normalizer->apply(std::string(text)) : std::string(text);
    std::vector<Segment> segs;
    split_added(norm, norm_matcher, segs);
    std::vector<std::string> pieces;
    for (const auto& sg : segs) {
      if (sg.id >= 0) {
        out.push_back(sg.id);
        continue;
      }
      pieces.clear();
      pieces.emplace_back(norm, sg.a, sg.b - sg.a);
      if (pre_tokenizer) pre_tokenizer->apply(pieces, at_start && sg.a == 0);
      for (const auto& p : pieces) bpe.tokenize(p, fast_byte_level, out);
    }
  }
};

HfTokenizer::HfTokenizer(const json& j, const std::string& source) : impl_(std::make_unique<Impl>()) {
  auto& I = *impl_;
  I.source = source;
  try {
    if (!j.is_object()) throw Error(source, "tokenizer.json is not a JSON object");
    if (j.contains("truncation") && !j["truncation"].is_null())
      spdlog::warn("{}: truncation settings are ignored (the caller truncates)", source);
    if (j.contains("padding") && !j["padding"].is_null())
      spdlog::warn("{}: padding settings are ignored (the caller pads)", source);
    const json& model = j.at("model");
    std::string mtype = model.value("type", std::string(model.contains("merges") ? "BPE" : "<no type>"));
    if (mtype != "BPE") throw Error(source, "unsupported model type '" + mtype + "' (only BPE is supported)");
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() > 0.0)
      throw Error(source, "unsupported BPE dropout (training-time only)");
    auto& B = I.bpe;
    for (auto it = model.at("vocab").begin(); it != model.at("vocab").end(); ++it) {
      int32_t id = json_token_id(it.value(), source, "token '" + it.key() + "': the id must be an integer below 2^31");
      if (id < 0) throw Error(source, "negative id for token '" + it.key() + "'");
      B.vocab[it.key()] = id;
      if (static_cast<size_t>(id) >= B.id_to_token.size()) B.id_to_token.resize(id + 1);
      B.id_to_token[id] = it.key();
    }
    int32_t rank = 0;
    for (const auto& m : model.at("merges")) {
      std::string a, b;
      if (m.is_string()) {
        std::string s = m.get<std::string>();
        size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) throw Error(source, "bad merge '" + s + "'");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else {
        a = m.at(0).get<std::string>();
        b = m.at(1).get<std::string>();
      }
      auto ia = B.vocab.find(a), ib = B.vocab.find(b), ic = B.vocab.find(a + b);
      if (ia == B.vocab.end() || ib == B.vocab.end() || ic == B.vocab.end())
        throw Error(source, "merge '" + a + " " + b + "' uses tokens missing from the vocab");
      B.merges.emplace((uint64_t(uint32_t(ia->second)) << 32) | uint32_t(ib->second), Bpe::Merge{rank, ic->second});
      ++rank;
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      auto it = B.vocab.find(model["unk_token"].get<std::string>());
      if (it != B.vocab.end()) B.unk_id = it->second;
    }
    B.byte_fallback = model.value("byte_fallback", false);
    B.fuse_unk = model.value("fuse_unk", false);
    B.ignore_merges = model.value("ignore_merges", false);
    if (model.contains("continuing_subword_prefix") && model["continuing_subword_prefix"].is_string())
      B.prefix = model["continuing_subword_prefix"].get<std::string>();
    if (model.contains("end_of_word_suffix") && model["end_of_word_suffix"].is_string())
      B.suffix = model["end_of_word_suffix"].get<std::string>();
    const auto& alpha = byte_alphabet();
    for (int b = 0; b < 256; ++b) {
      auto it = B.vocab.find(alpha.byte_to_str[b]);
      B.byte_ids[b] = it == B.vocab.end() ? -1 : it->second;
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      auto f = B.vocab.find(buf);
      B.fallback_ids[b] = f == B.vocab.end() ? -1 : f->second;
    }

    if (j.contains("normalizer") && !j["normalizer"].is_null()) I.normalizer = make_normalizer(j["normalizer"], source);
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) {
      I.pre_tokenizer = make_pre_tokenizer(j["pre_tokenizer"], source);
      PreTokenizer* last = I.pre_tokenizer.get();
      while (auto* seq = dynamic_cast<SequencePre*>(last)) last = seq->items.empty() ? nullptr : seq->items.back().get();
      I.final_byte_level = dynamic_cast<ByteLevelPre*>(last);
    }
    if (j.contains("post_processor") && !j["post_processor"].is_null())
      I.post_processor = make_post_processor(j["post_processor"], source);
    if (j.contains("decoder") && !j["decoder"].is_null()) I.decoder = make_decoder(j["decoder"], source);

    std::unordered_set<int64_t> ids;
    for (const auto& [tok, id] : B.vocab) ids.insert(id);
    if (j.contains("added_tokens")) {
      for (const auto& a : j["added_tokens"]) {
        AddedToken t;
        const std::string bad_id = "added token: the id must be a non-negative integer below 2^31";
        t.id = json_token_id(a.at("id"), source, bad_id);
        if (t.id < 0) throw Error(source, bad_id);
        t.content = a.at("content").get<std::string>();
        t.special = a.value("special", false);
        t.lstrip = a.value("lstrip", false);
        t.rstrip = a.value("rstrip", false);
        t.single_word = a.value("single_word", false);
        t.normalized = a.value("normalized", !t.special);
        I.added_by_content[t.content] = t.id;
        I.added_by_id[t.id] = I.added.size();
        ids.insert(t.id);
        I.added.push_back(std::move(t));
      }
    }
    for (const auto& t : I.added) {
      if (t.normalized && I.normalizer) I.norm_matcher.add(&t, I.normalizer->apply(t.content));
      else if (t.normalized) I.norm_matcher.add(&t, t.content);
      else I.raw_matcher.add(&t, t.content);
    }
    I.raw_matcher.build();
    I.norm_matcher.build();
    I.size = static_cast<int64_t>(ids.size());
    set_fast_byte_level(true);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(source, std::string("malformed tokenizer.json: ") + e.what());
  }
}

HfTokenizer::~HfTokenizer() = default;

std::shared_ptr<HfTokenizer> HfTokenizer::from_file(const std::filesystem::path& path) {
  json j = read_json_file(path);
  return std::make_shared<HfTokenizer>(j, path.string());
}

void HfTokenizer::set_fast_byte_level(bool on) {
  auto& I = *impl_;
  I.fast_byte_level = on && I.final_byte_level != nullptr;
  if (I.final_byte_level) I.final_byte_level->map_bytes = !I.fast_byte_level;
  for (auto& s : I.bpe.cache) {
    std::lock_guard<std::mutex> lk(s.mu);
    s.map.clear();
  }
}

void HfTokenizer::set_piece_cache(bool on) { impl_->bpe.use_cache = on; }

std::vector<int64_t> HfTokenizer::encode(const std::string& input, bool add_special_tokens) const {
  const auto& I = *impl_;
  std::string fixed;
  const std::string* text = &input;
  if (!uc::is_valid_utf8(input)) {
    spdlog::warn("tokenizer: input is not valid UTF-8; invalid bytes replaced by U+FFFD");
    fixed = uc::to_valid_utf8_lossy(input);
    text = &fixed;
  }
  std::vector<int64_t> out;
  out.reserve(text->size() / 3 + 4);
  std::vector<Segment> segs;
  split_added(*text, I.raw_matcher, segs);
  for (const auto& sg : segs) {
    if (sg.id >= 0) out.push_back(sg.id);
    else I.encode_text(std::string_view(*text).substr(sg.a, sg.b - sg.a), sg.a == 0, out);
  }
  if (add_special_tokens && I.post_processor) I.post_processor->apply(out);
  return out;
}

std::string HfTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const auto& I = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    auto a = I.added_by_id.find(static_cast<int32_t>(id));
    if (a != I.added_by_id.end()) {
      if (skip_special_tokens && I.added[a->second].special) continue;
      tokens.push_back(I.added[a->second].content);
      continue;
    }
    if (id >= 0 && static_cast<size_t>(id) < I.bpe.id_to_token.size() && !I.bpe.id_to_token[id].empty())
      tokens.push_back(I.bpe.id_to_token[id]);
    // Unknown ids are skipped, as in the Rust implementation.
  }
  if (!I.decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return clean_up_spaces(std::move(out));
  }
  I.decoder->apply(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return clean_up_spaces(std::move(out));
}

int64_t HfTokenizer::vocab_size() const { return impl_->size; }

std::optional<int64_t> HfTokenizer::token_to_id(const std::string& token) const {
  auto a = impl_->added_by_content.find(token);
  if (a != impl_->added_by_content.end()) return a->second;
  auto it = impl_->bpe.vocab.find(token);
  if (it != impl_->bpe.vocab.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> HfTokenizer::id_to_token(int64_t id) const {
  auto a = impl_->added_by_id.find(static_cast<int32_t>(id));
  if (a != impl_->added_by_id.end()) return impl_->added[a->second].content;
  const auto& v = impl_->bpe.id_to_token;
  if (id >= 0 && static_cast<size_t>(id) < v.size() && !v[id].empty()) return v[id];
  return std::nullopt;
}

bool HfTokenizer::is_special_id(int64_t id) const {
  auto a = impl_->added_by_id.find(static_cast<int32_t>(id));
  return a != impl_->added_by_id.end() && impl_->added[a->second].special;
}

}  // namespace prospect::tokenizer
