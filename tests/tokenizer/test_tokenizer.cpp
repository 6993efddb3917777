// Tokenizer tests: ids identical to Hugging Face (goldens from tests/golden/tokenizer/make_goldens.mjs and
// make_sentencepiece.sh), round trips, added tokens, invalid UTF-8, batching, errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../../src/tokenizer/regex.h"
#include "../../src/tokenizer/unicode.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/tokenizer/hf_tokenizer.h"
#include "test_util.h"

using nlohmann::json;
using prospect::tokenizer::HfTokenizer;
using prospect::tokenizer::Tokenizer;
namespace uc = prospect::tokenizer::unicode;

namespace {
std::filesystem::path gdir() { return prospect::test::golden_dir() / "tokenizer"; }

std::shared_ptr<Tokenizer> qwen3() {
  static std::shared_ptr<Tokenizer> t = [] {
    auto dir = prospect::test::qwen3_tokenizer_dir();
    if (!std::filesystem::exists(dir / "tokenizer.json")) return std::shared_ptr<Tokenizer>();
    return Tokenizer::load(dir);
  }();
  return t;
}
#define REQUIRE_QWEN3()                                                                   \
  auto tok = qwen3();                                                                     \
  if (!tok) GTEST_SKIP() << "Qwen3 tokenizer missing: run scripts/fetch_assets.sh";

std::vector<int64_t> ids_of(const json& j) { return j.get<std::vector<int64_t>>(); }

std::string show(const std::string& s) { return json(s).dump(); }

void check_goldens(const Tokenizer& tok, const json& cases, bool check_special, bool check_decode) {
  int n = 0;
  for (const auto& c : cases) {
    std::string text = c["text"];
    EXPECT_EQ(tok.encode(text), ids_of(c["ids"])) << "text " << show(text);
    if (check_special && c.contains("ids_with_special")) {
      EXPECT_EQ(tok.encode(text, true), ids_of(c["ids_with_special"])) << "text " << show(text);
    }
    if (check_decode && c.contains("decoded")) {
      EXPECT_EQ(tok.decode(ids_of(c["ids"])), c["decoded"].get<std::string>()) << "text " << show(text);
    }
    ++n;
  }
  EXPECT_GT(n, 100);
}
}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Unicode layer
TEST(TokenizerUnicode, NormalizationHandComputed) {
  EXPECT_EQ(uc::normalize("cafe\xCC\x81", uc::NormForm::NFC), "caf\xC3\xA9");
  EXPECT_EQ(uc::normalize("caf\xC3\xA9", uc::NormForm::NFD), "cafe\xCC\x81");
  // U+212B ANGSTROM SIGN -> U+00C5 (singleton decomposition, never recomposed to itself).
  EXPECT_EQ(uc::normalize("\xE2\x84\xAB", uc::NormForm::NFC), "\xC3\x85");
  // Canonical ordering: q + dot above (230) + dot below (220) -> q + dot below + dot above.
  EXPECT_EQ(uc::normalize("q\xCC\x87\xCC\xA3", uc::NormForm::NFD), "q\xCC\xA3\xCC\x87");
  // Hangul: conjoining jamo compose algorithmically, and decompose back.
  EXPECT_EQ(uc::normalize("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", uc::NormForm::NFC), "\xEA\xB0\x81");  // 각
  EXPECT_EQ(uc::normalize("\xEA\xB0\x81", uc::NormForm::NFD), "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");
  // Compatibility: U+FB01 (fi ligature) -> "fi"; U+2460 (circled 1) -> "1"; fullwidth A -> A.
  EXPECT_EQ(uc::normalize("\xEF\xAC\x81\xE2\x91\xA0\xEF\xBC\xA1", uc::NormForm::NFKC), "fi1A");
  EXPECT_EQ(uc::normalize("\xEF\xAC\x81", uc::NormForm::NFC), "\xEF\xAC\x81");
  // Composition exclusion: U+0958 stays decomposed under NFC.
  EXPECT_EQ(uc::normalize("\xE0\xA5\x98", uc::NormForm::NFC), "\xE0\xA4\x95\xE0\xA4\xBC");
  EXPECT_EQ(uc::lowercase("HeLLo \xC3\x84\xCE\xA3 \xC4\xB0"), "hello \xC3\xA4\xCF\x83 i\xCC\x87");
}

