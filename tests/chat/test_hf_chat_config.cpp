// Reading the chat template and special tokens from a tokenizer directory.
#include <gtest/gtest.h>

#include "prospect/chat/hf_chat_config.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "test_util.h"

using namespace prospect::chat;
using ojson = nlohmann::ordered_json;

TEST(HfChatConfig, StringTemplateAndTokenForms) {
  prospect::test::TempDir dir;
  prospect::write_text_file_atomic(dir / "tokenizer_config.json",
                                   R"({"chat_template": "T", "bos_token": {"content": "<s>", "lstrip": false},
                                       "eos_token": "</s>", "unk_token": null})");
  HfChatConfig cfg = load_hf_chat_config(dir.path());
  EXPECT_EQ(cfg.chat_template, "T");
  ASSERT_EQ(cfg.special_tokens.size(), 2u);
  ojson ctx = hf_template_context(cfg, ojson{{"messages", ojson::array()}, {"eos_token", "override"}});
  EXPECT_EQ(ctx["bos_token"], "<s>");
  EXPECT_EQ(ctx["eos_token"], "override");
  EXPECT_FALSE(ctx.contains("unk_token"));
  EXPECT_TRUE(ctx["tools"].is_null());
  EXPECT_EQ(ctx["add_generation_prompt"], false);
}

TEST(HfChatConfig, NamedTemplatesAndJinjaFile) {
  prospect::test::TempDir dir;
  prospect::write_text_file_atomic(
      dir / "tokenizer_config.json",
      R"({"chat_template": [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "DEF"}]})");
  HfChatConfig cfg = load_hf_chat_config(dir.path());
  EXPECT_EQ(cfg.chat_template, "DEF");
  EXPECT_EQ(select_template(cfg, ojson{{"messages", ojson::array()}}), "DEF");
  EXPECT_EQ(select_template(cfg, ojson{{"tools", ojson::array({1})}}), "TOOLS");
  EXPECT_EQ(select_template(cfg, ojson{{"tools", nullptr}}), "DEF");
  prospect::write_text_file_atomic(dir / "chat_template.jinja", "JINJA");
  EXPECT_EQ(load_hf_chat_config(dir.path()).chat_template, "JINJA");
}

TEST(HfChatConfig, ErrorsNameTheFile) {
  prospect::test::TempDir dir;
  EXPECT_THROW(load_hf_chat_config(dir.path()), prospect::Error);
  prospect::write_text_file_atomic(dir / "tokenizer_config.json", R"({"chat_template": [{"name": "x", "template": "y"}]})");
  try {
    load_hf_chat_config(dir.path());
    FAIL();
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
  }
  prospect::write_text_file_atomic(dir / "tokenizer_config.json", "{not json");
  EXPECT_THROW(load_hf_chat_config(dir.path()), prospect::Error);
}
