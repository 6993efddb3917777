// Tokenization (TRL current KTO preprocessing), unpairing, prefix check, truncation, statistics.
#include <gtest/gtest.h>

#include <fstream>

#include "prospect/core/error.h"
#include "prospect/data/collate.h"
#include "prospect/data/prepare.h"
#include "test_util.h"
#include "toy_tokenizer.h"

using namespace prospect::data;
using prospect::Error;
using prospect::test::bytes;
using prospect::test::ToyTokenizer;

namespace {

ojson msg(const std::string& role, const std::string& content) { return {{"role", role}, {"content", content}}; }

std::vector<RawRow> rows_of(const std::vector<ojson>& objs) {
  std::vector<RawRow> rows;
  for (size_t i = 0; i < objs.size(); ++i) rows.push_back(parse_row(objs[i], "t.jsonl:" + std::to_string(i + 1), (int64_t)i));
  return rows;
}

std::vector<int64_t> cat(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST(DataPrepare, UnpairingTrlExample) {
  // TRL §5.1: two paired rows become four examples; ours keep each row's chosen and rejected adjacent
  // (the order is shuffled later anyway) and share the row's pair id.
  ToyTokenizer tok;
  auto rows = rows_of({{{"prompt", "The sky is"}, {"chosen", " blue."}, {"rejected", " green."}},
                       {{"prompt", "The sun is"}, {"chosen", "in the sky."}, {"rejected", " in the sea."}}});
  PreparedData d = prepare_rows(rows, DataOptions{}, tok, prospect::test::toy_render);
  ASSERT_EQ(d.examples.size(), 4u);
  const char* prompts[] = {"The sky is", "The sky is", "The sun is", "The sun is"};
  const char* comps[] = {" blue.", " green.", "in the sky.", " in the sea."};
  const bool labels[] = {true, false, true, false};
  const int64_t pair_ids[] = {0, 0, 1, 1};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(d.examples[i].prompt_ids, bytes(prompts[i])) << i;
    // Standard rows: the eos string is appended to the completion (TRL current).
    EXPECT_EQ(d.examples[i].completion_ids, cat(bytes(comps[i]), {256})) << i;
    EXPECT_EQ(d.examples[i].label, labels[i]);
    EXPECT_EQ(d.examples[i].pair_id, pair_ids[i]);
    EXPECT_EQ(d.examples[i].index, (int64_t)i);
  }
  ASSERT_EQ(d.pairs.size(), 2u);
  EXPECT_EQ(d.pairs[1].prompt_ids, bytes("The sun is"));
  EXPECT_EQ(d.pairs[1].chosen_ids, cat(bytes("in the sky."), {256}));
  EXPECT_EQ(d.pairs[1].rejected_ids, cat(bytes(" in the sea."), {256}));
  EXPECT_EQ(d.pairs[1].pair_id, 1);
  EXPECT_EQ(d.stats.examples, 4);
  EXPECT_EQ(d.stats.desirable, 2);
  EXPECT_EQ(d.stats.undesirable, 2);
  EXPECT_EQ(d.stats.pairs, 2);
  EXPECT_EQ(d.pad_id, 256);  // no pad token: eos
  EXPECT_TRUE(d.stats.class_weight_warning.empty());
}

TEST(DataPrepare, StandardRowsEosAndBos) {
  ToyTokenizer tok(/*with_bos=*/true, /*with_pad=*/true);
  auto rows = rows_of({{{"prompt", "Q:"}, {"completion", " yes<eos>"}, {"label", true}},
                       {{"prompt", "Q:"}, {"completion", " no"}, {"label", false}}});
  PreparedData d = prepare_rows(rows, DataOptions{}, tok, nullptr);
  ASSERT_EQ(d.examples.size(), 2u);
  // add_special_tokens=True on both calls: BOS starts the prompt; split at len(prompt_ids).
  EXPECT_EQ(d.examples[0].prompt_ids, cat({257}, bytes("Q:")));
  EXPECT_EQ(d.examples[0].completion_ids, cat(bytes(" yes"), {256}));  // eos not doubled
  EXPECT_EQ(d.examples[1].completion_ids, cat(bytes(" no"), {256}));
  EXPECT_EQ(d.examples[1].pair_id, -1);
  EXPECT_FALSE(d.examples[1].label);
  EXPECT_EQ(d.pad_id, 258);
  EXPECT_TRUE(d.pairs.empty());
}

TEST(DataPrepare, ConversationalSplitToolsAndKwargs) {
  ToyTokenizer tok;
  auto rows = rows_of({{{"prompt", "Hi?"},
                        {"chosen", {msg("user", "Hi?"), msg("assistant", "Hello")}},
                        {"rejected", {msg("user", "Hi?"), msg("assistant", "Go")}},
                        {"tools", ojson::array({{{"name", "f"}}, {{"name", "g"}}})},
                        {"chat_template_kwargs", {{"kw", "row"}}}},
                       {{"prompt", {msg("user", "A")}}, {"completion", {msg("assistant", "B")}}, {"label", true}}});
  DataOptions opt;
  opt.chat_template_kwargs = {{"kw", "default"}};
  PreparedData d = prepare_rows(rows, opt, tok, prospect::test::toy_render);
  ASSERT_EQ(d.examples.size(), 3u);
  // Row kwargs override the options' ones; tools reach both renders; rendered text has no BOS/EOS added.
  EXPECT_EQ(d.examples[0].prompt_ids, bytes("[tools:2][kw:row]<user>Hi?\n<assistant>"));
  EXPECT_EQ(d.examples[0].completion_ids, tok.encode("Hello\n"));  // full rendering minus the prompt rendering
  EXPECT_EQ(d.examples[1].completion_ids, bytes("Go\n"));
  EXPECT_EQ(d.examples[2].prompt_ids, bytes("[kw:default]<user>A\n<assistant>"));
  EXPECT_EQ(d.examples[2].completion_ids, bytes("B\n"));
  EXPECT_EQ(d.stats.conversational_rows, 2);
}

TEST(DataPrepare, NotPrefixRowsAreDroppedOrSplitAsTrlAndCounted) {
  ToyTokenizer tok;
  // Conversational: the generation prompt "<bot>" is not how the full rendering continues.
  auto rows = rows_of({{{"prompt", {msg("user", "A")}}, {"chosen", {msg("assistant", "B")}}, {"rejected", {msg("assistant", "C")}}}});
  PreparedData d = prepare_rows(rows, DataOptions{}, tok, prospect::test::broken_render);
  EXPECT_TRUE(d.examples.empty());
  EXPECT_TRUE(d.pairs.empty());
  EXPECT_EQ(d.stats.dropped_not_prefix, 2);
  EXPECT_EQ(d.stats.dropped_pairs, 1);
  ASSERT_EQ(d.stats.not_prefix_sources.size(), 2u);
  EXPECT_EQ(d.stats.not_prefix_sources[0], "t.jsonl:1");

  // Standard: "Hel" + "lo" tokenizes with the merge "ll" across the boundary. As TRL, the row is
  // kept: the boundary moves back one token and the prompt ids come from the full encoding
  // (prompt "He", completion "llo<eos>" = [300, 'o', 256]); the change is counted.
  rows = rows_of({{{"prompt", "Hel"}, {"chosen", " lo"}, {"rejected", "lo"}}});
  d = prepare_rows(rows, DataOptions{}, tok, nullptr);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].prompt_ids, bytes("Hel"));
  EXPECT_EQ(d.examples[0].completion_ids, tok.encode(" lo<eos>"));
  EXPECT_EQ(d.examples[1].prompt_ids, bytes("He"));
  EXPECT_EQ(d.examples[1].completion_ids, (std::vector<int64_t>{300, 'o', 256}));
  EXPECT_EQ(d.stats.dropped_not_prefix, 0);
  EXPECT_EQ(d.stats.boundary_adjusted, 1);
  ASSERT_EQ(d.stats.boundary_adjusted_sources.size(), 1u);
  EXPECT_EQ(d.stats.dropped_pairs, 0);
  EXPECT_EQ(d.stats.desirable, 1);
  EXPECT_EQ(d.stats.undesirable, 1);
  // The paired view shares one prompt: the common prefix "He"; chosen gets the "l" back in front,
  // so prompt + chosen and prompt + rejected are exactly the two full encodings.
  ASSERT_EQ(d.pairs.size(), 1u);
  EXPECT_EQ(d.pairs[0].prompt_ids, bytes("He"));
  auto chosen_full = d.pairs[0].prompt_ids;
  chosen_full.insert(chosen_full.end(), d.pairs[0].chosen_ids.begin(), d.pairs[0].chosen_ids.end());
  EXPECT_EQ(chosen_full, tok.encode("Hel lo<eos>"));
  EXPECT_EQ(d.pairs[0].rejected_ids, (std::vector<int64_t>{300, 'o', 256}));
  EXPECT_EQ(d.stats.to_json()["boundary_adjusted"], 1);
}

