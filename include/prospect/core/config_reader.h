#pragma once
// Strict reading of JSON config blocks. Every access records the key; finish() rejects any key that
// was never read with "unknown key 'x.y' (did you mean 'x.z'?)". Type and range errors name the full
// key path. Components receive plain values; only recipes (the CLI commands) read configs.
#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "prospect/core/error.h"

namespace prospect {

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `key`, or "" when nothing is reasonably close.
std::string nearest_name(const std::string& key, const std::vector<std::string>& candidates);

class ConfigReader {
 public:
  // `path` is the dotted prefix used in messages ("" for the root, "loss", "loss.value_function").
  ConfigReader(const nlohmann::json& j, std::string path, std::string source = "config");

  bool has(const std::string& key) const;  // present and not null
  // Typed accessors. Integers given as floats with an integral value are accepted for int types.
  template <typename T> T get(const std::string& key, const T& fallback);
  template <typename T> T required(const std::string& key);
  template <typename T> std::optional<T> optional(const std::string& key);  // null -> nullopt
  // Marks the key as known without reading it (for blocks handed on elsewhere).
  const nlohmann::json& raw(const std::string& key);
  ConfigReader child(const std::string& key);  // an object (missing or null -> empty object)
  // Range checks: throw "<path.key>: must be ... (got v)".
  void check_range(const std::string& key, double v, double lo, double hi, bool lo_open = false,
                   bool hi_open = false) const;
  void check_one_of(const std::string& key, const std::string& v, const std::vector<std::string>& allowed) const;
  // Declares keys as accepted (e.g. documentation keys such as "_comment") without reading them.
  void allow(const std::vector<std::string>& keys);
  // Throws on keys never read or allowed. Keys starting with '_' are always allowed (comments).
  void finish() const;

  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const nlohmann::json& json() const { return j_; }
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& lookup(const std::string& key);
  nlohmann::json j_;
  std::string path_, source_;
  std::set<std::string> seen_;
  std::vector<std::string> known_;
};

// Applies "--set a.b.c=value" style overrides (value parsed as JSON, else taken as a string).
void apply_override(nlohmann::json& root, const std::string& assignment);

}  // namespace prospect
