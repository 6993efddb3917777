// The data layer's only link to the chat layer (a separate unit so that the rest of data/ links
// without it).
#include <memory>
#include <optional>

#include "prospect/chat/chat_template.h"
#include "prospect/chat/hf_chat_config.h"
#include "prospect/core/error.h"
#include "prospect/data/prepare.h"

namespace prospect::data {

RenderFn chat_template_renderer(const tokenizer::Tokenizer& tok) {
  struct State {
    std::optional<chat::HfChatConfig> cfg;
    std::unique_ptr<chat::ChatTemplate> main, tool_use;
  };
  auto st = std::make_shared<State>();
  // Failures surface when a conversational row is rendered, so that standard-only data never
  // needs a (supported) template.
  std::string error;
  try {
    std::string main_src = tok.chat_template();
    if (!tok.source_dir().empty()) {
      try {
        st->cfg = chat::load_hf_chat_config(tok.source_dir());
        main_src = st->cfg->chat_template;
      } catch (const Error&) {
        st->cfg.reset();  // no template in the directory: the tokenizer's own (maybe empty)
      }
    }
    if (main_src.empty()) {
      error = "the tokenizer has no chat_template; conversational rows need one";
    } else {
      st->main = std::make_unique<chat::ChatTemplate>(main_src);
      if (st->cfg && st->cfg->tool_use_template)
        st->tool_use = std::make_unique<chat::ChatTemplate>(*st->cfg->tool_use_template);
    }
  } catch (const Error& e) {
    error = e.what();
  }
  if (!error.empty()) {
    return [error](const ojson&) -> std::string { throw Error("chat template", error); };
  }
  return [st](const ojson& vars) -> std::string {
    const bool tools = vars.contains("tools") && !vars["tools"].is_null();
    const chat::ChatTemplate& tpl = tools && st->tool_use ? *st->tool_use : *st->main;
    if (st->cfg) return tpl.render_ordered(chat::hf_template_context(*st->cfg, vars));
    ojson ctx = vars;
    // transformers passes these as None when absent (defined, falsy).
    if (!ctx.contains("tools")) ctx["tools"] = nullptr;
    if (!ctx.contains("documents")) ctx["documents"] = nullptr;
    return tpl.render_ordered(ctx);
  };
}

PreparedData prepare_data(const DataOptions& options, const tokenizer::Tokenizer& tok) {
  return prepare_data(options, tok, chat_template_renderer(tok));
}

}  // namespace prospect::data