TEST(DataPrepare, TemplateErrorsAreBadRows) {
  ToyTokenizer tok;
  auto rows = rows_of({{{"prompt", {msg("user", "A")}}, {"completion", {msg("assistant", "B")}}, {"label", true}},
                       {{"prompt", "x"}, {"completion", "y"}, {"label", false}}});
  auto throwing = [](const ojson&) -> std::string { throw Error("chat template line 3", "boom"); };
  try {
    prepare_rows(rows, DataOptions{}, tok, throwing);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.jsonl:1: chat template: chat template line 3: boom"), std::string::npos) << e.what();
  }
  DataOptions opt;
  opt.skip_bad_rows = true;
  PreparedData d = prepare_rows(rows, opt, tok, throwing);
  EXPECT_EQ(d.stats.bad_rows, 1);
  ASSERT_EQ(d.examples.size(), 1u);
  EXPECT_EQ(d.examples[0].source, "t.jsonl:2");
}

TEST(DataPrepare, ChatTemplateRendererFromTheTokenizer) {
  auto rows = rows_of({{{"prompt", {msg("user", "A")}}, {"completion", {msg("assistant", "B")}}, {"label", true}},
                       {{"prompt", "x"}, {"completion", "y"}, {"label", false}}});
  // The tokenizer's Jinja template (no directory: tokenizer.chat_template()), run by the chat layer,
  // with the tokenizer's eos_token among the variables.
  ToyTokenizer tok(false, false,
                   "{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}"
                   "{% if add_generation_prompt %}<assistant>{% endif %}");
  PreparedData d = prepare_rows(rows, DataOptions{}, tok, chat_template_renderer(tok));
  ASSERT_EQ(d.examples.size(), 2u);
  std::vector<int64_t> prompt = bytes("<user>A");
  prompt.push_back(256);
  prompt = cat(prompt, bytes("<assistant>"));
  EXPECT_EQ(d.examples[0].prompt_ids, prompt);
  EXPECT_EQ(d.examples[0].completion_ids, (std::vector<int64_t>{'B', 256}));
  EXPECT_EQ(d.examples[1].completion_ids, (std::vector<int64_t>{'y', 256}));
  // No template at all: standard rows still work, conversational rows are bad rows.
  ToyTokenizer bare;
  DataOptions opt;
  opt.skip_bad_rows = true;
  d = prepare_rows(rows, opt, bare, chat_template_renderer(bare));
  EXPECT_EQ(d.stats.bad_rows, 1);
  ASSERT_EQ(d.examples.size(), 1u);
  EXPECT_NE(d.stats.bad_row_messages[0].find("t.jsonl:1: chat template: chat template: the tokenizer has no chat_template"),
            std::string::npos)
      << d.stats.bad_row_messages[0];
}

