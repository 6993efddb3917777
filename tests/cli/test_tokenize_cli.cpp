// `prospect tokenize` end to end: --text, --input JSONL, --decode, errors naming file:line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "prospect/core/fs.h"
#include "test_util.h"

using nlohmann::json;
using prospect::test::run_cli;

namespace {
std::string tokdir() { return (prospect::test::golden_dir() / "tokenizer" / "llama3_like").string(); }
json golden_case(const std::string& text) {
  json g = prospect::read_json_file(prospect::test::golden_dir() / "tokenizer" / "llama3_like" / "goldens.json");
  for (const auto& c : g["cases"])
    if (c["text"] == text) return c;
  return json();
}
}  // namespace

TEST(TokenizeCli, TextPrintsGoldenIds) {
  json c = golden_case("a [LS] b");
  ASSERT_FALSE(c.is_null());
  auto r = run_cli("tokenize --tokenizer '" + tokdir() + "' --text 'a [LS] b'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["ids"], c["ids"]);
  r = run_cli("tokenize --tokenizer '" + tokdir() + "' --text 'a [LS] b' --add-special-tokens");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["ids"], c["ids_with_special"]);
}

TEST(TokenizeCli, InputJsonlInOrderAndDecode) {
  prospect::test::TempDir tmp;
  std::vector<std::string> texts = {"a [LS] b", "x [RS]   y", "<bold>x</bold> <b>", "1234567 89"};
  std::string jsonl;
  for (const auto& t : texts) jsonl += json{{"text", t}}.dump() + "\n";
  prospect::write_text_file_atomic(tmp / "in.jsonl", jsonl);
  auto r = run_cli("tokenize --tokenizer '" + tokdir() + "' --input '" + (tmp / "in.jsonl").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  size_t i = 0;
  for (; std::getline(lines, line); ++i) {
    ASSERT_LT(i, texts.size());
    EXPECT_EQ(json::parse(line)["ids"], golden_case(texts[i])["ids"]) << texts[i];
  }
  EXPECT_EQ(i, texts.size());
  // Decode the golden ids of "3.14159265358979" back.
  std::string ids;
  json pi = golden_case("3.14159265358979");
  ASSERT_FALSE(pi.is_null());
  for (auto& v : pi["ids"]) ids += (ids.empty() ? "" : ",") + std::to_string(v.get<int64_t>());
  r = run_cli("tokenize --tokenizer '" + tokdir() + "' --decode " + ids);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["text"], "3.14159265358979");
}

TEST(TokenizeCli, BadLineNamesFileAndLine) {
  prospect::test::TempDir tmp;
  prospect::write_text_file_atomic(tmp / "bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
  auto r = run_cli("tokenize --tokenizer '" + tokdir() + "' --input '" + (tmp / "bad.jsonl").string() + "'");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
  r = run_cli("tokenize --tokenizer '" + tokdir() + "' --decode 1,x");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("'x'"), std::string::npos) << r.err;
  r = run_cli("tokenize --tokenizer '" + (tmp.path() / "nope").string() + "' --text hi");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
}
