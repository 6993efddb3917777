#pragma once
// The chat-template side of a Hugging Face tokenizer directory, read directly from
// tokenizer_config.json / chat_template.jinja (independent of the tokenizer implementation), and the
// template variables transformers' apply_chat_template passes.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace prospect::chat {

struct HfChatConfig {
  std::string chat_template;           // the "default" template
  std::optional<std::string> tool_use_template;  // named "tool_use" template, if any
  // Special tokens as transformers' special_tokens_map passes them (absent when null in the config).
  std::vector<std::pair<std::string, std::string>> special_tokens;  // bos_token, eos_token, ...
};

// Reads dir/chat_template.jinja if present (it wins, as in transformers), else tokenizer_config.json
// "chat_template" (a string, or a list of {name, template}: "default", and "tool_use" when present).
// Errors name the file; no template at all -> prospect::Error.
HfChatConfig load_hf_chat_config(const std::filesystem::path& dir);

// The variables transformers renders with: `vars` (messages and extra keys) plus the special tokens,
// add_generation_prompt (false unless present) and tools/documents = None when absent.
nlohmann::ordered_json hf_template_context(const HfChatConfig& cfg, nlohmann::ordered_json vars);

// The template transformers picks: "tool_use" when tools are given and such a template exists.
const std::string& select_template(const HfChatConfig& cfg, const nlohmann::ordered_json& vars);

}  // namespace prospect::chat
