// `prospect inspect DIR`: architecture, parameter count, dtypes and a tensor summary of a checkpoint,
// as JSON on stdout. Also reports whether the tensors match what config.json implies.
// `prospect inspect FILE.gguf`: a GGUF file's metadata (long arrays shortened) and tensors.
#include <iostream>
#include <regex>
#include <set>

#include "command.h"
#include "hub_option.h"
#include "prospect/core/error.h"
#include "prospect/io/checkpoint.h"
#include "prospect/io/gguf.h"
#include "prospect/model/causal_lm.h"

namespace {

int run_inspect_gguf(const std::string& file) {
  using namespace prospect;
  const auto g = io::GgufFile::open(file);
  nlohmann::ordered_json r;
  r["file"] = file;
  r["format"] = "gguf";
  r["version"] = g.version();
  r["alignment"] = g.alignment();
  nlohmann::ordered_json md = nlohmann::ordered_json::object();
  for (const auto& [k, v] : g.metadata()) {
    if (v.type == io::GgufType::ARRAY) {
      nlohmann::ordered_json head = nlohmann::ordered_json::array();
      for (size_t i = 0; i < std::min<size_t>(v.value.size(), 8); ++i) head.push_back(nlohmann::ordered_json(v.value[i]));
      md[k] = {{"type", "array[" + io::gguf_type_name(v.elem) + "]"}, {"length", v.value.size()}, {"head", head}};
    } else {
      md[k] = {{"type", io::gguf_type_name(v.type)}, {"value", nlohmann::ordered_json(v.value)}};
    }
  }
  r["metadata"] = md;
  nlohmann::ordered_json ts = nlohmann::ordered_json::array();
  std::map<std::string, int64_t> counts;
  uint64_t bytes = 0;
  for (const auto& t : g.tensors()) {
    ts.push_back({{"name", t.name}, {"type", io::ggml_type_name(t.type)}, {"ne", t.ne}, {"offset", t.offset}, {"bytes", t.nbytes}});
    counts[io::ggml_type_name(t.type)]++;
    bytes += t.nbytes;
  }
  r["num_tensors"] = g.tensors().size();
  r["tensor_types"] = counts;
  r["tensor_bytes"] = bytes;
  r["tensors"] = ts;
  std::cout << r.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

int run_inspect(const std::string& dir_s) {
  using namespace prospect;
  namespace fs = std::filesystem;
  if (fs::is_regular_file(dir_s)) return run_inspect_gguf(dir_s);
  const fs::path dir(dir_s);
  auto config = model::ModelConfig::load(dir);
  auto store = io::TensorStore::open(dir);

  // Tensor summary: per layer-generic name ("model.layers.*.mlp.up_proj.weight") its count, shape, dtype.
  static const std::regex layer_re(R"(^model\.layers\.\d+\.)");
  nlohmann::ordered_json groups = nlohmann::ordered_json::object();
  std::map<std::string, int64_t> dtype_counts;
  std::set<std::string> files;
  uint64_t bytes = 0;
  int64_t stored_params = 0;
  for (const auto& name : store.names()) {
    const auto& ti = store.info(name);
    const std::string key = std::regex_replace(name, layer_re, "model.layers.*.");
    int64_t numel = 1;
    for (auto d : ti.shape) numel *= d;
    stored_params += numel;
    bytes += ti.end - ti.begin;
    dtype_counts[ti.dtype]++;
    auto& g = groups[key];
    if (g.is_null()) g = {{"count", 0}, {"shape", ti.shape}, {"dtype", ti.dtype}};
    g["count"] = g["count"].get<int64_t>() + 1;
    if (g["shape"] != nlohmann::ordered_json(ti.shape)) g["shape"] = "varies";
  }
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") files.insert(e.path().filename().string());

  // Which tensors the model expects (parameters are allocated lazily: no memory is touched).
  model::CausalLM m(config);
  std::set<std::string> expected;
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, t] : m->hf_state()) {
    expected.insert(name);
    if (!store.contains(name)) missing.push_back(name);
  }
  for (const auto& name : store.names())
    if (!expected.count(name) && !(name == "lm_head.weight" && config.tie_word_embeddings)) unexpected.push_back(name);

  nlohmann::ordered_json r;
  r["dir"] = dir.string();
  r["architecture"] = config.architectures.empty() ? "" : config.architectures[0];
  r["model_type"] = config.model_type;
  r["parameters"] = m->num_parameters();
  r["stored_parameters"] = stored_params;
  r["stored_bytes"] = bytes;
  r["config_dtype"] = config.torch_dtype;
  r["dtypes"] = dtype_counts;
  r["files"] = files;
  r["config"] = {{"vocab_size", config.vocab_size},
                 {"hidden_size", config.hidden_size},
                 {"intermediate_size", config.intermediate_size},
                 {"num_hidden_layers", config.num_hidden_layers},
                 {"num_attention_heads", config.num_attention_heads},
                 {"num_key_value_heads", config.num_key_value_heads},
                 {"head_dim", config.head_dim},
                 {"rope_theta", config.rope_theta},
                 {"rope_type", config.rope_scaling.type},
                 {"rms_norm_eps", config.rms_norm_eps},
                 {"tie_word_embeddings", config.tie_word_embeddings},
                 {"qk_norm", config.qk_norm},
                 {"qkv_bias", config.qkv_bias}};
  r["num_tensors"] = store.names().size();
  r["tensors"] = groups;
  r["matches_config"] = missing.empty() && unexpected.empty();
  if (!missing.empty()) r["missing"] = missing;
  if (!unexpected.empty()) r["unexpected"] = unexpected;
  std::cout << r.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

prospect::cli::RunFn setup_inspect(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  app.add_option("dir", *dir, "checkpoint directory (config.json + safetensors), or a .gguf file")->transform(prospect::cli::hub_path())->required();
  return [dir] { return run_inspect(*dir); };
}

}  // namespace

PROSPECT_COMMAND("inspect", "show a checkpoint's (or a GGUF file's) architecture, parameter count, dtypes and tensors", setup_inspect);
