// Reading and schema handling: UltraFeedback Binarized, plain strings, implicit prompts (TRL §5.2),
// unpaired KTO rows, optional columns, bad rows with file:line.
#include <gtest/gtest.h>

#include <fstream>

#include "prospect/core/error.h"
#include "prospect/data/reader.h"
#include "test_util.h"

using prospect::Error;
using prospect::data::extract_prompt;
using prospect::data::ojson;
using prospect::data::parse_row;
using prospect::data::RawRow;
using prospect::data::read_rows;

namespace {

void write(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

ojson msg(const std::string& role, const std::string& content) { return {{"role", role}, {"content", content}}; }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(DataReader, ExtractPromptStringsTrlExample) {
  // TRL docs: extract_prompt({"chosen": "The sky is blue.", "rejected": "The sky is green."}).
  auto e = extract_prompt("The sky is blue.", "The sky is green.");
  EXPECT_EQ(e.prompt, "The sky is");  // the space goes to the completions
  EXPECT_EQ(e.chosen, " blue.");
  EXPECT_EQ(e.rejected, " green.");
}

TEST(DataReader, ExtractPromptMessagesTrlExample) {
  ojson chosen = {msg("user", "What color is the sky?"), msg("assistant", "It is blue.")};
  ojson rejected = {msg("user", "What color is the sky?"), msg("assistant", "It is green.")};
  auto e = extract_prompt(chosen, rejected);
  EXPECT_EQ(e.prompt, ojson({msg("user", "What color is the sky?")}));
  EXPECT_EQ(e.chosen, ojson({msg("assistant", "It is blue.")}));
  EXPECT_EQ(e.rejected, ojson({msg("assistant", "It is green.")}));
}

TEST(DataReader, ExtractPromptCodePointsAndPrefixQuirk) {
  // The first difference is inside a 2-byte UTF-8 character: split before the whole character.
  auto e = extract_prompt("na\xC3\xAFve", "na\xC3\xAEve");  // naïve / naîve
  EXPECT_EQ(e.prompt, "na");
  EXPECT_EQ(e.chosen, "\xC3\xAFve");
  EXPECT_EQ(e.rejected, "\xC3\xAEve");
  // One string a prefix of the other: TRL's loop leaves idx = min_len - 1.
  e = extract_prompt("abc", "abcd");
  EXPECT_EQ(e.prompt, "ab");
  EXPECT_EQ(e.chosen, "c");
  EXPECT_EQ(e.rejected, "cd");
  // ... counted in code points: "aé" (3 bytes) vs "aéx": idx = 1 code point.
  e = extract_prompt("a\xC3\xA9", "a\xC3\xA9x");
  EXPECT_EQ(e.prompt, "a");
  EXPECT_EQ(e.chosen, "\xC3\xA9");
  // A difference at index 0: empty prompt (no wrap-around to chosen[-1]).
  e = extract_prompt("yes ", "no");
  EXPECT_EQ(e.prompt, "");
  EXPECT_EQ(e.chosen, "yes ");
}

TEST(DataReader, UltraFeedbackBinarizedRow) {
  // String prompt + conversational chosen/rejected repeating the user turn (the TRL gotcha).
  ojson row = {{"prompt", "What is 2+2?"},
               {"prompt_id", "abc123"},
               {"chosen", {msg("user", "What is 2+2?"), msg("assistant", "4")}},
               {"rejected", {msg("user", "What is 2+2?"), msg("assistant", "5")}},
               {"messages", {msg("user", "What is 2+2?"), msg("assistant", "4")}},
               {"score_chosen", 9.0},
               {"score_rejected", 2.5}};
  RawRow r = parse_row(row, "uf.jsonl:1", 7);
  EXPECT_TRUE(r.paired);
  EXPECT_TRUE(r.conversational);
  EXPECT_EQ(r.row, 7);
  EXPECT_EQ(r.prompt, ojson({msg("user", "What is 2+2?")}));
  EXPECT_EQ(r.chosen, ojson({msg("assistant", "4")}));
  EXPECT_EQ(r.rejected, ojson({msg("assistant", "5")}));
  EXPECT_TRUE(r.tools.is_null());
}

TEST(DataReader, PlainStringsAndExplicitMessagePrompt) {
  RawRow r = parse_row({{"prompt", "The sky is"}, {"chosen", " blue."}, {"rejected", " green."}}, "a:1");
  EXPECT_FALSE(r.conversational);
  EXPECT_EQ(r.prompt, "The sky is");
  EXPECT_EQ(r.chosen, " blue.");
  EXPECT_EQ(r.rejected, " green.");

  // Message-list prompt repeated at the start of chosen and rejected: stripped.
  ojson p = {msg("system", "Be brief."), msg("user", "Hi")};
  ojson c = p, rj = p;
  c.push_back(msg("assistant", "Hello!"));
  rj.push_back(msg("assistant", "Go away."));
  r = parse_row({{"prompt", p}, {"chosen", c}, {"rejected", rj}}, "a:2");
  EXPECT_EQ(r.prompt, p);
  EXPECT_EQ(r.chosen, ojson({msg("assistant", "Hello!")}));
  EXPECT_EQ(r.rejected, ojson({msg("assistant", "Go away.")}));

  // Message-list prompt and completions only (the TRL conversational explicit-prompt format).
  r = parse_row({{"prompt", {msg("user", "Hi")}}, {"chosen", {msg("assistant", "Hello!")}},
                 {"rejected", {msg("assistant", "No.")}}},
                "a:3");
  EXPECT_EQ(r.prompt, ojson({msg("user", "Hi")}));
  EXPECT_EQ(r.chosen, ojson({msg("assistant", "Hello!")}));
}

TEST(DataReader, ImplicitPromptRows) {
  RawRow r = parse_row({{"chosen", "The sky is blue."}, {"rejected", "The sky is green."}}, "a:1");
  EXPECT_EQ(r.prompt, "The sky is");
  EXPECT_EQ(r.chosen, " blue.");
  r = parse_row({{"chosen", {msg("user", "Q"), msg("assistant", "A")}}, {"rejected", {msg("user", "Q"), msg("assistant", "B")}}},
                "a:2");
  EXPECT_TRUE(r.conversational);
  EXPECT_EQ(r.prompt, ojson({msg("user", "Q")}));
  EXPECT_EQ(r.rejected, ojson({msg("assistant", "B")}));
}

TEST(DataReader, UnpairedKtoRowsAndOptionalColumns) {
  RawRow r = parse_row({{"prompt", "Hi"}, {"completion", " there"}, {"label", false}}, "k:1");
  EXPECT_FALSE(r.paired);
  EXPECT_FALSE(r.label);
  EXPECT_EQ(r.completion, " there");

  ojson tool = {{"type", "function"}, {"function", {{"name", "f"}, {"parameters", ojson::object()}}}};
  r = parse_row({{"prompt", {msg("user", "Hi")}},
                 {"completion", {msg("assistant", "Hello")}},
                 {"label", true},
                 {"tools", ojson::array({tool}).dump()},  // a JSON string holding the list
                 {"chat_template_kwargs", {{"enable_thinking", false}}}},
                "k:2");
  EXPECT_TRUE(r.conversational);
  EXPECT_TRUE(r.label);
  ASSERT_TRUE(r.tools.is_array());
  EXPECT_EQ(r.tools[0], tool);
  // Key order of the tool survives (templates print it with tojson).
  EXPECT_EQ(r.tools[0].begin().key(), "type");
  EXPECT_EQ(r.chat_template_kwargs["enable_thinking"], false);
}

TEST(DataReader, BadRowsNameTheirCause) {
  EXPECT_NE(error_of([] { parse_row({{"prompt", "x"}, {"chosen", "a"}}, "f.jsonl:4"); }).find("f.jsonl:4: missing field 'rejected'"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_row({{"prompt", "x"}, {"completion", "a"}, {"label", "yes"}}, "f:1"); })
                .find("field 'label': expected a boolean"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_row({{"prompt", "x"}, {"chosen", 3}, {"rejected", "b"}}, "f:1"); })
                .find("field 'chosen': expected a string or a list"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_row({{"prompt", "x"}, {"chosen", ""}, {"rejected", "b"}}, "f:1"); })
                .find("empty completion in 'chosen'"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_row({{"prompt", "x"}, {"completion", ""}, {"label", true}}, "f:1"); }).find("empty completion"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_row({{"text", "x"}}, "f:1"); }).find("no 'chosen'/'rejected'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_row({{"prompt", {msg("user", "Q")}}, {"chosen", "a"}, {"rejected", "b"}}, "f:1"); })
                .find("mixed fields"),
            std::string::npos);
  // Conversational rows whose first turns differ: no prompt to extract.
  EXPECT_NE(error_of([] {
              parse_row({{"chosen", {msg("user", "Q1"), msg("assistant", "A")}}, {"rejected", {msg("user", "Q2"), msg("assistant", "A")}}},
                        "f:1");
            }).find("share no leading messages"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_row({{"chosen", {{{"content", "x"}}}}, {"rejected", "b"}}, "f:1"); }).find("missing string 'role'"),
            std::string::npos);
}

