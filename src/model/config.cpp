#include "prospect/model/config.h"

#include <cmath>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"

namespace prospect::model {

namespace {

using json = nlohmann::json;

// Integers may be written as floats (1000000.0) by some writers.
std::optional<int64_t> opt_int(const json& j, const std::string& key, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  const auto& v = j[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9.2e18) return (int64_t)d;
  }
  throw Error(src, "'" + key + "' must be an integer (got " + v.dump() + ")");
}
int64_t get_int(const json& j, const std::string& key, int64_t def, const std::string& src) {
  auto v = opt_int(j, key, src);
  return v ? *v : def;
}
int64_t req_int(const json& j, const std::string& key, const std::string& src) {
  auto v = opt_int(j, key, src);
  if (!v) throw Error(src, "missing required integer '" + key + "'");
  if (*v <= 0) throw Error(src, "'" + key + "' must be positive (got " + std::to_string(*v) + ")");
  return *v;
}
std::optional<double> opt_num(const json& j, const std::string& key, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number()) throw Error(src, "'" + key + "' must be a number (got " + j[key].dump() + ")");
  return j[key].get<double>();
}
double get_num(const json& j, const std::string& key, double def, const std::string& src) {
  auto v = opt_num(j, key, src);
  return v ? *v : def;
}
bool get_bool(const json& j, const std::string& key, bool def, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) throw Error(src, "'" + key + "' must be true or false (got " + j[key].dump() + ")");
  return j[key].get<bool>();
}
// eos_token_id may be an int or a list (Llama 3); the config keeps the first.
std::optional<int64_t> token_id(const json& j, const std::string& key, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (j[key].is_array()) {
    if (j[key].empty()) return std::nullopt;
    json one = {{key, j[key][0]}};
    return opt_int(one, key, src);
  }
  return opt_int(j, key, src);
}

RopeScaling parse_rope(const json& r, const std::string& src) {
  RopeScaling s;
  if (r.is_null()) return s;
  if (!r.is_object()) throw Error(src, "rope scaling must be an object or null");
  std::string type = "default";
  if (r.contains("rope_type") && r["rope_type"].is_string()) type = r["rope_type"].get<std::string>();
  else if (r.contains("type") && r["type"].is_string()) type = r["type"].get<std::string>();
  if (type != "default" && type != "llama3" && type != "yarn" && type != "linear")
    throw Error(src, "unsupported rope type '" + type + "' (supported: default, linear, llama3, yarn)");
  s.type = type;
  s.factor = get_num(r, "factor", 1.0, src);
  s.low_freq_factor = get_num(r, "low_freq_factor", 1.0, src);
  s.high_freq_factor = get_num(r, "high_freq_factor", 4.0, src);
  s.original_max_position_embeddings = get_int(r, "original_max_position_embeddings", 0, src);
  s.attention_factor = opt_num(r, "attention_factor", src);
  s.beta_fast = opt_num(r, "beta_fast", src);
  s.beta_slow = opt_num(r, "beta_slow", src);
  s.mscale = opt_num(r, "mscale", src);
  s.mscale_all_dim = opt_num(r, "mscale_all_dim", src);
  s.truncate = get_bool(r, "truncate", true, src);
  return s;
}

