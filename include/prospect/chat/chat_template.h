#pragma once
// Chat templates: the Jinja `chat_template` of tokenizer_config.json executed as transformers does
// (trim_blocks, lstrip_blocks, raise_exception, tojson, loop variables, namespace, slicing, string
// methods). Output is byte-identical to transformers' apply_chat_template(..., tokenize=False).
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace prospect::chat {

class ChatTemplate {
 public:
  // Parses the template; an unsupported construct -> prospect::Error with the template line.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // `context` holds the template variables: messages, add_generation_prompt, tools,
  // enable_thinking, bos_token, eos_token, and any extra key. Undefined variables behave as Jinja's
  // Undefined (falsy, empty string). raise_exception(...) -> prospect::Error with its message.
  std::string render(const nlohmann::json& context) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace prospect::chat