TEST(TokenizerUnicode, InvalidUtf8IsReplacedLikeRust) {
  EXPECT_TRUE(uc::is_valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(uc::is_valid_utf8("\xC0\xAF"));        // overlong
  EXPECT_FALSE(uc::is_valid_utf8("\xED\xA0\x80"));    // surrogate
  EXPECT_FALSE(uc::is_valid_utf8("\xF0\x9F\x98"));    // truncated
  // from_utf8_lossy: one U+FFFD per maximal invalid prefix.
  EXPECT_EQ(uc::to_valid_utf8_lossy("a\xF0\x9F\x98z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(uc::to_valid_utf8_lossy("a\xC0\xAFz"), "a\xEF\xBF\xBD\xEF\xBF\xBDz");
  EXPECT_EQ(uc::to_valid_utf8_lossy("\xFF"), "\xEF\xBF\xBD");
}

TEST(TokenizerRegex, OnigurumaWhitespaceAndWordClasses) {
  using prospect::tokenizer::Regex;
  auto matches = [](const std::string& pat, const std::string& s) {
    Regex re(pat, false, "test");
    std::vector<std::string> out;
    re.find_all(s, [&](size_t a, size_t b) { out.push_back(s.substr(a, b - a)); });
    return out;
  };
  // U+0085 is White_Space (Oniguruma \s) but U+FEFF and U+200B are not.
  EXPECT_EQ(matches("\\s+", "a\xC2\x85\xE2\x80\x8B\xEF\xBB\xBF b"), std::vector<std::string>({"\xC2\x85", " "}));
  EXPECT_EQ(matches("[^\\s\\p{L}]+", "ab 12!\xC2\x85x"), std::vector<std::string>({"12!"}));
  // \w includes combining marks (Oniguruma), \h is a hex digit.
  EXPECT_EQ(matches("\\w+", "e\xCC\x81t\xC3\xA9 x_1"), std::vector<std::string>({"e\xCC\x81t\xC3\xA9", "x_1"}));
  EXPECT_EQ(matches("\\h+", "zz0aFg"), std::vector<std::string>({"0aF"}));
  EXPECT_THROW(Regex("(unclosed", false, "ctx"), prospect::Error);
}

// ---------------------------------------------------------------------------------------------------------
// Qwen3 (real tokenizer)
TEST(TokenizerQwen3, SpecWorkedExamples) {
  REQUIRE_QWEN3();
  EXPECT_EQ(tok->encode("Hello"), std::vector<int64_t>({9707}));
  EXPECT_EQ(tok->encode(" world"), std::vector<int64_t>({1879}));
  EXPECT_EQ(tok->encode("\xE4\xBD\xA0\xE5\xA5\xBD"), std::vector<int64_t>({108386}));
  EXPECT_EQ(tok->encode("I'm fine. DON'T panic, it's OK'S"),
            std::vector<int64_t>({40, 2776, 6915, 13, 44273, 17323, 21975, 11, 432, 594, 10402, 13272}));
  EXPECT_EQ(tok->encode("a\r\nb\n\n  c   d\t\te  "), std::vector<int64_t>({64, 319, 65, 271, 220, 272, 256, 294, 197, 7727, 256}));
  EXPECT_EQ(tok->encode("12345 + 6.78"), std::vector<int64_t>({16, 17, 18, 19, 20, 488, 220, 21, 13, 22, 23}));
  EXPECT_EQ(tok->encode("x<think>y</think>z<|endoftext|>"), std::vector<int64_t>({87, 151667, 88, 151668, 89, 151643}));
  EXPECT_EQ(tok->encode("cafe\xCC\x81"), tok->encode("caf\xC3\xA9"));
  // Per the spec no tokens are added even with add_special_tokens (ByteLevel post-processor).
  EXPECT_EQ(tok->encode("Hello", true), std::vector<int64_t>({9707}));
  EXPECT_EQ(tok->vocab_size(), 151669);
  EXPECT_EQ(tok->token_to_id("<think>"), 151667);
  EXPECT_EQ(tok->id_to_token(220), std::string("\xC4\xA0"));
  EXPECT_EQ(tok->id_to_token(188), std::string("\xC4\x80"));
  EXPECT_FALSE(tok->id_to_token(999999).has_value());
}

TEST(TokenizerQwen3, ConfigValues) {
  REQUIRE_QWEN3();
  const auto& sp = tok->special_tokens();
  EXPECT_EQ(sp.eos, std::string("<|im_end|>"));
  EXPECT_EQ(sp.eos_id, 151645);
  EXPECT_EQ(sp.pad_id, 151643);
  EXPECT_FALSE(sp.bos.has_value());
  EXPECT_FALSE(tok->add_bos_token());
  EXPECT_EQ(tok->model_max_length(), 131072);
  EXPECT_NE(tok->chat_template().find("<|im_start|>"), std::string::npos);
}

TEST(TokenizerQwen3, GoldensMatchHuggingFace) {
  REQUIRE_QWEN3();
  json g = prospect::read_json_file(gdir() / "qwen3_goldens.json");
  check_goldens(*tok, g["cases"], false, true);
}

TEST(TokenizerQwen3, FastPathsMatchReferencePath) {
  REQUIRE_QWEN3();
  // The reference path: byte-level strings materialised, no piece cache.
  auto ref = HfTokenizer::from_file(prospect::test::qwen3_tokenizer_dir() / "tokenizer.json");
  ref->set_fast_byte_level(false);
  ref->set_piece_cache(false);
  json g = prospect::read_json_file(gdir() / "qwen3_goldens.json");
  for (const auto& c : g["cases"]) {
    std::string text = c["text"];
    EXPECT_EQ(ref->encode(text), tok->encode(text)) << show(text);
  }
  std::string longs(5000, ' ');
  longs += "x" + std::string(3000, 'a') + "\n";
  EXPECT_EQ(ref->encode(longs), tok->encode(longs));
}

TEST(TokenizerQwen3, RoundTripIsNfc) {
  REQUIRE_QWEN3();
  json g = prospect::read_json_file(gdir() / "qwen3_goldens.json");
  for (const auto& c : g["cases"]) {
    std::string text = c["text"];
    // NFC from JavaScript's String.prototype.normalize, independent of our tables.
    EXPECT_EQ(tok->decode(tok->encode(text)), c["nfc"].get<std::string>()) << show(text);
    EXPECT_EQ(uc::normalize(text, uc::NormForm::NFC), c["nfc"].get<std::string>()) << show(text);
  }
}

TEST(TokenizerQwen3, DecodeAndSkipSpecialTokens) {
  REQUIRE_QWEN3();
  json g = prospect::read_json_file(gdir() / "qwen3_goldens.json");
  for (const auto& d : g["decode"]) {
    EXPECT_EQ(tok->decode(ids_of(d["ids"])), d["text"].get<std::string>());
    EXPECT_EQ(tok->decode(ids_of(d["ids"]), true), d["text_skip_special"].get<std::string>());
  }
  // Hand-checked per qwen3.md 4.4: an incomplete emoji decodes lossily.
  EXPECT_EQ(tok->decode({11162, 97}), " \xEF\xBF\xBD");
  EXPECT_EQ(tok->decode({11162, 97, 245}), " \xF0\x9F\xA4\x97");
  // skip_special_tokens drops special=true ids only: <think> (non-special) stays.
  EXPECT_EQ(tok->decode({151644, 9707, 151667, 151645}, true), "Hello<think>");
  EXPECT_EQ(tok->decode({151644, 9707, 151667, 151645}, false), "<|im_start|>Hello<think><|im_end|>");
}

TEST(TokenizerQwen3, AddedTokensInsideText) {
  REQUIRE_QWEN3();
  auto ids = tok->encode("<|im_start|>user\nhi<|im_end|>\n");
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151645), 1);
  // Leftmost-longest: "<|im_start|" (incomplete) is plain text; "<<think>>" keeps the inner token.
  auto partial = tok->encode("<|im_start|");
  EXPECT_EQ(std::count(partial.begin(), partial.end(), 151644), 0);
  auto nested = tok->encode("<<think>>");
  EXPECT_EQ(std::count(nested.begin(), nested.end(), 151667), 1);
  // Added tokens are matched before NFC: a combining mark after a token does not join it.
  auto comb = tok->encode("<think>\xCC\x81");
  EXPECT_EQ(comb.front(), 151667);
}

TEST(TokenizerQwen3, InvalidUtf8BecomesReplacementChar) {
  REQUIRE_QWEN3();
  std::string bad = std::string("ab\xFF") + "cd\xC3";
  auto ids = tok->encode(bad);
  EXPECT_EQ(ids, tok->encode("ab\xEF\xBF\xBD" "cd\xEF\xBF\xBD"));
  EXPECT_EQ(tok->decode(ids), "ab\xEF\xBF\xBD" "cd\xEF\xBF\xBD");
  // Ids that form invalid UTF-8 decode lossily, never throw.
  EXPECT_EQ(tok->decode({64, 97, 64}), "a\xEF\xBF\xBD" "a");  // 64 = 'a', 97 = a lone continuation byte
  EXPECT_NO_THROW(tok->decode({-5, 1 << 30, 9707}));
  EXPECT_EQ(tok->decode({-5, 1 << 30, 9707}), "Hello");
}

TEST(TokenizerQwen3, BatchEqualsSingle) {
  REQUIRE_QWEN3();
  json g = prospect::read_json_file(gdir() / "qwen3_goldens.json");
  std::vector<std::string> texts;
  for (const auto& c : g["cases"]) texts.push_back(c["text"]);
  for (int threads : {1, 2, 4}) {
    tok->set_num_threads(threads);
    auto batch = tok->encode_batch(texts);
    ASSERT_EQ(batch.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i], tok->encode(texts[i])) << threads << " " << show(texts[i]);
  }
  tok->set_num_threads(0);
  EXPECT_TRUE(tok->encode_batch({}).empty());
}

