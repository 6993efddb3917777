// `prospect chat-template` end to end: --messages (raw text), --input (JSONL -> {"text"} lines), flags,
// list-form templates and errors naming file:line.
#include <gtest/gtest.h>

#include <filesystem>

#include "prospect/core/fs.h"
#include "test_util.h"

using prospect::test::run_cli;
using prospect::test::TempDir;
using ojson = nlohmann::ordered_json;

namespace {

std::string qwen3_template() {
  auto doc = ojson::parse(prospect::read_text_file(prospect::test::golden_dir() / "chat" / "chat_goldens.json"));
  return doc["templates"]["qwen3"].get<std::string>();
}

// A tokenizer directory holding only tokenizer_config.json (the chat-template side).
void write_config(const TempDir& dir, const ojson& chat_template) {
  ojson cfg = {{"bos_token", nullptr}, {"eos_token", {{"content", "<|im_end|>"}}}, {"chat_template", chat_template}};
  prospect::write_text_file_atomic(dir / "tokenizer_config.json", cfg.dump());
}

std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace

TEST(ChatTemplateCli, MessagesFilePrintsRawText) {
  TempDir dir;
  write_config(dir, qwen3_template());
  prospect::write_text_file_atomic(dir / "m.json",
                                   R"({"messages": [{"role": "system", "content": "You are helpful."},
                                                    {"role": "user", "content": "Hello"}]})");
  auto r = run_cli("chat-template --tokenizer " + q(dir.path()) + " --messages " + q(dir / "m.json") +
                   " --add-generation-prompt");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");
  r = run_cli("chat-template --tokenizer " + q(dir.path()) + " --messages " + q(dir / "m.json") +
              " --add-generation-prompt --enable-thinking false");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatTemplateCli, InputJsonlGivesOneTextLinePerObject) {
  TempDir dir;
  // List form: "default" is used; the {"name","template"} list is what newer configs hold.
  write_config(dir, ojson::array({{{"name", "default"}, {"template", "{{ eos_token }}{% for m in messages %}"
                                                                         "[{{ m.role }}:{{ m.content }}]{% endfor %}"
                                                                         "{{ flag | default('-') }}"}}}));
  prospect::write_text_file_atomic(dir / "in.jsonl",
                                   "{\"messages\": [{\"role\": \"user\", \"content\": \"é\\n\"}]}\n"
                                   "\n"
                                   "{\"messages\": [], \"flag\": \"x\"}\n");
  auto r = run_cli("chat-template --tokenizer " + q(dir.path()) + " --input " + q(dir / "in.jsonl"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"<|im_end|>[user:é\\n]-\"}\n{\"text\":\"<|im_end|>x\"}\n");
}

TEST(ChatTemplateCli, BadLineNamesFileAndLine) {
  TempDir dir;
  write_config(dir, "{{ raise_exception('no ' ~ messages[0].role) if messages[0].role == 'bot' }}ok");
  prospect::write_text_file_atomic(dir / "in.jsonl",
                                   "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n{not json}\n");
  auto r = run_cli("chat-template --tokenizer " + q(dir.path()) + " --input " + q(dir / "in.jsonl"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("in.jsonl:2"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  // raise_exception from the template: the message and the line of the input.
  prospect::write_text_file_atomic(dir / "in.jsonl", "{\"messages\": [{\"role\": \"bot\", \"content\": \"a\"}]}\n");
  r = run_cli("chat-template --tokenizer " + q(dir.path()) + " --input " + q(dir / "in.jsonl"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("in.jsonl:1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no bot"), std::string::npos) << r.err;
  // A line without "messages".
  prospect::write_text_file_atomic(dir / "in.jsonl", "{\"msgs\": []}\n");
  r = run_cli("chat-template --tokenizer " + q(dir.path()) + " --input " + q(dir / "in.jsonl"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("in.jsonl:1"), std::string::npos) << r.err;
  // Bad flag value and missing inputs.
  r = run_cli("chat-template --tokenizer " + q(dir.path()) + " --input " + q(dir / "in.jsonl") +
              " --enable-thinking maybe");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("--enable-thinking"), std::string::npos) << r.err;
  r = run_cli("chat-template --tokenizer " + q(dir.path()));
  EXPECT_NE(r.rc, 0);
}

TEST(ChatTemplateCli, UnsupportedTemplateConstructNamesTheLine) {
  TempDir dir;
  write_config(dir, "ok\n{% include 'x.jinja' %}");
  prospect::write_text_file_atomic(dir / "m.json", "{\"messages\": []}");
  auto r = run_cli("chat-template --tokenizer " + q(dir.path()) + " --messages " + q(dir / "m.json"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
}

TEST(ChatTemplateCli, RealQwen3TokenizerDir) {
  auto dir = prospect::test::qwen3_tokenizer_dir();
  if (!std::filesystem::exists(dir / "tokenizer_config.json")) GTEST_SKIP() << "no Qwen3 tokenizer cache";
  TempDir tmp;
  prospect::write_text_file_atomic(tmp / "m.json",
                                   R"({"messages": [{"role": "user", "content": "What is 2+2?"},
                                                    {"role": "assistant", "content": "<think>\nAdd them.\n</think>\n\n4"}]})");
  auto r = run_cli("chat-template --tokenizer " + q(dir) + " --messages " + q(tmp / "m.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd them.\n</think>\n\n4"
            "<|im_end|>\n");
}
