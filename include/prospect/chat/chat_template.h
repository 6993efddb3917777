#pragma once
// Chat templates: the Jinja `chat_template` of tokenizer_config.json executed as transformers does
// (trim_blocks, lstrip_blocks, raise_exception, tojson, loop variables, namespace, slicing, string
// methods). Output is byte-identical to transformers' apply_chat_template(..., tokenize=False).
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "prospect/core/error.h"

namespace prospect::chat {

// Thrown by the template's own raise_exception(msg) (e.g. Mistral's role-alternation check).
// what() is "chat template line N: <msg>"; message() is <msg> alone, as transformers reports it.
class TemplateRaise : public prospect::Error {
 public:
  TemplateRaise(const std::string& context, const std::string& msg) : Error(context, msg), msg_(msg) {}
  const std::string& message() const { return msg_; }

 private:
  std::string msg_;
};

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
  // Note: nlohmann::json sorts object keys, so `tojson` of a dict prints keys alphabetically; use
  // render_ordered() to keep the insertion order that Python dicts (and transformers) have.
  std::string render(const nlohmann::json& context) const;
  // Same, preserving object key order (parse inputs with nlohmann::ordered_json::parse).
  std::string render_ordered(const nlohmann::ordered_json& context) const;

  // Special context key: "__now__" (ISO "YYYY-MM-DDTHH:MM:SS" string or epoch seconds) fixes the
  // time that strftime_now() formats (Llama 3.1 date line); without it, the local current time.

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace prospect::chat
