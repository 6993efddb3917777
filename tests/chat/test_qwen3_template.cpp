// qwen3.md §4.3 golden renders (a)-(f), written out by hand from the spec, against the real Qwen3
// template (the copy embedded in chat_goldens.json, itself checked against the tokenizer cache).
#include <gtest/gtest.h>

#include "prospect/chat/chat_template.h"
#include "prospect/core/fs.h"
#include "test_util.h"

using prospect::chat::ChatTemplate;
using ojson = nlohmann::ordered_json;

namespace {

const ChatTemplate& qwen3() {
  static ChatTemplate t = [] {
    auto doc = ojson::parse(prospect::read_text_file(prospect::test::golden_dir() / "chat" / "chat_goldens.json"));
    return ChatTemplate(doc["templates"]["qwen3"].get<std::string>());
  }();
  return t;
}

ojson msg(const char* role, const char* content) { return ojson{{"role", role}, {"content", content}}; }

std::string render(ojson messages, bool gen, const char* enable_thinking = nullptr) {
  ojson ctx = {{"messages", std::move(messages)}, {"add_generation_prompt", gen}, {"tools", nullptr}};
  if (enable_thinking) ctx["enable_thinking"] = std::string(enable_thinking) == "true";
  return qwen3().render_ordered(ctx);
}

}  // namespace

TEST(Qwen3Template, A_FinalAssistantGetsEmptyThinkBlock) {
  EXPECT_EQ(render({msg("user", "Hello"), msg("assistant", "Hi there!")}, false),
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHi there!<|im_end|>\n");
}

TEST(Qwen3Template, B_GenerationPrompt) {
  EXPECT_EQ(render({msg("user", "Hello")}, true), "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
}

TEST(Qwen3Template, C_EnableThinkingFalse) {
  EXPECT_EQ(render({msg("user", "Hello")}, true, "false"),
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  // enable_thinking=true behaves as undefined.
  EXPECT_EQ(render({msg("user", "Hello")}, true, "true"), render({msg("user", "Hello")}, true));
}

TEST(Qwen3Template, D_SystemAndUser) {
  EXPECT_EQ(render({msg("system", "You are helpful."), msg("user", "Hello")}, true),
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(Qwen3Template, E_HistoryThinkingStripped) {
  EXPECT_EQ(render({msg("user", "What is 2+2?"), msg("assistant", "<think>\nAdd them.\n</think>\n\n4"),
                    msg("user", "And 3+3?")},
                   true),
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n");
}

TEST(Qwen3Template, F_LastAssistantKeepsReasoning) {
  EXPECT_EQ(render({msg("user", "What is 2+2?"), msg("assistant", "<think>\nAdd them.\n</think>\n\n4")}, false),
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd them.\n</think>\n\n4"
            "<|im_end|>\n");
}

TEST(Qwen3Template, ToolCallArgumentsStringVerbatimDictAsJson) {
  ojson call_str = {{"function", {{"name", "f"}, {"arguments", "{\"b\":1,  \"a\":2}"}}}};
  ojson call_dict = {{"function", {{"name", "f"}, {"arguments", {{"b", 1}, {"a", "é"}}}}}};
  ojson m1 = {{"role", "assistant"}, {"content", ""}, {"tool_calls", {call_str, call_dict}}};
  std::string out = render({msg("user", "q"), m1}, false);
  EXPECT_NE(out.find("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"b\":1,  \"a\":2}}\n</tool_call>\n"
                     "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"b\": 1, \"a\": \"é\"}}\n</tool_call>"),
            std::string::npos)
      << out;
}
