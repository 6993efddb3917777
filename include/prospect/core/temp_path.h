#pragma once
// Unique temporary names next to a final path, for atomic writes (write there, then rename).
#include <filesystem>
#include <string>

namespace prospect {

// 8 hex digits, different on every call of every thread and process.
std::string random_suffix();
// `path` + ".tmp-XXXXXXXX": a sibling in the same directory, so rename() stays on one filesystem.
inline std::filesystem::path temp_sibling(const std::filesystem::path& path) {
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + random_suffix();
  return tmp;
}

}  // namespace prospect