// ---------------------------------------------------------------------------------------------------------
// Synthetic GPT-2 and Llama-3 style tokenizers, SentencePiece
TEST(TokenizerSynthetic, Gpt2LikeGoldens) {
  auto tok = Tokenizer::load(gdir() / "gpt2_like");
  json g = prospect::read_json_file(gdir() / "gpt2_like" / "goldens.json");
  check_goldens(*tok, g["cases"], true, true);
  EXPECT_EQ(tok->model_max_length(), 1024);
  EXPECT_EQ(tok->special_tokens().bos, std::string("<|endoftext|>"));
}

TEST(TokenizerSynthetic, Llama3LikeGoldens) {
  auto tok = Tokenizer::load(gdir() / "llama3_like");
  json g = prospect::read_json_file(gdir() / "llama3_like" / "goldens.json");
  check_goldens(*tok, g["cases"], true, true);
  // chat_template given as a list: "default" is selected; eos given as {"content": ...}.
  EXPECT_EQ(tok->chat_template(), "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}");
  EXPECT_EQ(tok->special_tokens().eos, std::string("<|eot_id|>"));
  EXPECT_EQ(tok->special_tokens().bos_id, tok->token_to_id("<|begin_of_text|>"));
  auto ids = tok->encode("hi", true);
  EXPECT_EQ(ids.front(), *tok->token_to_id("<|begin_of_text|>"));
  EXPECT_EQ(tok->decode(ids, true), "hi");
}

