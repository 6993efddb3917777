#include "prospect/lora/config.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "prospect/core/config_reader.h"
#include "prospect/core/error.h"

namespace prospect::lora {
namespace {

// PEFT LoraConfig fields (0.20) that this implementation reads or checks. Anything else in a PEFT
// file is ignored with a warning; in a recipe block it is an error.
const std::vector<std::string> kPeftFields = {
    "alora_invocation_tokens", "alpha_pattern", "arrow_config", "auto_mapping", "base_model_name_or_path",
    "bias", "corda_config", "ensure_weight_tying", "eva_config", "exclude_modules", "fan_in_fan_out",
    "inference_mode", "init_lora_weights", "kasa_config", "layer_replication", "layers_pattern",
    "layers_to_transform", "loftq_config", "lora_alpha", "lora_bias", "lora_dropout", "lora_ga_config",
    "megatron_config", "megatron_core", "modules_to_save", "monteclora_config", "peft_type", "peft_version",
    "qalora_group_size", "r", "rank_pattern", "revision", "target_modules", "target_parameters", "task_type",
    "trainable_token_indices", "use_bdlora", "use_dora", "use_qalora", "use_rslora", "velora_config"};

// Features PEFT configures through a sub-config or list; any non-null value means the feature is on.
const std::vector<std::string> kMustBeNull = {
    "alora_invocation_tokens", "arrow_config", "corda_config", "eva_config", "kasa_config",
    "layer_replication", "lora_ga_config", "megatron_config", "monteclora_config", "target_parameters",
    "trainable_token_indices", "velora_config"};

bool regex_full_match(const std::string& pattern, const std::string& s, const std::string& what) {
  try {
    return std::regex_match(s, std::regex(pattern, std::regex::ECMAScript));
  } catch (const std::regex_error& e) {
    throw Error(what, "invalid regular expression '" + pattern + "': " + e.what());
  }
}

bool list_match(const std::vector<std::string>& list, const std::string& path) {
  for (const auto& t : list) {
    if (path == t) return true;
    if (path.size() > t.size() && path.compare(path.size() - t.size(), t.size(), t) == 0 &&
        path[path.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}

LoraConfig parse(const nlohmann::json& j, const std::string& source, bool strict) {
  if (!j.is_object()) throw Error(source, "LoRA config must be a JSON object");
  ConfigReader rd(j, "", source);
  LoraConfig c;
  if (!strict) {
    std::vector<std::string> unknown;
    for (auto it = j.begin(); it != j.end(); ++it)
      if (std::find(kPeftFields.begin(), kPeftFields.end(), it.key()) == kPeftFields.end() && it.key()[0] != '_')
        unknown.push_back(it.key());
    for (const auto& k : unknown) spdlog::warn("{}: ignoring unknown LoRA config key '{}'", source, k);
    rd.allow(unknown);
  }

  const std::string peft_type = rd.get<std::string>("peft_type", "LORA");
  check(peft_type == "LORA", source, "peft_type must be \"LORA\" (got \"" + peft_type + "\")");
  c.task_type = rd.get<std::string>("task_type", "CAUSAL_LM");
  if (c.task_type != "CAUSAL_LM")
    spdlog::warn("{}: task_type '{}' (expected CAUSAL_LM); the adapter is applied to the causal LM", source,
                 c.task_type);
  c.base_model_name_or_path = rd.get<std::string>("base_model_name_or_path", "");
  c.peft_version = rd.get<std::string>("peft_version", c.peft_version);

  c.r = rd.get<int64_t>("r", 8);
  check(c.r > 0, source, "'r' must be > 0 (got " + std::to_string(c.r) + ")");
  c.lora_alpha = rd.get<double>("lora_alpha", 8.0);
  c.lora_dropout = rd.get<double>("lora_dropout", 0.0);
  rd.check_range("lora_dropout", c.lora_dropout, 0.0, 1.0, false, true);
  c.use_rslora = rd.get<bool>("use_rslora", false);
  c.use_dora = rd.get<bool>("use_dora", false);

  const auto& tm = rd.raw("target_modules");
  if (tm.is_string()) {
    const auto s = tm.get<std::string>();
    if (s == "all-linear") c.all_linear = true;
    else c.target_regex = s;
  } else if (tm.is_array()) {
    for (const auto& e : tm) {
      check(e.is_string(), source, "'target_modules' must be a string or a list of strings");
      c.target_modules.push_back(e.get<std::string>());
    }
    // PEFT ≥ 0.15 writes the resolved "all-linear" targets as full paths; a list holding the literal
    // "all-linear" is how some tools spell it too.
    if (c.target_modules.size() == 1 && c.target_modules[0] == "all-linear") {
      c.target_modules.clear();
      c.all_linear = true;
    }
  } else if (!tm.is_null()) {
    throw Error(source, "'target_modules' must be a string or a list of strings (got " + tm.dump() + ")");
  }
  const auto& ex = rd.raw("exclude_modules");
  if (ex.is_string()) c.exclude_regex = ex.get<std::string>();
  else if (ex.is_array())
    for (const auto& e : ex) {
      check(e.is_string(), source, "'exclude_modules' must be a string or a list of strings");
      c.exclude_modules.push_back(e.get<std::string>());
    }
  else if (!ex.is_null()) throw Error(source, "'exclude_modules' must be a string or a list of strings");

  for (const std::string key : {"rank_pattern", "alpha_pattern"}) {
    const auto& p = rd.raw(key);
    if (p.is_null()) continue;
    check(p.is_object(), source, "'" + key + "' must be an object {pattern: value}");
    for (auto it = p.begin(); it != p.end(); ++it) {
      check(it->is_number(), source, "'" + key + "." + it.key() + "' must be a number");
      if (key == "rank_pattern") {
        double v = it->get<double>();
        check(v > 0 && std::floor(v) == v && v <= 1 << 30, source,
              "'rank_pattern." + it.key() + "' must be a positive integer (at most 2^30)");
        c.rank_pattern[it.key()] = (int64_t)v;
      } else {
        c.alpha_pattern[it.key()] = it->get<double>();
      }
    }
  }

  const auto& init = rd.raw("init_lora_weights");
  if (init.is_null() || (init.is_boolean() && init.get<bool>())) c.init_lora_weights = LoraInit::Kaiming;
  else if (init.is_boolean()) c.init_lora_weights = LoraInit::LinearDefault;
  else if (init.is_string() && init.get<std::string>() == "gaussian") c.init_lora_weights = LoraInit::Gaussian;
  else
    throw Error(source, "'init_lora_weights' " + init.dump() +
                            " is not supported (supported: true, false, \"gaussian\")");

  const auto& ltt = rd.raw("layers_to_transform");
  if (ltt.is_number_integer()) c.layers_to_transform.push_back(ltt.get<int64_t>());
  else if (ltt.is_array())
    for (const auto& e : ltt) {
      check(e.is_number_integer(), source, "'layers_to_transform' must be an integer or a list of integers");
      c.layers_to_transform.push_back(e.get<int64_t>());
    }
  else if (!ltt.is_null()) throw Error(source, "'layers_to_transform' must be an integer or a list of integers");
  const auto& lp = rd.raw("layers_pattern");
  if (lp.is_string()) c.layers_pattern.push_back(lp.get<std::string>());
  else if (lp.is_array())
    for (const auto& e : lp) {
      check(e.is_string(), source, "'layers_pattern' must be a string or a list of strings");
      c.layers_pattern.push_back(e.get<std::string>());
    }
  else if (!lp.is_null()) throw Error(source, "'layers_pattern' must be a string or a list of strings");
  if (!c.layers_to_transform.empty() && c.target_regex)
    throw Error(source, "'layers_to_transform' cannot be used when 'target_modules' is a regex string");

  // Unsupported features: clear errors rather than a silently different adapter.
  const std::string bias = rd.get<std::string>("bias", "none");
  check(bias == "none", source,
        "'bias' \"" + bias + "\" is not supported (only \"none\": trained biases would change the base model)");
  check(!rd.get<bool>("fan_in_fan_out", false), source,
        "'fan_in_fan_out' true is not supported (it is for GPT-2 Conv1D layers; these models use nn.Linear)");
  check(!rd.get<bool>("lora_bias", false), source, "'lora_bias' true is not supported");
  check(!rd.get<bool>("use_qalora", false), source, "'use_qalora' true is not supported");
  {
    const auto& b = rd.raw("use_bdlora");
    check(b.is_null() || (b.is_boolean() && !b.get<bool>()), source, "'use_bdlora' is not supported");
  }
  {
    const auto& m = rd.raw("modules_to_save");
    check(m.is_null() || (m.is_array() && m.empty()), source,
          "'modules_to_save' " + m.dump() + " is not supported (only LoRA tensors are trained and saved)");
  }
  {
    const auto& l = rd.raw("loftq_config");
    check(l.is_null() || (l.is_object() && l.empty()), source, "'loftq_config' is not supported");
  }
  for (const auto& k : kMustBeNull) {
    const auto& v = rd.raw(k);
    check(v.is_null(), source, "'" + k + "' " + v.dump() + " is not supported");
  }
  // Accepted and irrelevant here: inference_mode (set by the caller), revision, auto_mapping,
  // megatron_core, qalora_group_size (only with use_qalora), ensure_weight_tying (no embedding LoRA).
  rd.allow({"inference_mode", "revision", "auto_mapping", "megatron_core", "qalora_group_size",
            "ensure_weight_tying"});
  rd.finish();
  return c;
}

}  // namespace

std::vector<std::string> default_target_modules(const std::string& model_type) {
  static const std::map<std::string, std::vector<std::string>> m = {
      {"qwen3", {"q_proj", "v_proj"}}, {"qwen2", {"q_proj", "v_proj"}}, {"llama", {"q_proj", "v_proj"}},
      {"mistral", {"q_proj", "v_proj"}}};
  auto it = m.find(model_type);
  if (it == m.end())
    throw Error("lora", "no default target_modules for model_type '" + model_type + "': set target_modules");
  return it->second;
}

LoraConfig LoraConfig::from_json(const nlohmann::json& j, const std::string& source) { return parse(j, source, true); }

LoraConfig LoraConfig::from_peft_json(const nlohmann::json& j, const std::string& source) {
  return parse(j, source, false);
}

bool LoraConfig::excluded(const std::string& path) const {
  if (exclude_regex) return regex_full_match(*exclude_regex, path, "exclude_modules");
  return list_match(exclude_modules, path);
}

bool LoraConfig::targets(const std::string& path, const std::string& model_type) const {
  if (excluded(path)) return false;
  if (all_linear) return true;
  if (target_regex) return regex_full_match(*target_regex, path, "target_modules");
  const std::vector<std::string>& list = target_modules.empty() ? default_target_modules(model_type) : target_modules;
  if (std::find(list.begin(), list.end(), path) != list.end()) return true;
  if (!list_match(list, path)) return false;
  if (layers_to_transform.empty()) return true;
  // The layer index: first "<pattern>.<digits>." (or any "<name>.<digits>." without a pattern).
  std::smatch m;
  bool found = false;
  if (layers_pattern.empty()) {
    found = std::regex_search(path, m, std::regex(R"(^.*\.[^.]*\.(\d+)\.)"));
  } else {
    for (const auto& p : layers_pattern) {
      std::regex re("^.*\\." + p + "\\.(\\d+)\\.");
      if (std::regex_search(path, m, re)) {
        found = true;
        break;
      }
    }
  }
  if (!found) return false;
  const int64_t idx = std::stoll(m[1].str());
  return std::find(layers_to_transform.begin(), layers_to_transform.end(), idx) != layers_to_transform.end();
}

namespace {
// PEFT's get_pattern_key: re.match(rf"(.*\.)?({key})$", path), first key that matches.
template <typename M>
const typename M::mapped_type* pattern_lookup(const M& patterns, const std::string& path, const char* what) {
  for (const auto& [key, v] : patterns)
    if (regex_full_match("(.*\\.)?(" + key + ")", path, what)) return &v;
  return nullptr;
}
}  // namespace

int64_t LoraConfig::rank_for(const std::string& path) const {
  const auto* v = pattern_lookup(rank_pattern, path, "rank_pattern");
  return v ? *v : r;
}

double LoraConfig::alpha_for(const std::string& path) const {
  const auto* v = pattern_lookup(alpha_pattern, path, "alpha_pattern");
  return v ? *v : lora_alpha;
}

double LoraConfig::scaling_for(const std::string& path) const {
  const double a = alpha_for(path);
  const double rr = (double)rank_for(path);
  return use_rslora ? a / std::sqrt(rr) : a / rr;
}

nlohmann::json LoraConfig::to_peft_json(const std::vector<std::string>& resolved_targets) const {
  using nlohmann::json;
  auto number = [](double v) -> json {
    if (std::floor(v) == v && std::abs(v) < 1e15) return (int64_t)v;
    return v;
  };
  json j = json::object();
  for (const auto& k : kMustBeNull) j[k] = nullptr;
  j["alpha_pattern"] = json::object();
  for (const auto& [k, v] : alpha_pattern) j["alpha_pattern"][k] = number(v);
  j["auto_mapping"] = nullptr;
  j["base_model_name_or_path"] = base_model_name_or_path.empty() ? json(nullptr) : json(base_model_name_or_path);
  j["bias"] = "none";
  j["ensure_weight_tying"] = false;
  if (exclude_regex) j["exclude_modules"] = *exclude_regex;
  else if (!exclude_modules.empty()) j["exclude_modules"] = exclude_modules;
  else j["exclude_modules"] = nullptr;
  j["fan_in_fan_out"] = false;
  j["inference_mode"] = true;
  switch (init_lora_weights) {
    case LoraInit::Kaiming: j["init_lora_weights"] = true; break;
    case LoraInit::Gaussian: j["init_lora_weights"] = "gaussian"; break;
    case LoraInit::LinearDefault: j["init_lora_weights"] = false; break;
  }
  j["layers_pattern"] = layers_pattern.empty() ? json(nullptr) : json(layers_pattern);
  j["layers_to_transform"] = layers_to_transform.empty() ? json(nullptr) : json(layers_to_transform);
  j["loftq_config"] = json::object();
  j["lora_alpha"] = number(lora_alpha);
  j["lora_bias"] = false;
  j["lora_dropout"] = lora_dropout;
  j["megatron_core"] = "megatron.core";
  j["modules_to_save"] = nullptr;
  j["peft_type"] = "LORA";
  j["peft_version"] = peft_version;
  j["qalora_group_size"] = 16;
  j["r"] = r;
  j["rank_pattern"] = json::object();
  for (const auto& [k, v] : rank_pattern) j["rank_pattern"][k] = v;
  j["revision"] = nullptr;
  if (all_linear) {
    std::vector<std::string> t = resolved_targets;
    std::sort(t.begin(), t.end());
    j["target_modules"] = t;
  } else if (target_regex) {
    j["target_modules"] = *target_regex;
  } else {
    j["target_modules"] = target_modules;
  }
  j["task_type"] = task_type;
  j["use_bdlora"] = nullptr;
  j["use_dora"] = use_dora;
  j["use_qalora"] = false;
  j["use_rslora"] = use_rslora;
  return j;
}

}  // namespace prospect::lora