TEST(DataReader, JsonlFileErrorsAndSkipping) {
  prospect::test::TempDir dir;
  const auto path = dir / "train.jsonl";
  write(path,
        "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n"
        "\n"
        "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": }\n"  // line 3: malformed JSON
        "{\"prompt\": \"a\", \"chosen\": \"b\"}\r\n"                  // line 4: missing field
        "{\"prompt\": \"a\", \"completion\": \"b\", \"label\": 1}\n"  // line 5: wrong type
        "{\"prompt\": \"x\", \"completion\": \"y\", \"label\": true}\n");
  std::string err = error_of([&] { read_rows({path}, false); });
  EXPECT_NE(err.find(path.string() + ":3: malformed JSON"), std::string::npos) << err;

  auto res = read_rows({path}, true);
  EXPECT_EQ(res.total_rows, 5);
  EXPECT_EQ(res.bad_rows, 3);
  ASSERT_EQ(res.rows.size(), 2u);
  EXPECT_EQ(res.rows[0].source, path.string() + ":1");
  EXPECT_EQ(res.rows[1].source, path.string() + ":6");
  EXPECT_EQ(res.rows[1].row, 4);  // row numbers count bad rows too
  ASSERT_EQ(res.bad_row_messages.size(), 3u);
  EXPECT_NE(res.bad_row_messages[1].find(":4: missing field 'rejected'"), std::string::npos) << res.bad_row_messages[1];
  EXPECT_NE(res.bad_row_messages[2].find(":5: field 'label'"), std::string::npos) << res.bad_row_messages[2];

  EXPECT_NE(error_of([&] { read_rows({dir / "missing.jsonl"}, true); }).find("data file not found"), std::string::npos);
}

