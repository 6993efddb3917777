#include "prospect/model/gguf_map.h"

#include <map>
#include <regex>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"

namespace prospect::model {

using io::GgmlType;
using io::GgufMetadata;
using io::GgufValue;

GgufDtype parse_gguf_dtype(const std::string& s) {
  if (s == "f32") return GgufDtype::F32;
  if (s == "f16") return GgufDtype::F16;
  if (s == "bf16") return GgufDtype::BF16;
  if (s == "q8_0") return GgufDtype::Q8_0;
  if (s == "q4_k_m") return GgufDtype::Q4_K_M;
  throw Error("--dtype", "unknown GGUF dtype '" + s + "' (expected f32, f16, bf16, q8_0 or q4_k_m)");
}

std::string gguf_dtype_name(GgufDtype d) {
  switch (d) {
    case GgufDtype::F32: return "f32";
    case GgufDtype::F16: return "f16";
    case GgufDtype::BF16: return "bf16";
    case GgufDtype::Q8_0: return "q8_0";
    case GgufDtype::Q4_K_M: return "q4_k_m";
  }
  return "?";
}

uint32_t gguf_file_type(GgufDtype d) {
  switch (d) {  // llama_ftype (llama.h)
    case GgufDtype::F32: return 0;
    case GgufDtype::F16: return 1;
    case GgufDtype::BF16: return 32;
    case GgufDtype::Q8_0: return 7;
    case GgufDtype::Q4_K_M: return 15;
  }
  return 0;
}

std::string gguf_arch(const ModelConfig& c) { return c.model_type; }

std::string gguf_tensor_name(const std::string& hf) {
  static const std::map<std::string, std::string> top = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  static const std::map<std::string, std::string> layer = {
      {"input_layernorm", "attn_norm"},       {"self_attn.q_proj", "attn_q"},
      {"self_attn.k_proj", "attn_k"},         {"self_attn.v_proj", "attn_v"},
      {"self_attn.o_proj", "attn_output"},    {"self_attn.q_norm", "attn_q_norm"},
      {"self_attn.k_norm", "attn_k_norm"},    {"post_attention_layernorm", "ffn_norm"},
      {"mlp.gate_proj", "ffn_gate"},          {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  if (auto it = top.find(hf); it != top.end()) return it->second;
  static const std::regex re(R"(^model\.layers\.(\d+)\.(.+)\.(weight|bias)$)");
  std::smatch m;
  if (std::regex_match(hf, m, re)) {
    if (auto it = layer.find(m[2].str()); it != layer.end()) return "blk." + m[1].str() + "." + it->second + "." + m[3].str();
  }
  throw Error(hf, "no GGUF name for this tensor (supported: the Qwen3/Qwen2/Llama decoder tensors)");
}

int64_t gguf_layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::stoll(name.substr(4, name.find('.', 4) - 4));
}

bool gguf_permutes_qk(const ModelConfig& c) { return c.model_type == "llama"; }

torch::Tensor llama_permute_rows(const torch::Tensor& w, int64_t n_head) {
  const int64_t rows = w.size(0);
  check(rows % (2 * n_head) == 0, "llama q/k permutation",
        "rows " + std::to_string(rows) + " not divisible by 2 x " + std::to_string(n_head) + " heads");
  std::vector<int64_t> shape{n_head, 2, rows / n_head / 2};
  for (int64_t d = 1; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes()).contiguous();
}

GgufMetadata gguf_model_metadata(const ModelConfig& c, const std::string& name, GgufDtype dtype) {
  const std::string a = gguf_arch(c);
  GgufMetadata kv;
  kv.emplace_back("general.architecture", GgufValue::str(a));
  kv.emplace_back("general.type", GgufValue::str("model"));
  if (!name.empty()) kv.emplace_back("general.name", GgufValue::str(name));
  kv.emplace_back("general.file_type", GgufValue::u32(gguf_file_type(dtype)));
  kv.emplace_back("general.quantization_version", GgufValue::u32(2));  // GGML_QNT_VERSION
  kv.emplace_back(a + ".block_count", GgufValue::u32(c.num_hidden_layers));
  kv.emplace_back(a + ".context_length", GgufValue::u32(c.max_position_embeddings));
  kv.emplace_back(a + ".embedding_length", GgufValue::u32(c.hidden_size));
  kv.emplace_back(a + ".feed_forward_length", GgufValue::u32(c.intermediate_size));
  kv.emplace_back(a + ".attention.head_count", GgufValue::u32(c.num_attention_heads));
  kv.emplace_back(a + ".attention.head_count_kv", GgufValue::u32(c.num_key_value_heads));
  kv.emplace_back(a + ".rope.freq_base", GgufValue::f32(c.rope_theta));
  kv.emplace_back(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(c.rms_norm_eps));
  // Qwen3's head_dim (128) is not hidden/heads (64 for 0.6B): always explicit.
  kv.emplace_back(a + ".attention.key_length", GgufValue::u32(c.head_dim));
  kv.emplace_back(a + ".attention.value_length", GgufValue::u32(c.head_dim));
  if (a == "llama") {
    kv.emplace_back(a + ".vocab_size", GgufValue::u32(c.vocab_size));
    kv.emplace_back(a + ".rope.dimension_count", GgufValue::u32(c.head_dim));
  }
  const auto& rs = c.rope_scaling;
  if (rs.type == "linear" || rs.type == "yarn") {
    kv.emplace_back(a + ".rope.scaling.type", GgufValue::str(rs.type));
    kv.emplace_back(a + ".rope.scaling.factor", GgufValue::f32(rs.factor));
    if (rs.type == "yarn")
      kv.emplace_back(a + ".rope.scaling.original_context_length", GgufValue::u32(rs.original_max_position_embeddings));
  } else if (rs.type != "default") {
    throw Error("config.json", "rope_scaling type '" + rs.type + "' is not supported by the GGUF export (default, linear, yarn)");
  }
  return kv;
}

namespace {

enum TokenType : int32_t { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

// convert_hf_to_gguf.py's does_token_look_special: added tokens some models forget to mark special.
bool looks_special(const std::string& t) {
  auto ends = [&](const std::string& s) { return t.size() >= s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0; };
  auto starts = [&](const std::string& s) { return t.rfind(s, 0) == 0; };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || (starts("<|") && ends("|>")) ||
         (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) || (starts("<unused") && ends(">"));
}

// The Split regexes of the byte-level BPE pre-tokenizers llama.cpp knows, by its `pre` name.
std::string detect_pre(const nlohmann::json& tj, const std::string& file) {
  static const std::vector<std::pair<std::string, std::string>> known = {
      {"qwen2", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
      {"llama-bpe", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
  };
  const auto& pre = tj.value("pre_tokenizer", nlohmann::json());
  std::vector<nlohmann::json> parts;
  if (pre.is_object() && pre.value("type", "") == "Sequence") {
    for (const auto& p : pre.value("pretokenizers", nlohmann::json::array())) parts.push_back(p);
  } else if (pre.is_object()) {
    parts.push_back(pre);
  }
  for (const auto& p : parts) {
    if (p.value("type", "") == "Split" && p.contains("pattern") && p["pattern"].contains("Regex")) {
      const std::string rx = p["pattern"]["Regex"].get<std::string>();
      for (const auto& [name, r] : known)
        if (rx == r) return name;
      throw Error(file, "pre-tokenizer regex not known to llama.cpp's GGUF loader (supported: Qwen2/Qwen3, Llama 3)");
    }
    if (p.value("type", "") == "ByteLevel" && p.value("use_regex", true)) return "gpt-2";
  }
  throw Error(file, "no byte-level BPE pre-tokenizer found (the GGUF export supports GPT-2 style BPE tokenizers)");
}

int64_t added_id(const nlohmann::json& added, const nlohmann::json& entry) {
  std::string content;
  if (entry.is_string()) content = entry.get<std::string>();
  else if (entry.is_object() && entry.contains("content") && entry["content"].is_string()) content = entry["content"].get<std::string>();
  else return -1;
  for (const auto& a : added)
    if (a.value("content", "") == content) return a.value("id", (int64_t)-1);
  return -1;
}

std::string encode_merge_part(const std::string& s) {
  std::string out;
  for (char ch : s) out += ch == ' ' ? std::string("\xC4\xA0") : std::string(1, ch);  // ' ' -> U+0120 'Ġ'
  return out;
}

}  // namespace

GgufMetadata gguf_tokenizer_metadata(const fs::path& dir, const ModelConfig& c) {
  const fs::path tfile = dir / "tokenizer.json";
  check(fs::is_regular_file(tfile), tfile.string(),
        "not found: the GGUF export needs the model's tokenizer.json (give --tokenizer DIR)");
  const auto tj = read_json_file(tfile);
  const std::string tf = tfile.string();
  check(tj.contains("model") && tj["model"].value("type", "") == "BPE" && !tj["model"].value("byte_fallback", false),
        tf, "only byte-level BPE tokenizers (Qwen, Llama 3, GPT-2) can be written to GGUF");
  check(tj["model"].contains("vocab") && tj["model"]["vocab"].is_object(), tf, "model.vocab missing");
  const int64_t V = c.vocab_size;
  std::vector<std::string> tokens(V);
  std::vector<int32_t> types(V, UNUSED);
  std::vector<bool> seen(V, false);
  for (const auto& [tok, idj] : tj["model"]["vocab"].items()) {
    check(idj.is_number_integer(), tf, "token '" + tok + "' has a non-integer id " + idj.dump());
    const int64_t id = idj.get<int64_t>();
    check(id >= 0 && id < V, tf, "token '" + tok + "' has id " + std::to_string(id) + " outside the model's vocab_size " + std::to_string(V));
    tokens[id] = tok, types[id] = NORMAL, seen[id] = true;
  }
  const auto added = tj.value("added_tokens", nlohmann::json::array());
  for (const auto& a : added) {
    const int64_t id = a.value("id", (int64_t)-1);
    std::string tok = a.value("content", "");
    check(id >= 0 && id < V, tf, "added token '" + tok + "' has id " + std::to_string(id) + " outside vocab_size " + std::to_string(V));
    if (a.value("special", false) || looks_special(tok)) {
      types[id] = CONTROL;
    } else {
      // llama.cpp treats user-defined tokens as already normalised: SentencePiece's '▁' is a space.
      for (size_t p; (p = tok.find("\xE2\x96\x81")) != std::string::npos;) tok.replace(p, 3, " ");
      types[id] = USER_DEFINED;
    }
    tokens[id] = tok, seen[id] = true;
  }
  for (int64_t i = 0; i < V; ++i)
    if (!seen[i]) tokens[i] = "[PAD" + std::to_string(i) + "]";

  std::vector<std::string> merges;
  for (const auto& m : tj["model"].value("merges", nlohmann::json::array())) {
    if (m.is_string()) {
      merges.push_back(m.get<std::string>());
    } else {
      check(m.is_array() && m.size() == 2, tf, "unknown merges format");
      merges.push_back(encode_merge_part(m[0].get<std::string>()) + " " + encode_merge_part(m[1].get<std::string>()));
    }
  }

  GgufMetadata kv;
  kv.emplace_back("tokenizer.ggml.model", GgufValue::str("gpt2"));
  kv.emplace_back("tokenizer.ggml.pre", GgufValue::str(detect_pre(tj, tf)));
  kv.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(tokens));
  kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32s(types));
  kv.emplace_back("tokenizer.ggml.merges", GgufValue::strings(merges));

  // Special ids as gguf-py's SpecialVocab: tokenizer_config.json's <typ>_token (matched against
  // tokenizer.json's added tokens) first, then config.json's <typ>_token_id for those still unset.
  nlohmann::json tc = nlohmann::json::object();
  if (fs::is_regular_file(dir / "tokenizer_config.json")) tc = read_json_file(dir / "tokenizer_config.json");
  std::map<std::string, bool> add_flags;
  if (const auto& pp = tj.value("post_processor", nlohmann::json()); pp.is_object()) {
    auto procs = pp.value("type", "") == "Sequence" ? pp.value("processors", nlohmann::json::array()) : nlohmann::json::array({pp});
    for (const auto& p : procs)
      if (p.value("type", "") == "TemplateProcessing" && p.value("single", nlohmann::json::array()).size() > 1 &&
          p["single"][0].contains("SpecialToken"))
        add_flags["bos"] = true;
  }
  static const std::vector<std::pair<std::string, std::string>> types_keys = {
      {"bos", "bos_token_id"}, {"eos", "eos_token_id"},       {"unk", "unknown_token_id"}, {"sep", "seperator_token_id"},
      {"pad", "padding_token_id"}, {"cls", "cls_token_id"}, {"mask", "mask_token_id"}};
  std::map<std::string, int64_t> ids;
  for (const auto& [typ, key] : types_keys) {
    if (tc.contains("add_" + typ + "_token") && tc["add_" + typ + "_token"].is_boolean())
      add_flags[typ] = tc["add_" + typ + "_token"].get<bool>();
    if (tc.contains(typ + "_token")) {
      const int64_t id = added_id(added, tc[typ + "_token"]);
      if (id >= 0 && id < V) ids[typ] = id;
    }
  }
  const auto& raw = c.raw;
  for (const auto& [typ, key] : types_keys) {
    const std::string k = typ + "_token_id";
    if (!ids.count(typ) && raw.contains(k) && raw[k].is_number_integer()) {
      const int64_t id = raw[k].get<int64_t>();
      if (id >= 0 && id < V) ids[typ] = id;
    }
  }
  for (const auto& [typ, key] : types_keys)
    if (ids.count(typ)) kv.emplace_back("tokenizer.ggml." + key, GgufValue::u32((uint64_t)ids[typ]));
  for (const auto& typ : {"bos", "eos", "sep"})
    if (add_flags.count(typ)) kv.emplace_back(std::string("tokenizer.ggml.add_") + typ + "_token", GgufValue::boolean(add_flags[typ]));

  // Chat template: tokenizer_config.json's chat_template wins over chat_template.jinja (as gguf-py).
  nlohmann::json tmpl = tc.value("chat_template", nlohmann::json());
  if (tmpl.is_null() && fs::is_regular_file(dir / "chat_template.jinja")) tmpl = read_text_file(dir / "chat_template.jinja");
  if (tmpl.is_string()) {
    kv.emplace_back("tokenizer.chat_template", GgufValue::str(tmpl.get<std::string>()));
  } else if (tmpl.is_array()) {
    std::vector<std::string> names;
    for (const auto& t : tmpl) {
      const std::string n = t.value("name", ""), body = t.value("template", "");
      if (n == "default") kv.emplace_back("tokenizer.chat_template", GgufValue::str(body));
      else if (!n.empty()) kv.emplace_back("tokenizer.chat_template." + n, GgufValue::str(body)), names.push_back(n);
    }
    if (!names.empty()) kv.emplace_back("tokenizer.chat_templates", GgufValue::strings(names));
  }
  return kv;
}

GgmlType gguf_tensor_type(GgufDtype d, const std::string& name, const std::vector<int64_t>& ne, int64_t n_layers,
                          bool tied) {
  const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
  if (ne.size() < 2 || !weight || name.find("_norm.weight") != std::string::npos) return GgmlType::F32;
  const int64_t ne0 = ne[0];
  switch (d) {
    case GgufDtype::F32: return GgmlType::F32;
    case GgufDtype::F16: return GgmlType::F16;
    case GgufDtype::BF16: return GgmlType::BF16;
    case GgufDtype::Q8_0: return ne0 % 32 == 0 ? GgmlType::Q8_0 : GgmlType::F16;  // gguf-py's QuantError fallback
    case GgufDtype::Q4_K_M: break;
  }
  // llama_tensor_get_type for LLAMA_FTYPE_MOSTLY_Q4_K_M (no imatrix, no overrides).
  auto more_bits = [](int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; };
  GgmlType t = GgmlType::Q4_K;
  const int64_t layer = gguf_layer_of(name);
  const bool is_output = name == "output.weight" || (tied && name == "token_embd.weight");
  if (is_output) {
    t = ne0 % 256 != 0 ? GgmlType::Q8_0 : GgmlType::Q6_K;
  } else if (name.find(".attn_v.weight") != std::string::npos) {
    if (more_bits(layer, n_layers)) t = GgmlType::Q6_K;
  } else if (name.find(".ffn_down.weight") != std::string::npos) {
    if (more_bits(layer, n_layers)) t = GgmlType::Q6_K;
  }
  // tensor_type_fallback: rows that a 256-block type cannot hold.
  const auto* info = io::ggml_type_info((uint32_t)t);
  if (ne0 % info->block != 0) {
    t = t == GgmlType::Q4_K ? GgmlType::Q5_0 : t == GgmlType::Q6_K ? GgmlType::Q8_0 : t;
    if (ne0 % io::ggml_type_info((uint32_t)t)->block != 0) t = GgmlType::F16;
  }
  return t;
}

}  // namespace prospect::model