TEST(DataPrepare, PromptTruncationAndTooLongDrops) {
  ToyTokenizer tok;
  auto rows = rows_of({{{"prompt", "abcdefgh"}, {"chosen", "X"}, {"rejected", "Y"}},
                       {{"prompt", "ab"}, {"chosen", "XYZW"}, {"rejected", "Q"}}});
  DataOptions opt;
  opt.max_prompt_length = 4;
  opt.truncation_mode = TruncationMode::keep_end;
  PreparedData d = prepare_rows(rows, opt, tok, nullptr);
  EXPECT_EQ(d.examples[0].prompt_ids, bytes("efgh"));
  EXPECT_EQ(d.stats.truncated_prompts, 2);
  opt.truncation_mode = TruncationMode::keep_start;
  d = prepare_rows(rows, opt, tok, nullptr);
  EXPECT_EQ(d.examples[0].prompt_ids, bytes("abcd"));

  // max_length: a prompt alone of >= max_length tokens drops its completions.
  opt = DataOptions{};
  opt.max_length = 8;
  d = prepare_rows(rows, opt, tok, nullptr);
  EXPECT_EQ(d.stats.dropped_prompt_too_long, 2);
  EXPECT_EQ(d.stats.dropped_pairs, 1);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].prompt_ids, bytes("ab"));
  opt.max_length = 9;
  d = prepare_rows(rows, opt, tok, nullptr);
  EXPECT_EQ(d.stats.dropped_prompt_too_long, 0);
  EXPECT_EQ(d.stats.truncated_sequences, 2);  // "abcdefgh"+"X<eos>" = 10 tokens, same for Y
  EXPECT_EQ(d.stats.total_len.max, 10);

  // Collation keeps the first max_length tokens: the end of the completion is cut.
  Batch b = collate_examples(d.examples, {0, 2}, nullptr, CollateOptions{9, 0});
  ASSERT_EQ(b.input_ids.sizes(), (std::vector<int64_t>{2, 9}));
  EXPECT_EQ(b.lengths[0].item<int64_t>(), 1);  // only "X" survives, the eos is cut
  EXPECT_EQ(b.input_ids[0][8].item<int64_t>(), 'X');
  EXPECT_EQ(b.completion_mask[0].sum().item<int64_t>(), 1);
  EXPECT_EQ(b.lengths[1].item<int64_t>(), 5);  // "XYZW" + eos, untouched
}