TEST(DataReader, JsonArrayFileLines) {
  prospect::test::TempDir dir;
  const auto path = dir / "train.json";
  write(path,
        "[\n"
        "  {\"prompt\": \"p1\",\n"
        "   \"chosen\": \"c, [1]\", \"rejected\": \"r\\\"}\"},\n"  // line 2; brackets and quotes inside strings
        "  {\"prompt\": \"p2\", \"chosen\": \"c\",\n"
        "   \"rejected\": 5}\n"  // element starts on line 4
        "]\n");
  auto res = read_rows({path}, true);
  ASSERT_EQ(res.rows.size(), 1u);
  EXPECT_EQ(res.rows[0].source, path.string() + ":2");
  EXPECT_EQ(res.rows[0].chosen, "c, [1]");
  EXPECT_EQ(res.rows[0].rejected, "r\"}");
  EXPECT_EQ(res.bad_rows, 1);
  EXPECT_NE(res.bad_row_messages[0].find(path.string() + ":4: field 'rejected'"), std::string::npos) << res.bad_row_messages[0];

  // Malformed JSON inside a multi-line element: the line of the error.
  write(path, "[\n{\"prompt\": \"p\",\n \"chosen\": \"c\",\n \"rejected\" \"r\"}\n]");
  std::string err = error_of([&] { read_rows({path}, false); });
  EXPECT_NE(err.find(path.string() + ":4: malformed JSON"), std::string::npos) << err;
  write(path, "[{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"r\"}");
  EXPECT_NE(error_of([&] { read_rows({path}, true); }).find("unterminated JSON array"), std::string::npos);
}
