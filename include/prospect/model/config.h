#pragma once
// Model configuration parsed from a Hugging Face config.json (Qwen3, Qwen2/2.5, Llama), tolerant of
// the real variants: rope_theta vs rope_parameters, torch_dtype vs dtype, ints written as floats.
#include <nlohmann/json.hpp>
#include <cstdint>  // no LibTorch: the config parser is fuzzed on its own (fuzz/)

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace prospect::model {

struct RopeScaling {
  std::string type = "default";  // "default", "llama3", "yarn", "linear"
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;     // llama3
  int64_t original_max_position_embeddings = 0;              // llama3 / yarn
  std::optional<double> attention_factor, beta_fast, beta_slow, mscale, mscale_all_dim;  // yarn
  bool truncate = true;                                      // yarn
};

struct ModelConfig {
  std::string model_type = "qwen3";                 // qwen3 | qwen2 | llama
  std::vector<std::string> architectures{"Qwen3ForCausalLM"};
  int64_t vocab_size = 151936;                      // V
  int64_t hidden_size = 1024;                       // E
  int64_t intermediate_size = 3072;                 // F
  int64_t num_hidden_layers = 28;                   // L
  int64_t num_attention_heads = 16;                 // H
  int64_t num_key_value_heads = 8;                  // Hkv
  int64_t head_dim = 128;                           // D (explicit; never derive when given)
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 40960;
  double rope_theta = 1000000.0;
  RopeScaling rope_scaling;
  double rms_norm_eps = 1e-6;
  bool attention_bias = false;                      // q/k/v/o bias (Qwen2 forces q/k/v bias)
  bool qkv_bias = false;                            // resolved: q/k/v carry bias tensors
  bool o_bias = false;                              // resolved: o_proj carries a bias
  bool mlp_bias = false;
  bool qk_norm = true;                              // Qwen3: RMSNorm on q and k per head
  bool tie_word_embeddings = true;
  std::string torch_dtype = "bfloat16";
  std::optional<int64_t> bos_token_id, eos_token_id, pad_token_id;
  double initializer_range = 0.02;
  nlohmann::json raw;                               // the original JSON, to write back unchanged keys

  // Throws prospect::Error naming `source` (the file) for unknown model_type or bad fields.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& source = "config.json");
  static ModelConfig load(const std::filesystem::path& dir);   // dir/config.json
  // HF config.json content (raw keys preserved, known fields updated, dtype set to `dtype`).
  nlohmann::json to_json(const std::string& dtype) const;
  // Presets: "tiny", "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b".
  static ModelConfig preset(const std::string& name);

  int64_t q_width() const { return num_attention_heads * head_dim; }    // H*D
  int64_t kv_width() const { return num_key_value_heads * head_dim; }   // Hkv*D
};

}  // namespace prospect::model
