#include "prospect/chat/hf_chat_config.h"

#include "prospect/core/error.h"
#include "prospect/core/fs.h"

namespace prospect::chat {

HfChatConfig load_hf_chat_config(const std::filesystem::path& dir) {
  HfChatConfig cfg;
  auto cfg_path = dir / "tokenizer_config.json";
  nlohmann::ordered_json tc = nlohmann::ordered_json::object();
  if (std::filesystem::exists(cfg_path)) {
    std::string text = read_text_file(cfg_path);
    try {
      tc = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(cfg_path.string(), std::string("invalid JSON: ") + e.what());
    }
    if (!tc.is_object()) throw Error(cfg_path.string(), "expected a JSON object");
  }
  // Special tokens as transformers' special_tokens_map: strings or AddedToken dicts {"content": ...};
  // null ones are left out (so the template sees them as undefined).
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    auto it = tc.find(key);
    if (it == tc.end() || it->is_null()) continue;
    if (it->is_string()) cfg.special_tokens.emplace_back(key, it->get<std::string>());
    else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
      cfg.special_tokens.emplace_back(key, (*it)["content"].get<std::string>());
    else throw Error(cfg_path.string() + ": " + key, "expected a string or {\"content\": ...}");
  }
  auto jinja_path = dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path)) {
    cfg.chat_template = read_text_file(jinja_path);
    return cfg;
  }
  auto it = tc.find("chat_template");
  if (it == tc.end() || it->is_null())
    throw Error(dir.string(), "no chat template (neither chat_template.jinja nor tokenizer_config.json \"chat_template\")");
  if (it->is_string()) {
    cfg.chat_template = it->get<std::string>();
  } else if (it->is_array()) {
    bool found = false;
    for (auto& e : *it) {
      if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["name"].is_string() ||
          !e["template"].is_string())
        throw Error(cfg_path.string() + ": chat_template", "list entries must be {\"name\": str, \"template\": str}");
      std::string name = e["name"].get<std::string>();
      if (name == "default") {
        cfg.chat_template = e["template"].get<std::string>();
        found = true;
      } else if (name == "tool_use") {
        cfg.tool_use_template = e["template"].get<std::string>();
      }
    }
    if (!found) throw Error(cfg_path.string() + ": chat_template", "no template named \"default\"");
  } else {
    throw Error(cfg_path.string() + ": chat_template", "expected a string or a list of {name, template}");
  }
  return cfg;
}

nlohmann::ordered_json hf_template_context(const HfChatConfig& cfg, nlohmann::ordered_json vars) {
  if (!vars.is_object()) throw Error("chat template", "template variables must be a JSON object");
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  // transformers: render(messages=..., tools=..., documents=..., add_generation_prompt=...,
  // **special_tokens_map, **kwargs); later keys override earlier ones.
  ctx["tools"] = nullptr;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = false;
  for (auto& [k, v] : cfg.special_tokens) ctx[k] = v;
  for (auto it = vars.begin(); it != vars.end(); ++it) ctx[it.key()] = it.value();
  return ctx;
}

const std::string& select_template(const HfChatConfig& cfg, const nlohmann::ordered_json& vars) {
  if (cfg.tool_use_template && vars.is_object() && vars.contains("tools") && !vars["tools"].is_null())
    return *cfg.tool_use_template;
  return cfg.chat_template;
}

}  // namespace prospect::chat