json rope_to_json(const RopeScaling& s, double theta, bool with_theta) {
  json r = json::object();
  if (with_theta) r["rope_theta"] = theta;
  r["rope_type"] = s.type;
  if (s.type == "default") return r;
  r["factor"] = s.factor;
  if (s.type == "llama3") {
    r["low_freq_factor"] = s.low_freq_factor;
    r["high_freq_factor"] = s.high_freq_factor;
  }
  if (s.original_max_position_embeddings > 0)
    r["original_max_position_embeddings"] = s.original_max_position_embeddings;
  if (s.attention_factor) r["attention_factor"] = *s.attention_factor;
  if (s.beta_fast) r["beta_fast"] = *s.beta_fast;
  if (s.beta_slow) r["beta_slow"] = *s.beta_slow;
  if (s.mscale) r["mscale"] = *s.mscale;
  if (s.mscale_all_dim) r["mscale_all_dim"] = *s.mscale_all_dim;
  if (s.type == "yarn" && !s.truncate) r["truncate"] = false;
  return r;
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& j, const std::string& src) {
  if (!j.is_object()) throw Error(src, "config must be a JSON object");
  ModelConfig c;
  c.raw = j;
  std::string mt;
  if (j.contains("model_type") && j["model_type"].is_string()) {
    mt = j["model_type"].get<std::string>();
  } else if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
             j["architectures"][0].is_string()) {
    const std::string a = j["architectures"][0].get<std::string>();
    if (a == "Qwen3ForCausalLM") mt = "qwen3";
    else if (a == "Qwen2ForCausalLM") mt = "qwen2";
    else if (a == "LlamaForCausalLM") mt = "llama";
  }
  if (mt.empty()) throw Error(src, "missing 'model_type'");
  if (mt != "qwen3" && mt != "qwen2" && mt != "llama")
    throw Error(src, "unsupported model_type '" + mt + "' (supported: qwen3, qwen2, llama)");
  c.model_type = mt;
  c.architectures.clear();
  if (j.contains("architectures") && j["architectures"].is_array())
    for (const auto& a : j["architectures"])
      if (a.is_string()) c.architectures.push_back(a.get<std::string>());
  if (c.architectures.empty())
    c.architectures = {mt == "qwen3" ? "Qwen3ForCausalLM" : mt == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};

  c.vocab_size = req_int(j, "vocab_size", src);
  c.hidden_size = req_int(j, "hidden_size", src);
  c.intermediate_size = req_int(j, "intermediate_size", src);
  c.num_hidden_layers = req_int(j, "num_hidden_layers", src);
  c.num_attention_heads = req_int(j, "num_attention_heads", src);
  c.num_key_value_heads = get_int(j, "num_key_value_heads", c.num_attention_heads, src);
  if (c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads != 0)
    throw Error(src, "num_attention_heads (" + std::to_string(c.num_attention_heads) +
                         ") must be a positive multiple of num_key_value_heads (" +
                         std::to_string(c.num_key_value_heads) + ")");
  auto hd = opt_int(j, "head_dim", src);
  if (hd) {
    c.head_dim = *hd;
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      throw Error(src, "head_dim absent and hidden_size is not divisible by num_attention_heads");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) throw Error(src, "head_dim must be a positive even number");
  c.hidden_act = j.contains("hidden_act") && j["hidden_act"].is_string() ? j["hidden_act"].get<std::string>() : "silu";
  if (c.hidden_act != "silu" && c.hidden_act != "swish")
    throw Error(src, "unsupported hidden_act '" + c.hidden_act + "' (only silu)");
  c.max_position_embeddings = get_int(j, "max_position_embeddings", 40960, src);

  // RoPE: transformers v5 rope_parameters, or rope_theta + rope_scaling (v4).
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& rp = j["rope_parameters"];
    c.rope_theta = get_num(rp, "rope_theta", get_num(j, "rope_theta", 10000.0, src), src);
    c.rope_scaling = parse_rope(rp, src + ": rope_parameters");
  } else {
    c.rope_theta = get_num(j, "rope_theta", 10000.0, src);
    if (j.contains("rope_scaling")) c.rope_scaling = parse_rope(j["rope_scaling"], src + ": rope_scaling");
  }
  if (c.rope_scaling.original_max_position_embeddings == 0 &&
      (c.rope_scaling.type == "yarn" || c.rope_scaling.type == "llama3"))
    c.rope_scaling.original_max_position_embeddings = c.max_position_embeddings;
  if (!(c.rope_theta > 0)) throw Error(src, "rope_theta must be positive");

  c.rms_norm_eps = get_num(j, "rms_norm_eps", 1e-6, src);
  c.attention_bias = get_bool(j, "attention_bias", false, src);
  c.mlp_bias = get_bool(j, "mlp_bias", false, src);
  if (mt == "qwen3") {
    c.qkv_bias = c.attention_bias;
    c.o_bias = c.attention_bias;
    c.mlp_bias = false;
    c.qk_norm = true;
  } else if (mt == "qwen2") {
    c.qkv_bias = true;  // hard-coded in modeling_qwen2.py
    c.o_bias = false;
    c.mlp_bias = false;
    c.qk_norm = false;
  } else {  // llama
    c.qkv_bias = c.attention_bias;
    c.o_bias = c.attention_bias;
    c.qk_norm = false;
  }
  if (get_bool(j, "use_sliding_window", false, src))
    throw Error(src, "use_sliding_window=true is not supported (full attention only)");
  if (j.contains("layer_types") && j["layer_types"].is_array())
    for (const auto& lt : j["layer_types"])
      if (!lt.is_string() || lt.get<std::string>() != "full_attention")
        throw Error(src, "layer_types: only 'full_attention' is supported (got " + lt.dump() + ")");
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false, src);
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) c.torch_dtype = j["torch_dtype"].get<std::string>();
  else if (j.contains("dtype") && j["dtype"].is_string()) c.torch_dtype = j["dtype"].get<std::string>();
  else c.torch_dtype = "float32";
  c.bos_token_id = token_id(j, "bos_token_id", src);
  c.eos_token_id = token_id(j, "eos_token_id", src);
  c.pad_token_id = token_id(j, "pad_token_id", src);
  c.initializer_range = get_num(j, "initializer_range", 0.02, src);
  return c;
}

