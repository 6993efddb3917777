#include "prospect/core/config_reader.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace prospect {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_name(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = edit_distance(key, c);
    if (d < best_d) best_d = d, best = c;
  }
  if (best.empty()) return "";
  // Accept suggestions within about half the key's length (typos, not unrelated words).
  return best_d <= std::max<size_t>(2, key.size() / 2) ? best : "";
}

ConfigReader::ConfigReader(const nlohmann::json& j, std::string path, std::string source)
    : j_(j.is_null() ? nlohmann::json::object() : j), path_(std::move(path)), source_(std::move(source)) {
  if (!j_.is_object())
    throw Error(source_, "'" + (path_.empty() ? std::string("<root>") : path_) + "' must be an object");
}

bool ConfigReader::has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }

const nlohmann::json& ConfigReader::lookup(const std::string& key) {
  seen_.insert(key);
  known_.push_back(key);
  static const nlohmann::json null_json;
  auto it = j_.find(key);
  return it == j_.end() ? null_json : *it;
}

namespace {
template <typename T>
T convert(const nlohmann::json& v, const std::string& where, const std::string& source) {
  auto fail = [&](const std::string& want) -> T {
    throw Error(source, "'" + where + "' must be " + want + " (got " + v.dump() + ")");
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return fail("a boolean");
    return v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    // Every path checks the range of T: a value that does not fit is an error, never a silent wrap
    // (an int64 read into int) nor a float-to-integer conversion out of range (undefined behaviour).
    const std::string range = "an integer in [" + std::to_string(std::numeric_limits<T>::min()) + ", " +
                              std::to_string(std::numeric_limits<T>::max()) + "]";
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > (uint64_t)std::numeric_limits<T>::max()) return fail(range);
      return (T)u;
    }
    if (v.is_number_integer()) {
      const int64_t i = v.get<int64_t>();
      if constexpr (std::is_signed_v<T>) {
        if (i < (int64_t)std::numeric_limits<T>::min() || i > (int64_t)std::numeric_limits<T>::max())
          return fail(range);
      } else {
        if (i < 0) return fail(range);
      }
      return (T)i;
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d) || std::floor(d) != d) return fail("an integer");
      // 2^(digits) bounds: exact in double, and the conversion below is defined strictly inside them.
      const double hi = std::ldexp(1.0, std::numeric_limits<T>::digits);
      const double lo = std::is_signed_v<T> ? -hi : 0.0;
      if (d < lo || d >= hi) return fail(range);
      return (T)d;
    }
    return fail("an integer");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return fail("a number");
    return v.get<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return fail("a string");
    return v.get<std::string>();
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    if (v.is_string()) return T{v.get<std::string>()};
    if (!v.is_array()) return fail("a list of strings");
    T out;
    for (const auto& e : v) {
      if (!e.is_string()) return fail("a list of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    return v;
  } else {
    return v.get<T>();
  }
}
}  // namespace

template <typename T>
T ConfigReader::get(const std::string& key, const T& fallback) {
  const auto& v = lookup(key);
  if (v.is_null()) return fallback;
  return convert<T>(v, key_path(key), source_);
}

template <typename T>
T ConfigReader::required(const std::string& key) {
  const auto& v = lookup(key);
  if (v.is_null()) throw Error(source_, "missing required key '" + key_path(key) + "'");
  return convert<T>(v, key_path(key), source_);
}

template <typename T>
std::optional<T> ConfigReader::optional(const std::string& key) {
  const auto& v = lookup(key);
  if (v.is_null()) return std::nullopt;
  return convert<T>(v, key_path(key), source_);
}

#define PROSPECT_INSTANTIATE(T)                                               \
  template T ConfigReader::get<T>(const std::string&, const T&);              \
  template T ConfigReader::required<T>(const std::string&);                   \
  template std::optional<T> ConfigReader::optional<T>(const std::string&);
PROSPECT_INSTANTIATE(bool)
PROSPECT_INSTANTIATE(int)
PROSPECT_INSTANTIATE(int64_t)
PROSPECT_INSTANTIATE(uint64_t)
PROSPECT_INSTANTIATE(double)
PROSPECT_INSTANTIATE(float)
PROSPECT_INSTANTIATE(std::string)
PROSPECT_INSTANTIATE(std::vector<std::string>)
PROSPECT_INSTANTIATE(nlohmann::json)
#undef PROSPECT_INSTANTIATE

const nlohmann::json& ConfigReader::raw(const std::string& key) { return lookup(key); }

ConfigReader ConfigReader::child(const std::string& key) {
  const auto& v = lookup(key);
  if (!v.is_null() && !v.is_object()) throw Error(source_, "'" + key_path(key) + "' must be an object");
  return ConfigReader(v, key_path(key), source_);
}

void ConfigReader::check_range(const std::string& key, double v, double lo, double hi, bool lo_open,
                               bool hi_open) const {
  bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  if (!ok) {
    std::ostringstream os;
    os << "'" << key_path(key) << "' must be in " << (lo_open ? "(" : "[") << lo << ", " << hi
       << (hi_open ? ")" : "]") << " (got " << v << ")";
    throw Error(source_, os.str());
  }
}

void ConfigReader::check_one_of(const std::string& key, const std::string& v,
                                const std::vector<std::string>& allowed) const {
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  std::string near = nearest_name(v, allowed);
  throw Error(source_, "'" + key_path(key) + "' must be one of " + list + " (got '" + v + "')" +
                           (near.empty() ? "" : "; did you mean '" + near + "'?"));
}

void ConfigReader::allow(const std::vector<std::string>& keys) {
  for (const auto& k : keys) seen_.insert(k), known_.push_back(k);
}

void ConfigReader::finish() const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    const std::string& k = it.key();
    if (!k.empty() && k[0] == '_') continue;
    if (seen_.count(k)) continue;
    std::string near = nearest_name(k, known_);
    throw Error(source_, "unknown key '" + key_path(k) + "'" +
                             (near.empty() ? "" : " (did you mean '" + key_path(near) + "'?)"));
  }
}

void apply_override(nlohmann::json& root, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--set", "expected path.to.key=value, got '" + assignment + "'");
  std::string path = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  nlohmann::json v;
  try {
    v = nlohmann::json::parse(value);
  } catch (...) {
    v = value;
  }
  nlohmann::json* node = &root;
  std::stringstream ss(path);
  std::string part;
  std::vector<std::string> parts;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!node->is_object()) throw Error("--set", "'" + path + "': '" + parts[i] + "' is not an object");
    if (!node->contains(parts[i]) || (*node)[parts[i]].is_null()) (*node)[parts[i]] = nlohmann::json::object();
    node = &(*node)[parts[i]];
  }
  if (!node->is_object()) throw Error("--set", "'" + path + "': parent is not an object");
  (*node)[parts.back()] = v;
}

}  // namespace prospect
