// Prompt construction of every task against (a) prompts written in Python from the harness's task
// definitions (tests/golden/eval/make_expected_prompts.py) and (b) hand-written strings.
#include <gtest/gtest.h>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/eval/pytext.h"
#include "prospect/eval/results.h"
#include "prospect/eval/tasks.h"
#include "test_util.h"

using namespace prospect::eval;
namespace pt = prospect::test;

namespace {
std::vector<Row> rows(const std::string& name) { return read_jsonl(pt::golden_dir() / "eval" / name); }

void expect_docs(const std::vector<McDoc>& docs, const nlohmann::json& expected) {
  ASSERT_EQ(docs.size(), expected.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    SCOPED_TRACE("doc " + std::to_string(i));
    EXPECT_EQ(docs[i].context, expected[i]["context"].get<std::string>());
    EXPECT_EQ(docs[i].choices, expected[i]["choices"].get<std::vector<std::string>>());
    EXPECT_EQ(docs[i].gold, expected[i]["gold"].get<int64_t>());
    // The Python reference predates lm-eval 0.4.8 and gives the first-0 split; its rows list the
    // true answers first, so the labels are exactly the indices below it.
    if (expected[i].contains("mc2_split")) {
      const auto split = expected[i]["mc2_split"].get<size_t>();
      ASSERT_EQ(docs[i].mc2_true.size(), docs[i].choices.size());
      for (size_t k = 0; k < docs[i].mc2_true.size(); ++k) EXPECT_EQ(docs[i].mc2_true[k], k < split) << k;
    }
  }
}

nlohmann::json expected(const std::string& key) {
  static const auto j = prospect::read_json_file(pt::golden_dir() / "eval" / "expected_prompts.json");
  return j.at(key);
}

TaskOptions shots(int64_t k, int64_t limit = 0, bool same = false) {
  TaskOptions o;
  o.num_fewshot = k;
  o.limit = limit;
  o.fewshot_same_split = same;
  return o;
}
}  // namespace

TEST(PyText, StripCapitalizeLenReplaceAsPython) {
  EXPECT_EQ(pytext::strip(" \t\xC2\xA0x y\xE3\x80\x80\n"), "x y");  // NBSP and ideographic space are whitespace
  EXPECT_EQ(pytext::rstrip("ab  \n"), "ab");
  EXPECT_EQ(pytext::capitalize("tHEY START"), "They start");
  EXPECT_EQ(pytext::capitalize(""), "");
  EXPECT_EQ(pytext::len("café"), 4);  // 5 bytes
  EXPECT_EQ(pytext::replace("a   b", "  ", " "), "a  b");  // one non-overlapping pass
  EXPECT_EQ(pytext::remove_bracketed("a [x] b [y\n] c [z]"), "a  b [y\n] c ");
}

TEST(PyText, HellaswagPreprocessHandExamples) {
  // strip() runs before the brackets go, so "[header] How" keeps its space (as in Python).
  EXPECT_EQ(pytext::hellaswag_preprocess("  [header] How to grow basil [title] Choose a spot. [step] Plant it.  "),
            " How to grow basil. Choose a spot. Plant it.");
  EXPECT_EQ(pytext::hellaswag_preprocess("Plant it  in the shade [title] always."), "Plant it in the shade. always.");
}

TEST(Tasks, HellaswagQueryAndChoicesByHand) {
  auto docs = build_docs(TaskKind::hellaswag, rows("hellaswag_val.jsonl"), {}, shots(0));
  ASSERT_EQ(docs.size(), 3u);
  // ctx = ctx_a + " " + ctx_b.capitalize(); query = preprocess(activity_label + ": " + ctx)
  EXPECT_EQ(docs[0].context,
            "Removing ice from car: Then, the man writes over the snow covering the window of a car, and a woman "
            "wearing winter clothes smiles. Then");
  EXPECT_EQ(docs[0].choices[3], ", the man continues removing the snow on his car.");
  EXPECT_EQ(docs[0].gold, 3);  // label "3" given as a string
  EXPECT_EQ(docs[1].context, "Home and Garden: How to grow basil. Choose a sunny spot. Basil needs six hours of sun. Water it daily");
  // "Sailing: " + "  A boat..." + " " + "": three spaces become two (one replace pass), the end is stripped.
  EXPECT_EQ(docs[2].context, "Sailing:  A boat sails across a lake.");
  auto reqs = doc_requests(docs[0]);
  EXPECT_EQ(reqs[1].second, " , a person board a ski lift, while two men supporting the head of the person wearing "
                            "winter clothes snow as the we girls sled.");
}

