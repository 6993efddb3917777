#pragma once
// CLI11 transform for --model / --adapter / --tokenizer / model directories: a Hugging Face id
// ("Qwen/Qwen3-0.6B", "org/name@rev") becomes its snapshot in the local hub cache; an existing local
// path always wins. A missing id fails the parse with the "not cached, download with ..." message.
#include <CLI/CLI.hpp>

#include "prospect/core/error.h"
#include "prospect/io/hub_cache.h"

namespace prospect::cli {

inline CLI::Validator hub_path() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        try {
          s = io::resolve_model_path(s).path.string();
          return {};
        } catch (const Error& e) {
          return e.what();
        }
      },
      "PATH|ORG/NAME[@REV]", "hub_path");
}

}  // namespace prospect::cli