TEST(TokenizerSentencePiece, GoldensFromSpmEncode) {
  auto tok = Tokenizer::load(gdir() / "sentencepiece");
  std::ifstream in(gdir() / "sentencepiece" / "goldens.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    json c = json::parse(line);
    std::string text = c["text"];
    auto ids = ids_of(c["ids"]);
    EXPECT_EQ(tok->encode(text), ids) << show(text);
    auto with = ids;
    with.insert(with.begin(), 1);  // add_bos_token: true, bos <s> = 1
    EXPECT_EQ(tok->encode(text, true), with) << show(text);
    ++n;
  }
  EXPECT_GT(n, 100);
  EXPECT_EQ(tok->special_tokens().bos_id, 1);
  EXPECT_EQ(tok->special_tokens().eos_id, 2);
  EXPECT_EQ(tok->model_max_length(), 4096);
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true), true), "Hello world");
  EXPECT_EQ(tok->decode(tok->encode("Hello world", true), false), "<s>Hello world");
  EXPECT_EQ(tok->encode("ab\xFF"), tok->encode("ab\xEF\xBF\xBD"));
}

// ---------------------------------------------------------------------------------------------------------
// Components exercised through small hand-built tokenizer.json documents.
namespace {
json mini(json pre, json normalizer = nullptr, json decoder = nullptr) {
  // A character-level vocab over a-z, digits, space and U+2581; merges "a b" -> "ab", "a a" -> "aa".
  json vocab = json::object();
  int id = 0;
  for (char c = 'a'; c <= 'z'; ++c) vocab[std::string(1, c)] = id++;
  for (char c = '0'; c <= '9'; ++c) vocab[std::string(1, c)] = id++;
  vocab[" "] = id++;
  vocab["\xE2\x96\x81"] = id++;
  vocab["ab"] = id++;
  vocab["aa"] = id++;
  vocab["<unk>"] = id++;
  return json{{"version", "1.0"},
              {"added_tokens", json::array()},
              {"normalizer", normalizer},
              {"pre_tokenizer", pre},
              {"post_processor", nullptr},
              {"decoder", decoder},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b", "a a"})}, {"unk_token", "<unk>"}}}};
}
std::vector<std::string> tokens_of(const HfTokenizer& t, const std::string& s) {
  std::vector<std::string> out;
  for (auto id : t.encode(s)) out.push_back(*t.id_to_token(id));
  return out;
}
using VS = std::vector<std::string>;
}  // namespace

TEST(TokenizerComponents, SplitBehaviours) {
  auto split = [](const char* behavior, bool invert) {
    return json{{"type", "Split"}, {"pattern", {{"String", "b"}}}, {"behavior", behavior}, {"invert", invert}};
  };
  // Splitting "abab" on "b" then BPE per piece: "ab" merges only when a piece contains both letters.
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split("Isolated", false)), "t"), "abab"), VS({"a", "b", "a", "b"}));
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split("Removed", false)), "t"), "abab"), VS({"a", "a"}));
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split("MergedWithPrevious", false)), "t"), "abab"), VS({"ab", "ab"}));
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split("MergedWithNext", false)), "t"), "abab"), VS({"a", "b", "a", "b"}));
  auto split_a = [](const char* behavior) {
    return json{{"type", "Split"}, {"pattern", {{"String", "a"}}}, {"behavior", behavior}, {"invert", false}};
  };
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split_a("MergedWithNext")), "t"), "bab"), VS({"b", "ab"}));
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split_a("MergedWithPrevious")), "t"), "bab"), VS({"b", "a", "b"}));
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split_a("Contiguous")), "t"), "aab"), VS({"aa", "b"}));
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split_a("Isolated")), "t"), "aab"), VS({"a", "a", "b"}));
  // Removed + invert keeps only the matches.
  EXPECT_EQ(tokens_of(HfTokenizer(mini(split("Removed", true)), "t"), "abab"), VS({"b", "b"}));
}

