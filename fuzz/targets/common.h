#pragma once
// Shared by the fuzz targets: quiet logging, and the one exception type a parser may throw on bad
// input (prospect::Error, which the CLI prints as one line). Anything else escaping - a raw
// nlohmann/std exception, a crash, a sanitizer report - is a finding.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "prospect/core/error.h"

#define PROSPECT_FUZZ_INIT                                      \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {          \
    spdlog::set_level(spdlog::level::off);                      \
    return 0;                                                   \
  }

inline std::string fuzz_text(const uint8_t* data, size_t size) { return std::string((const char*)data, size); }