ModelConfig ModelConfig::load(const std::filesystem::path& dir) {
  const auto p = dir / "config.json";
  if (!std::filesystem::exists(dir)) throw Error(dir.string(), "model directory does not exist");
  if (!std::filesystem::is_directory(dir)) throw Error(dir.string(), "is not a model directory (a directory with config.json)");
  if (!std::filesystem::exists(p)) throw Error(p.string(), "missing config.json");
  return from_json(read_json_file(p), p.string());
}

json ModelConfig::to_json(const std::string& dtype) const {
  json j = raw.is_object() ? raw : json::object();
  j["architectures"] = architectures;
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["hidden_act"] = hidden_act;
  j["max_position_embeddings"] = max_position_embeddings;
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    j["rope_parameters"] = rope_to_json(rope_scaling, rope_theta, true);
  } else {
    j["rope_theta"] = rope_theta;
    j["rope_scaling"] = rope_scaling.type == "default" ? json(nullptr) : rope_to_json(rope_scaling, rope_theta, false);
  }
  j["rms_norm_eps"] = rms_norm_eps;
  j["attention_bias"] = attention_bias;
  if (model_type == "llama") j["mlp_bias"] = mlp_bias;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (j.contains("dtype") && !j.contains("torch_dtype")) j["dtype"] = dtype;
  else j["torch_dtype"] = dtype;
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  // A list (Llama 3) is kept as written; a single id is updated.
  if (eos_token_id && !(j.contains("eos_token_id") && j["eos_token_id"].is_array())) j["eos_token_id"] = *eos_token_id;
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  j["initializer_range"] = initializer_range;
  if (!j.contains("use_cache")) j["use_cache"] = true;
  if (model_type != "llama" && !j.contains("use_sliding_window")) j["use_sliding_window"] = false;
  return j;
}

ModelConfig ModelConfig::preset(const std::string& name) {
  ModelConfig c;
  c.model_type = "qwen3";
  c.architectures = {"Qwen3ForCausalLM"};
  c.vocab_size = 151936;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.max_position_embeddings = 40960;
  c.rope_theta = 1000000.0;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  c.torch_dtype = "bfloat16";
  c.bos_token_id = 151643;
  c.eos_token_id = 151645;
  c.qk_norm = true;
  if (name == "tiny") {
    c.hidden_size = 64;
    c.intermediate_size = 128;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 16;
  } else if (name == "qwen3-0.6b") {
    c.hidden_size = 1024, c.intermediate_size = 3072, c.num_hidden_layers = 28, c.num_attention_heads = 16;
  } else if (name == "qwen3-1.7b") {
    c.hidden_size = 2048, c.intermediate_size = 6144, c.num_hidden_layers = 28, c.num_attention_heads = 16;
  } else if (name == "qwen3-4b") {
    c.hidden_size = 2560, c.intermediate_size = 9728, c.num_hidden_layers = 36, c.num_attention_heads = 32;
  } else if (name == "qwen3-8b") {
    c.hidden_size = 4096, c.intermediate_size = 12288, c.num_hidden_layers = 36, c.num_attention_heads = 32;
    c.tie_word_embeddings = false;
  } else {
    throw Error("preset", "unknown preset '" + name + "' (expected tiny, qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b)");
  }
  c.raw = json::object();
  c.raw = c.to_json(c.torch_dtype);
  c.raw["attention_dropout"] = 0.0;
  c.raw["max_window_layers"] = c.num_hidden_layers;
  c.raw["sliding_window"] = nullptr;
  return c;
}

}  // namespace prospect::model
