// Chat templates: the input as a Jinja template, parsed and rendered with a conversation that has
// a system prompt, tools, a tool call and the usual special tokens.
#include <nlohmann/json.hpp>

#include "common.h"
#include "prospect/chat/chat_template.h"

PROSPECT_FUZZ_INIT

namespace {
const nlohmann::ordered_json& context() {
  static const nlohmann::ordered_json c = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "What is 2+2?"},
      {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4", "tool_calls": [
        {"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}]},
      {"role": "tool", "content": "4"},
      {"role": "user", "content": [{"type": "text", "text": "Thanks"}]}],
    "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true, "enable_thinking": false,
    "bos_token": "<s>", "eos_token": "</s>"})");
  return c;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    prospect::chat::ChatTemplate t(fuzz_text(data, size));
    (void)t.render_ordered(context());
  } catch (const prospect::Error&) {
  }
  return 0;
}
