#pragma once
// Tree-walking interpreter for the Jinja syntax tree (jinja_ast.h) with jinja2's semantics as used by
// transformers (ImmutableSandboxedEnvironment, default Undefined, HF's tojson/raise_exception/
// strftime_now globals).
#include <string>

#include "jinja_ast.h"

namespace prospect::chat::jinja {

// Renders `body` with the variables of `context` (a Dict value). Errors: prospect::Error "chat template
// line N: ..."; raise_exception -> prospect::chat::TemplateRaise.
std::string render(const Body& body, const Value& context);

}  // namespace prospect::chat::jinja
