#pragma once
// The one error type of the project. Every user-facing failure is a prospect::Error whose message
// names the file, line, key or tensor concerned; the CLI prints it as one line and exits non-zero.
#include <stdexcept>
#include <string>

namespace prospect {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
  // Prefix the message with a context ("config.json", "data.jsonl:12", "model.layers.3.q_proj").
  Error(const std::string& context, const std::string& msg)
      : std::runtime_error(context.empty() ? msg : context + ": " + msg) {}
};

// Throws prospect::Error(context, msg) when cond is false. Used at the entry of operations.
inline void check(bool cond, const std::string& context, const std::string& msg) {
  if (!cond) throw Error(context, msg);
}

}  // namespace prospect