TEST(TokenizerComponents, NormalizersDigitsMetaspace) {
  json seq = {{"type", "Sequence"},
              {"normalizers", json::array({json{{"type", "NFKC"}}, json{{"type", "Lowercase"}},
                                           json{{"type", "Replace"}, {"pattern", {{"Regex", "[0-9]"}}}, {"content", "z"}},
                                           json{{"type", "Prepend"}, {"prepend", "q"}}})}};
  HfTokenizer t(mini(nullptr, seq), "t");
  EXPECT_EQ(tokens_of(t, "AB\xEF\xBC\x91"), VS({"q", "ab", "z"}));  // fullwidth 1 -> 1 -> z
  json digits = {{"type", "Digits"}, {"individual_digits", false}};
  HfTokenizer d(mini(digits), "t");
  EXPECT_EQ(d.encode("a12b").size(), 4u);
  json ms = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}, {"split", true}};
  json msd = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}};
  HfTokenizer m(mini(ms, nullptr, msd), "t");
  EXPECT_EQ(tokens_of(m, "ab c"), VS({"\xE2\x96\x81", "ab", "\xE2\x96\x81", "c"}));
  EXPECT_EQ(m.decode(m.encode("ab c")), "ab c");
  // Unknown characters become the unk token.
  EXPECT_EQ(tokens_of(HfTokenizer(mini(nullptr), "t"), "a!"), VS({"a", "<unk>"}));
}