TEST(Tasks, HellaswagFewshotMatchesHarnessSampling) {
  auto val = rows("hellaswag_val.jsonl"), train = rows("hellaswag_train.jsonl");
  expect_docs(build_docs(TaskKind::hellaswag, val, train, shots(10)), expected("hellaswag_10shot"));
  expect_docs(build_docs(TaskKind::hellaswag, val, train, shots(2)), expected("hellaswag_2shot"));
  expect_docs(build_docs(TaskKind::hellaswag, val, train, shots(0)), expected("hellaswag_0shot"));
  // 13 train rows give at most 12 shots (k + 1 draws).
  EXPECT_THROW(build_docs(TaskKind::hellaswag, val, train, shots(13)), prospect::Error);
}

TEST(Tasks, TruthfulQAPromptsByHandAndFromPython) {
  auto r = rows("truthfulqa.jsonl");
  auto mc1 = build_docs(TaskKind::truthfulqa_mc1, r, r, shots(0));
  ASSERT_EQ(mc1.size(), 2u);
  const std::string tail = "A: The 1992 Olympics were held in Barcelona, Spain.\n\nQ: What happens if you eat watermelon seeds?\nA:";
  EXPECT_EQ(mc1[0].context.substr(0, 56), "Q: What is human life expectancy in the United States?\nA");
  EXPECT_EQ(mc1[0].context.substr(mc1[0].context.size() - tail.size()), tail);
  EXPECT_EQ(mc1[0].gold, 0);
  EXPECT_EQ(mc1[0].choices.size(), 3u);
  auto mc2 = build_docs(TaskKind::truthfulqa_mc2, r, r, shots(0));
  EXPECT_EQ(mc2[0].mc2_true, (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(mc2[1].mc2_true, (std::vector<bool>{true, false, false}));
  expect_docs(mc1, expected("truthfulqa_mc1_0shot"));
  expect_docs(mc2, expected("truthfulqa_mc2_0shot"));
  expect_docs(build_docs(TaskKind::truthfulqa_mc2, r, r, shots(1, 0, true)), expected("truthfulqa_mc2_1shot_same_split"));
}

TEST(Tasks, MmluPromptsByHandAndFromPython) {
  auto test = rows("mmlu_test.jsonl"), dev = rows("mmlu_dev.jsonl");
  auto zero = build_docs(TaskKind::mmlu, test, dev, shots(0));
  ASSERT_EQ(zero.size(), 3u);
  EXPECT_EQ(zero[1].context,
            "The following are multiple choice questions (with answers) about high school us history.\n\n"
            "Which document began with 'We the People'?\nA. The Declaration\nB. The Constitution\nC. The Federalist\n"
            "D. Common Sense\nAnswer:");
  EXPECT_EQ(zero[2].gold, 0);  // answer "A"
  EXPECT_EQ(doc_requests(zero[0])[3].second, " D");
  expect_docs(zero, expected("mmlu_0shot"));
  expect_docs(build_docs(TaskKind::mmlu, test, dev, shots(5)), expected("mmlu_5shot"));
  expect_docs(build_docs(TaskKind::mmlu, test, dev, shots(2, 1)), expected("mmlu_2shot_limit1"));
  EXPECT_THROW(build_docs(TaskKind::mmlu, test, dev, shots(6)), prospect::Error);  // 5 dev rows per subject
  EXPECT_EQ(mmlu_category("high_school_us_history"), "humanities");
  EXPECT_EQ(mmlu_category("abstract_algebra"), "stem");
}

TEST(Tasks, GenericMultipleChoice) {
  auto r = rows("multiple_choice.jsonl");
  auto docs = build_docs(TaskKind::multiple_choice, r, r, shots(0));
  EXPECT_EQ(docs[0].context, "The capital of France is");
  EXPECT_EQ(doc_requests(docs[0])[0], std::make_pair(std::string("The capital of France is"), std::string(" Paris")));
  expect_docs(docs, expected("multiple_choice_0shot"));
  expect_docs(build_docs(TaskKind::multiple_choice, r, r, shots(2, 0, true)), expected("multiple_choice_2shot_same_split"));
}

TEST(Tasks, BadRowsNameFileAndLine) {
  auto r = rows("bad_rows.jsonl");
  try {
    build_docs(TaskKind::multiple_choice, r, r, shots(0));
    FAIL() << "expected an error";
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_rows.jsonl:3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("label"), std::string::npos) << e.what();
  }
  pt::TempDir d;
  prospect::write_text_file_atomic(d / "x.jsonl", "{\"context\": \"a\"}\n{not json\n");
  try {
    read_jsonl(d / "x.jsonl");
    FAIL();
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.jsonl:2"), std::string::npos) << e.what();
  }
  prospect::write_text_file_atomic(d / "y.jsonl", "{\"question\": \"q\", \"subject\": \"s\", \"answer\": 0}\n");
  try {
    build_docs(TaskKind::mmlu, read_jsonl(d / "y.jsonl"), {}, shots(0));
    FAIL();
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("y.jsonl:1: missing field 'choices'"), std::string::npos) << e.what();
  }
}
