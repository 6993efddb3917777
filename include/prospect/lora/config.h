#pragma once
// LoRA configuration with PEFT's field names and semantics (PEFT 0.20, reference §6.1), read from a
// recipe's JSON block (strict) or from a PEFT adapter_config.json (tolerant), and written as PEFT's
// adapter_config.json. Module matching follows peft.tuners.tuners_utils.check_target_module_exists.
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace prospect::lora {

// init_lora_weights: true -> Kaiming (A ~ U(±1/√in), B = 0); "gaussian" -> A ~ N(0, 1/r), B = 0;
// false -> nn.Linear's default for both (A ~ U(±1/√in), B ~ U(±1/√r): not a no-op, for debugging).
enum class LoraInit { Kaiming, Gaussian, LinearDefault };

struct LoraConfig {
  int64_t r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0.0;
  // target_modules: a list (entry t matches path k when k == t or k ends with "." + t), or a single
  // regex string that must fully match the path, or "all-linear" (every Linear but the LM head).
  // Empty list and no regex = PEFT's per-architecture default (q_proj, v_proj for qwen2/qwen3/llama).
  std::vector<std::string> target_modules;
  std::optional<std::string> target_regex;
  bool all_linear = false;
  std::vector<std::string> exclude_modules;  // same matching as target_modules (list form)
  std::optional<std::string> exclude_regex;
  bool use_rslora = false;  // s = α/√r instead of α/r
  bool use_dora = false;
  // Per-module overrides; key k matches path p when p fully matches "(.*\.)?(k)". First key in sorted
  // order wins (PEFT: first in dict order; JSON objects here are sorted).
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  LoraInit init_lora_weights = LoraInit::Kaiming;
  std::vector<int64_t> layers_to_transform;  // empty: all layers
  std::vector<std::string> layers_pattern;   // e.g. "layers"; empty: any "<name>.<idx>." segment
  std::string base_model_name_or_path;
  std::string task_type = "CAUSAL_LM";
  std::string peft_version = "0.20.0";       // written as PEFT would; informational

  // Strict parse of a recipe block (e.g. the "lora" object of a training config): unknown keys are
  // rejected with a "did you mean" error naming `source`. Accepts every PEFT field name; fields this
  // implementation does not support (bias != "none", fan_in_fan_out, modules_to_save, lora_bias,
  // init methods other than true/false/"gaussian", ...) are clear errors.
  static LoraConfig from_json(const nlohmann::json& j, const std::string& source = "lora");
  // Tolerant parse of a PEFT adapter_config.json: unknown keys are ignored with a warning (as PEFT
  // ≥ 0.14 does), null-valued PEFT fields are accepted, unsupported values are still errors.
  static LoraConfig from_peft_json(const nlohmann::json& j, const std::string& source = "adapter_config.json");
  // PEFT's adapter_config.json content (keys sorted on dump; inference_mode true). `resolved_targets`
  // are the module paths the adapter was applied to: when all_linear they are written as the target
  // list (PEFT ≥ 0.15), otherwise target_modules/target_regex are written as given.
  nlohmann::json to_peft_json(const std::vector<std::string>& resolved_targets = {}) const;

  // Matching and per-module hyper-parameters (module path as "model.layers.0.self_attn.q_proj").
  bool excluded(const std::string& path) const;
  // Whether the path is targeted, given the model's linear paths (needed for the default targets).
  bool targets(const std::string& path, const std::string& model_type = "qwen3") const;
  int64_t rank_for(const std::string& path) const;
  double alpha_for(const std::string& path) const;
  double scaling_for(const std::string& path) const;  // alpha/r or alpha/√r
};

// PEFT's default target modules for a model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
std::vector<std::string> default_target_modules(const std::string& model_type);

}  // namespace prospect::lora
