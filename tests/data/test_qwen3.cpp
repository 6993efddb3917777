// The real Qwen3 tokenizer and chat template (qwen3.md §4.3): the TRL split of conversational rows,
// standard rows, and the bundled demo dataset.
#include <gtest/gtest.h>

#include "prospect/data/loader.h"
#include "prospect/data/prepare.h"
#include "prospect/tokenizer/tokenizer.h"
#include "test_util.h"

using namespace prospect::data;

namespace {

std::shared_ptr<prospect::tokenizer::Tokenizer> qwen3() {
  static std::shared_ptr<prospect::tokenizer::Tokenizer> tok;
  if (!tok && std::filesystem::exists(prospect::test::qwen3_tokenizer_dir() / "tokenizer.json"))
    tok = prospect::tokenizer::Tokenizer::load(prospect::test::qwen3_tokenizer_dir());
  return tok;
}

#define NEED_QWEN3()                                                                   \
  auto tok = qwen3();                                                                  \
  if (!tok) GTEST_SKIP() << "Qwen3 tokenizer not fetched (scripts/fetch_assets.sh)";

ojson msg(const std::string& role, const std::string& content) { return {{"role", role}, {"content", content}}; }

const std::vector<int64_t> kPromptHello = {151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198};
const std::vector<int64_t> kEmptyThink = {151667, 271, 151668, 271};

}  // namespace

TEST(DataQwen3, UltraFeedbackRowSplitsAsTrl) {
  NEED_QWEN3();
  ojson user = msg("user", "Hello");
  std::vector<RawRow> rows = {parse_row({{"prompt", "Hello"},
                                         {"prompt_id", "x"},
                                         {"chosen", {user, msg("assistant", "Hi there!")}},
                                         {"rejected", {user, msg("assistant", "Go away.")}},
                                         {"messages", {user, msg("assistant", "Hi there!")}},
                                         {"score_chosen", 9.0},
                                         {"score_rejected", 1.0}},
                                        "uf:1")};
  PreparedData d = prepare_rows(rows, DataOptions{}, *tok, chat_template_renderer(*tok));
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.stats.dropped_not_prefix, 0);
  // qwen3.md §4.3 (b): the prompt with the generation prompt.
  EXPECT_EQ(d.examples[0].prompt_ids, kPromptHello);
  // (a) minus (b): the final assistant turn gets an empty think block, then content, <|im_end|>, "\n".
  EXPECT_EQ(d.examples[0].completion_ids,
            (std::vector<int64_t>{151667, 271, 151668, 271, 13048, 1052, 0, 151645, 198}));
  const auto& rej = d.examples[1].completion_ids;
  ASSERT_GT(rej.size(), 6u);
  EXPECT_EQ(std::vector<int64_t>(rej.begin(), rej.begin() + 4), kEmptyThink);
  EXPECT_EQ(tok->decode(std::vector<int64_t>(rej.begin() + 4, rej.end())), "Go away.<|im_end|>\n");
  EXPECT_EQ(d.pad_id, 151643);  // <|endoftext|>
}

TEST(DataQwen3, EnableThinkingFalseMovesTheThinkBlockIntoThePrompt) {
  NEED_QWEN3();
  std::vector<RawRow> rows = {parse_row({{"prompt", {msg("user", "Hello")}},
                                         {"completion", {msg("assistant", "Hi there!")}},
                                         {"label", true},
                                         {"chat_template_kwargs", {{"enable_thinking", false}}}},
                                        "k:1")};
  PreparedData d = prepare_rows(rows, DataOptions{}, *tok, chat_template_renderer(*tok));
  ASSERT_EQ(d.examples.size(), 1u);
  std::vector<int64_t> prompt = kPromptHello;
  prompt.insert(prompt.end(), kEmptyThink.begin(), kEmptyThink.end());  // §4.3 (c)
  EXPECT_EQ(d.examples[0].prompt_ids, prompt);
  EXPECT_EQ(d.examples[0].completion_ids, (std::vector<int64_t>{13048, 1052, 0, 151645, 198}));
}

TEST(DataQwen3, StandardRowsGetTheEosString) {
  NEED_QWEN3();
  std::vector<RawRow> rows = {parse_row({{"chosen", "The sky is blue."}, {"rejected", "The sky is green."}}, "s:1")};
  PreparedData d = prepare_rows(rows, DataOptions{}, *tok, chat_template_renderer(*tok));
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].prompt_ids, tok->encode("The sky is"));  // no BOS for Qwen
  std::vector<int64_t> c = tok->encode(" blue.");
  c.push_back(151645);  // "<|im_end|>" appended as a string, encoded as the special token
  EXPECT_EQ(d.examples[0].completion_ids, c);
}

TEST(DataQwen3, DemoDatasetIsCleanAndShort) {
  NEED_QWEN3();
  DataOptions opt;
  opt.paths = {prospect::test::source_dir() / "data" / "demo" / "train.jsonl",
               prospect::test::source_dir() / "data" / "demo" / "eval.jsonl"};
  opt.max_length = 128;
  PreparedData d = prepare_data(opt, *tok);
  EXPECT_EQ(d.stats.rows, 700);
  EXPECT_EQ(d.stats.bad_rows, 0);
  EXPECT_EQ(d.stats.pairs, 700);
  EXPECT_EQ(d.stats.examples, 1400);
  EXPECT_EQ(d.stats.desirable, 700);
  EXPECT_EQ(d.stats.dropped_not_prefix + d.stats.dropped_prompt_too_long + d.stats.truncated_sequences, 0);
  EXPECT_EQ(d.stats.conversational_rows, 700);
  EXPECT_LT(d.stats.completion_len.max, 30);
  EXPECT_TRUE(d.stats.class_weight_warning.empty());
  for (const auto& e : d.examples)
    ASSERT_EQ(std::vector<int64_t>(e.completion_ids.begin(), e.completion_ids.begin() + 4), kEmptyThink) << e.source;
  // A KTO micro-batch of the demo data collates with KL rows.
  opt.batch_size = 4;
  opt.need_kl = true;
  DataLoader loader(d, opt);
  Batch b = loader.next();
  EXPECT_EQ(b.input_ids.size(0), 4);
  EXPECT_EQ(b.kl_input_ids.size(0), 4);
  EXPECT_EQ(b.kl_fallbacks, 0);
}
