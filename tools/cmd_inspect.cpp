// `prospect inspect DIR`: architecture, parameter count, dtypes and a tensor summary of a checkpoint,
// as JSON on stdout. Also reports whether the tensors match what config.json implies.
#include <iostream>
#include <regex>
#include <set>

#include "command.h"
#include "hub_option.h"
#include "prospect/core/error.h"
#include "prospect/io/checkpoint.h"
#include "prospect/model/causal_lm.h"

namespace {

int run_inspect(const std::string& dir_s) {
  using namespace prospect;
  namespace fs = std::filesystem;
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
  std::cout << r.dump(2) << std::endl;
  return 0;
}

prospect::cli::RunFn setup_inspect(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  app.add_option("dir", *dir, "checkpoint directory (config.json + safetensors)")->transform(prospect::cli::hub_path())->required();
  return [dir] { return run_inspect(*dir); };
}

}  // namespace

PROSPECT_COMMAND("inspect", "show a checkpoint's architecture, parameter count, dtypes and tensors", setup_inspect);