TEST(DataPrepare, EndToEndFilesStatsAndWarning) {
  prospect::test::TempDir dir;
  {
    std::ofstream f(dir / "kto.jsonl");
    for (int i = 0; i < 6; ++i)
      f << ojson({{"prompt", "p" + std::to_string(i)}, {"completion", " c"}, {"label", i < 5}}).dump() << "\n";
    f << "{\"prompt\": \"p\", \"completion\": \"\", \"label\": true}\n";  // bad: empty completion
  }
  ToyTokenizer tok;
  DataOptions opt;
  opt.paths = {dir / "kto.jsonl"};
  try {
    prepare_data(opt, tok, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kto.jsonl:7: empty completion"), std::string::npos) << e.what();
  }
  opt.skip_bad_rows = true;
  PreparedData d = prepare_data(opt, tok, nullptr);
  EXPECT_EQ(d.stats.rows, 7);
  EXPECT_EQ(d.stats.bad_rows, 1);
  EXPECT_EQ(d.stats.examples, 6);
  EXPECT_EQ(d.stats.desirable, 5);
  EXPECT_EQ(d.stats.undesirable, 1);
  // 5 vs 1 with weights 1/1: ranges [0.2, 0.27] and [3.76, 5.0] exclude 1 -> TRL warns.
  EXPECT_NE(d.stats.class_weight_warning.find("desirable_weight in [0.2, 0.27]"), std::string::npos)
      << d.stats.class_weight_warning;
  EXPECT_NE(d.stats.class_weight_warning.find("undesirable_weight in [3.76, 5.0]"), std::string::npos);
  auto j = d.stats.to_json();
  EXPECT_EQ(j["dropped"]["bad_rows"], 1);
  EXPECT_EQ(j["lengths"]["prompt"]["max"], 2);
  EXPECT_EQ(j["lengths"]["completion"]["p50"], 3.0);  // " c" + eos
  // Same data, same tokens -> same fingerprint; a different tokenization changes it.
  EXPECT_EQ(prepare_data(opt, tok, nullptr).fingerprint, d.fingerprint);
  ToyTokenizer bos_tok(true);
  EXPECT_NE(prepare_data(opt, bos_tok, nullptr).fingerprint, d.fingerprint);
}

TEST(DataStats, ClassWeightWarningTrlExample) {
  // §1.10: n_D = 300, n_U = 100, weights 1/1 -> ranges [0.33, 0.44] and [2.26, 3.0]; fires.
  std::string w = class_weight_warning(300, 400, 1.0, 1.0);
  EXPECT_NE(w.find("desirable_weight in [0.33, 0.44] or undesirable_weight in [2.26, 3.0] (but NOT BOTH)"),
            std::string::npos)
      << w;
  EXPECT_EQ(class_weight_warning(300, 400, 0.4, 1.0), "");  // desirable weight in range
  EXPECT_EQ(class_weight_warning(300, 400, 1.0, 2.5), "");  // undesirable weight in range
  EXPECT_EQ(class_weight_warning(200, 400, 1.0, 1.0), "");  // balanced
  // All desirable: n_U = max(0, 1) = 1; ranges [0.0, 0.0] and [300.75, 400.0] -> fires.
  EXPECT_NE(class_weight_warning(400, 400, 1.0, 1.0).find("[0.0, 0.0]"), std::string::npos);
}

TEST(DataStats, PercentilesMatchNumpy) {
  std::vector<int64_t> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  LengthSummary s = summarize_lengths(v);
  // numpy.percentile(range(1, 101), [50, 90, 99]) = [50.5, 90.1, 99.01]
  EXPECT_DOUBLE_EQ(s.p50, 50.5);
  EXPECT_NEAR(s.p90, 90.1, 1e-9);
  EXPECT_NEAR(s.p99, 99.01, 1e-9);
  EXPECT_EQ(s.max, 100);
  EXPECT_DOUBLE_EQ(s.mean, 50.5);
  EXPECT_EQ(summarize_lengths({}).count, 0);
}