TEST(TokenizerComponents, DecodersReplaceStripFuseByteFallback) {
  json dec = {{"type", "Sequence"},
              {"decoders", json::array({json{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                        json{{"type", "ByteFallback"}}, json{{"type", "Fuse"}},
                                        json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  json j = mini(nullptr, nullptr, dec);
  j["model"]["vocab"]["<0xC3>"] = 100;
  j["model"]["vocab"]["<0xA9>"] = 101;
  j["model"]["vocab"]["<0xFF>"] = 102;
  j["model"]["byte_fallback"] = true;
  HfTokenizer t(j, "t");
  EXPECT_EQ(t.encode("a\xC3\xA9"), std::vector<int64_t>({0, 100, 101}));  // é via byte fallback
  EXPECT_EQ(t.decode({37, 0, 37, 100, 101}), "a \xC3\xA9");
  EXPECT_EQ(t.decode({102, 0}), "\xEF\xBF\xBD" "a");
}

TEST(TokenizerErrors, UnsupportedComponentsAreNamed) {
  auto expect_error = [](json j, const std::string& needle) {
    try {
      HfTokenizer t(j, "x/tokenizer.json");
      FAIL() << "no error for " << needle;
    } catch (const prospect::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("x/tokenizer.json"), std::string::npos) << e.what();
    }
  };
  expect_error(mini(json{{"type", "BertPreTokenizer"}}), "BertPreTokenizer");
  expect_error(mini(nullptr, json{{"type", "Precompiled"}, {"precompiled_charsmap", ""}}), "Precompiled");
  expect_error(mini(nullptr, nullptr, json{{"type", "WordPiece"}}), "WordPiece");
  json uni = mini(nullptr);
  uni["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  expect_error(uni, "Unigram");
  json pp = mini(nullptr);
  pp["post_processor"] = {{"type", "Weird"}};
  expect_error(pp, "Weird");
  json badre = mini(json{{"type", "Split"}, {"pattern", {{"Regex", "(["}}}, {"behavior", "Isolated"}, {"invert", false}});
  expect_error(badre, "([");
}

TEST(TokenizerErrors, MalformedFilesAreNamed) {
  prospect::test::TempDir tmp;
  prospect::write_text_file_atomic(tmp / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  try {
    Tokenizer::load(tmp.path());
    FAIL();
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
  prospect::write_text_file_atomic(tmp / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}");
  try {
    Tokenizer::load(tmp.path());
    FAIL();
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("a b"), std::string::npos) << e.what();
  }
  prospect::test::TempDir empty;
  EXPECT_THROW(Tokenizer::load(empty.path()), prospect::Error);
}

// fuzz/regressions/tokenizer_json: each input once crashed the tokenizer_json target (token ids that
// were not integers). Replayed through construction: one prospect::Error naming the file.
TEST(HfTokenizer, FuzzRegressionsGiveOneCleanError) {
  auto inputs = prospect::test::fuzz_regressions("tokenizer_json");
  ASSERT_FALSE(inputs.empty());
  for (const auto& f : inputs) {
    const auto j = nlohmann::json::parse(prospect::read_text_file(f));
    try {
      prospect::tokenizer::HfTokenizer tok(j, f.string());
      ADD_FAILURE() << f << " was accepted";
    } catch (const prospect::Error& e) {
      EXPECT_NE(std::string(e.what()).find(f.filename().string()), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << f << ": not a prospect::Error: " << e.what();
    }
  }
}
