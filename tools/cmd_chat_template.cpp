// `prospect chat-template`: render a tokenizer directory's chat template exactly as transformers'
// apply_chat_template(..., tokenize=False) does.
//   --messages FILE.json : FILE holds {"messages": [...], ...extra template variables}; prints the text raw.
//   --input FILE.jsonl   : one such object per line; prints one {"text": ...} line per input line.
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "command.h"
#include "hub_option.h"
#include "prospect/chat/chat_template.h"
#include "prospect/chat/hf_chat_config.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"

namespace prospect::cli {
namespace {

struct ChatTemplateOptions {
  std::string tokenizer, messages, input, enable_thinking;
  bool add_generation_prompt = false;
};

class Renderer {
 public:
  explicit Renderer(const ChatTemplateOptions& o) : opt_(o), cfg_(chat::load_hf_chat_config(o.tokenizer)) {
    if (!o.enable_thinking.empty() && o.enable_thinking != "true" && o.enable_thinking != "false")
      throw Error("--enable-thinking", "expected true or false, got '" + o.enable_thinking + "'");
  }

  // `where` names the input (file or file:line) in errors.
  std::string render(nlohmann::ordered_json vars, const std::string& where) {
    if (!vars.is_object()) throw Error(where, "expected a JSON object with a \"messages\" list");
    if (!vars.contains("messages") || !vars["messages"].is_array())
      throw Error(where, "expected a \"messages\" list");
    // Command-line flags set (and override) the template variables of the same name.
    if (opt_.add_generation_prompt) vars["add_generation_prompt"] = true;
    if (!opt_.enable_thinking.empty()) vars["enable_thinking"] = opt_.enable_thinking == "true";
    const std::string& source = chat::select_template(cfg_, vars);
    auto it = compiled_.find(&source);
    if (it == compiled_.end()) {
      try {
        it = compiled_.emplace(&source, std::make_unique<chat::ChatTemplate>(source)).first;
      } catch (const Error& e) {
        throw Error(opt_.tokenizer, e.what());
      }
    }
    try {
      return it->second->render_ordered(chat::hf_template_context(cfg_, std::move(vars)));
    } catch (const Error& e) {
      throw Error(where, e.what());
    }
  }

 private:
  const ChatTemplateOptions& opt_;
  chat::HfChatConfig cfg_;
  std::map<const std::string*, std::unique_ptr<chat::ChatTemplate>> compiled_;
};

nlohmann::ordered_json parse_json(const std::string& text, const std::string& where) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(where, std::string("invalid JSON: ") + e.what());
  }
}

int run(const ChatTemplateOptions& o) {
  if (o.messages.empty() == o.input.empty()) throw Error("chat-template", "give exactly one of --messages or --input");
  Renderer r(o);
  if (!o.messages.empty()) {
    std::string text = r.render(parse_json(read_text_file(o.messages), o.messages), o.messages);
    std::cout << text << std::flush;
    return 0;
  }
  std::ifstream in(o.input, std::ios::binary);
  if (!in) throw Error(o.input, "cannot open file");
  std::string line, out;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank line
    std::string where = o.input + ":" + std::to_string(lineno);
    std::string text = r.render(parse_json(line, where), where);
    out += nlohmann::ordered_json{{"text", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }
  // All lines render before anything is printed, so a bad line never leaves partial output.
  std::cout << out << std::flush;
  return 0;
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<ChatTemplateOptions>();
  app.add_option("--tokenizer", o->tokenizer, "tokenizer directory (tokenizer_config.json / chat_template.jinja)")->transform(prospect::cli::hub_path())
      ->required();
  app.add_option("--messages", o->messages, "JSON file {\"messages\": [...], ...variables}; prints the text raw");
  app.add_option("--input", o->input, "JSONL file, one such object per line; prints {\"text\": ...} lines");
  app.add_flag("--add-generation-prompt", o->add_generation_prompt, "set add_generation_prompt=true");
  app.add_option("--enable-thinking", o->enable_thinking, "set enable_thinking (true|false)");
  return [o] { return run(*o); };
}

PROSPECT_COMMAND("chat-template", "render a tokenizer's chat template as transformers' apply_chat_template",
                 setup);

}  // namespace
}  // namespace prospect::cli
