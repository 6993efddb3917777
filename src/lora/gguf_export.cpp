#include "prospect/io/gguf_writer.h"
#include "prospect/lora/gguf_export.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "prospect/core/error.h"
#include "prospect/io/checkpoint.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/lora/export.h"
#include "prospect/lora/merge.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/logprobs.h"

namespace prospect::lora {
namespace fs = std::filesystem;
using io::GgmlType;

namespace {

// Tensors in llama.cpp's usual file order: token_embd, blk.0 ... blk.L-1, output_norm, output.
int64_t order_key(const std::string& gguf_name, int64_t n_layers) {
  if (gguf_name == "token_embd.weight") return -1;
  const int64_t l = model::gguf_layer_of(gguf_name);
  return l >= 0 ? l : n_layers + (gguf_name == "output.weight");
}

std::vector<int64_t> reversed(const std::vector<int64_t>& v) { return {v.rbegin(), v.rend()}; }

// The source of a tensor's values: llama's q/k permutation applied where the converter applies it.
torch::Tensor converted(const model::ModelConfig& c, const std::string& hf, torch::Tensor t) {
  if (!model::gguf_permutes_qk(c)) return t;
  if (hf.find(".self_attn.q_proj.") != std::string::npos) return model::llama_permute_rows(t, c.num_attention_heads);
  if (hf.find(".self_attn.k_proj.") != std::string::npos) return model::llama_permute_rows(t, c.num_key_value_heads);
  return t;
}

std::string default_name(const fs::path& dir) {
  auto p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

nlohmann::json export_gguf(const GgufExportOptions& o, const fs::path& out_file) {
  const auto cfg = model::ModelConfig::load(o.model_dir);
  const fs::path tok_dir = o.tokenizer_dir ? *o.tokenizer_dir : o.model_dir;
  auto kv = model::gguf_model_metadata(cfg, o.name.empty() ? default_name(o.model_dir) : o.name, o.dtype);
  for (auto& e : model::gguf_tokenizer_metadata(tok_dir, cfg)) kv.push_back(std::move(e));

  nlohmann::json summary;
  // Expected tensors and shapes from the architecture (parameters are not initialised: no memory).
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  {
    model::CausalLM shape_model(cfg);
    for (auto& [n, t] : shape_model->hf_state()) expected.emplace_back(n, t.sizes().vec());
  }

  // Where values come from: the memory-mapped checkpoint (zero-copy), or the merged fp32 model.
  std::optional<io::TensorStore> store;
  std::map<std::string, torch::Tensor> merged_state;
  if (o.adapter_dir) {
    auto m = model::load_model(o.model_dir, torch::kFloat32, o.device);
    m->eval();
    load_adapter(m, *o.adapter_dir, "default", /*trainable=*/false, torch::kFloat32);
    const auto ids = probe_ids(cfg.vocab_size, 3, 16);
    torch::NoGradGuard ng;
    const auto ref = model::token_logprobs(m, ids.to(m->device())).to(torch::kCPU);
    summary["merged_modules"] = merge_into(m, "default");
    const auto got = model::token_logprobs(m, ids.to(m->device())).to(torch::kCPU);
    const double d = (ref - got).abs().max().item<double>();
    summary["max_abs_logprob_diff_f32"] = std::isfinite(d) ? nlohmann::json(d) : nlohmann::json(nullptr);
    if (!(d <= o.tolerance_f32))
      throw Error("merge verification", "fp32 merge: max |log p(adapter) - log p(merged)| = " + std::to_string(d) +
                                            " exceeds " + std::to_string(o.tolerance_f32) + "; nothing written");
    for (auto& [n, t] : m->hf_state()) merged_state[n] = t.detach();
  } else {
    store = io::TensorStore::open(o.model_dir);
    for (const auto& [n, shape] : expected) {
      check(store->contains(n), o.model_dir.string(), "missing tensor '" + n + "'");
      check(store->info(n).shape == shape, n, "shape does not match config.json");
    }
  }

  std::vector<io::GgufTensorSpec> specs;
  std::map<std::string, int64_t> type_counts;
  for (const auto& [hf, shape] : expected) {
    if (hf == "lm_head.weight" && cfg.tie_word_embeddings) continue;  // llama.cpp reuses token_embd
    io::GgufTensorSpec s;
    s.name = model::gguf_tensor_name(hf);
    s.ne = reversed(shape);
    s.type = model::gguf_tensor_type(o.dtype, s.name, s.ne, cfg.num_hidden_layers, cfg.tie_word_embeddings);
    const std::string key = hf;
    if (store) {
      const io::TensorStore* st = &*store;
      s.load = [st, key, &cfg] { return converted(cfg, key, st->get(key)); };
    } else {
      torch::Tensor t = merged_state.at(key);
      s.load = [t, key, &cfg] { return converted(cfg, key, t.to(torch::kCPU)); };
    }
    type_counts[io::ggml_type_name(s.type)]++;
    specs.push_back(std::move(s));
  }
  std::stable_sort(specs.begin(), specs.end(), [&](const auto& a, const auto& b) {
    return order_key(a.name, cfg.num_hidden_layers) < order_key(b.name, cfg.num_hidden_layers);
  });

  const auto st = io::write_gguf(out_file, kv, specs);
  summary["out"] = out_file.string();
  summary["format"] = "gguf";
  summary["architecture"] = model::gguf_arch(cfg);
  summary["dtype"] = model::gguf_dtype_name(o.dtype);
  summary["file_type"] = model::gguf_file_type(o.dtype);
  summary["adapter"] = o.adapter_dir ? nlohmann::json(o.adapter_dir->string()) : nlohmann::json(nullptr);
  summary["tensors"] = specs.size();
  summary["tensor_types"] = type_counts;
  summary["bytes"] = st.bytes;
  summary["seconds"] = st.seconds;
  summary["mb_per_s"] = st.seconds > 0 ? (double)st.bytes / 1e6 / st.seconds : 0.0;
  return summary;
}

nlohmann::json export_gguf_lora(const GgufLoraOptions& o, const fs::path& out_file) {
  check(o.type == GgmlType::F32 || o.type == GgmlType::F16 || o.type == GgmlType::BF16, "--dtype",
        "a LoRA GGUF stores f32, f16 or bf16");
  const auto cfg = model::ModelConfig::load(o.model_dir);
  const auto lc = read_adapter_config(o.adapter_dir);
  check(!lc.use_dora, o.adapter_dir.string(), "DoRA adapters cannot be written as llama.cpp LoRA GGUF (merge them instead)");
  const auto store = io::TensorStore::open(o.adapter_dir, "adapter_model");

  std::map<std::string, std::vector<int64_t>> base_shapes;
  {
    model::CausalLM shape_model(cfg);
    for (auto& [n, t] : shape_model->hf_state()) base_shapes[n] = t.sizes().vec();
  }
  // Pair up lora_A / lora_B per module path ("model.layers.0.self_attn.q_proj").
  std::map<std::string, std::pair<std::string, std::string>> pairs;
  for (const auto& key : store.names()) {
    std::string k = key;
    const std::string prefix = "base_model.model.";
    if (k.rfind(prefix, 0) == 0) k = k.substr(prefix.size());
    auto pos = k.find(".lora_A.");
    const bool is_a = pos != std::string::npos;
    if (!is_a) pos = k.find(".lora_B.");
    check(pos != std::string::npos, key, "not a LoRA A/B tensor (DoRA magnitudes, embeddings and modules_to_save are not supported in LoRA GGUF)");
    auto& p = pairs[k.substr(0, pos)];
    (is_a ? p.first : p.second) = key;
  }
  check(!pairs.empty(), o.adapter_dir.string(), "the adapter has no LoRA tensors");

  std::vector<io::GgufTensorSpec> specs;
  const double alpha = lc.lora_alpha;
  for (const auto& [path, ab] : pairs) {
    check(!ab.first.empty() && !ab.second.empty(), path, "adapter has only one of lora_A / lora_B");
    const std::string hf_weight = path + ".weight";
    auto bs = base_shapes.find(hf_weight);
    check(bs != base_shapes.end() && bs->second.size() == 2, path, "the base model has no such Linear");
    const auto& ia = store.info(ab.first);
    const auto& ib = store.info(ab.second);
    const int64_t r = ia.shape[0];
    check(ia.shape.size() == 2 && ib.shape.size() == 2 && ia.shape[1] == bs->second[1] && ib.shape[0] == bs->second[0] &&
              ib.shape[1] == r,
          path, "lora_A/lora_B shapes do not match the base weight");
    // llama.cpp applies alpha / r with r = lora_b's ne[0]; fold any other PEFT scaling into lora_b.
    const double fold = lc.scaling_for(path) * (double)r / alpha;
    const std::string base = model::gguf_tensor_name(hf_weight);
    io::GgufTensorSpec a{base + ".lora_a", reversed(ia.shape), o.type, nullptr};
    const io::TensorStore* st = &store;
    const std::string ka = ab.first, kb = ab.second;
    a.load = [st, ka] { return st->get(ka); };
    io::GgufTensorSpec b{base + ".lora_b", reversed(ib.shape), o.type, nullptr};
    b.load = [st, kb, fold, path, &cfg] {
      torch::Tensor t = st->get(kb).to(torch::kFloat32);
      if (std::fabs(fold - 1.0) > 0) t = t * fold;
      return converted(cfg, path + ".weight", t);  // the permutation acts on output rows: lora_b only
    };
    specs.push_back(std::move(a));
    specs.push_back(std::move(b));
  }
  std::stable_sort(specs.begin(), specs.end(), [&](const auto& x, const auto& y) {
    return order_key(x.name, cfg.num_hidden_layers) < order_key(y.name, cfg.num_hidden_layers);
  });

  io::GgufMetadata kv;
  kv.emplace_back("general.architecture", io::GgufValue::str(model::gguf_arch(cfg)));
  kv.emplace_back("general.type", io::GgufValue::str("adapter"));
  kv.emplace_back("general.name", io::GgufValue::str(o.name.empty() ? default_name(o.adapter_dir) : o.name));
  kv.emplace_back("general.file_type", io::GgufValue::u32(o.type == GgmlType::F32 ? 0 : o.type == GgmlType::F16 ? 1 : 32));
  kv.emplace_back("general.quantization_version", io::GgufValue::u32(2));
  kv.emplace_back("adapter.type", io::GgufValue::str("lora"));
  kv.emplace_back("adapter.lora.alpha", io::GgufValue::f32(alpha));

  const auto stats = io::write_gguf(out_file, kv, specs);
  nlohmann::json summary;
  summary["out"] = out_file.string();
  summary["format"] = "gguf-lora";
  summary["architecture"] = model::gguf_arch(cfg);
  summary["adapter"] = o.adapter_dir.string();
  summary["modules"] = pairs.size();
  summary["lora_alpha"] = alpha;
  summary["tensors"] = specs.size();
  summary["bytes"] = stats.bytes;
  return summary;
}

}  // namespace prospect::lora
