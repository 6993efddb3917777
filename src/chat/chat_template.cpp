#include "prospect/chat/chat_template.h"

#include "jinja_ast.h"
#include "jinja_interp.h"

namespace prospect::chat {

struct ChatTemplate::Impl {
  jinja::Body body;
};

ChatTemplate::ChatTemplate(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->body = jinja::parse_template(source);
}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::json& context) const {
  check(context.is_object(), "chat template", "the render context must be a JSON object");
  return jinja::render(impl_->body, jinja::from_json(context));
}
std::string ChatTemplate::render_ordered(const nlohmann::ordered_json& context) const {
  check(context.is_object(), "chat template", "the render context must be a JSON object");
  return jinja::render(impl_->body, jinja::from_json(context));
}

}  // namespace prospect::chat
