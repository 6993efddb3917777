#include "prospect/lora/adapter_io.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/io/safetensors.h"

namespace prospect::lora {
namespace {

constexpr const char* kPrefix = "base_model.model.";

std::string shape_str(at::IntArrayRef s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}
std::string shape_str(const std::vector<int64_t>& s) { return shape_str(at::IntArrayRef(s)); }

// A file key split into module path and tensor kind ("lora_A", "lora_B", "lora_magnitude_vector").
struct ParsedKey {
  std::string path, kind;
};

// Returns an error message, or "" and fills `out`.
std::string parse_key(const std::string& key, ParsedKey& out) {
  if (key.rfind(kPrefix, 0) != 0)
    return "unexpected tensor name (PEFT adapter keys start with 'base_model.model.')";
  const std::string rest = key.substr(std::string(kPrefix).size());
  const auto pos = rest.find(".lora_");
  if (pos == std::string::npos)
    return "not a LoRA tensor (modules_to_save and trained biases are not supported)";
  out.path = rest.substr(0, pos);
  const std::string tail = rest.substr(pos + 1);  // "lora_A.weight", "lora_A.default.weight", ...
  for (const std::string kind : {"lora_A", "lora_B"})
    if (tail == kind + ".weight" || tail == kind + ".default.weight") {
      out.kind = kind;
      return "";
    }
  for (const std::string t : {"lora_magnitude_vector", "lora_magnitude_vector.weight",
                              "lora_magnitude_vector.default", "lora_magnitude_vector.default.weight"})
    if (tail == t) {
      out.kind = "lora_magnitude_vector";
      return "";
    }
  if (tail.rfind("lora_embedding_", 0) == 0) return "LoRA on embeddings is not supported";
  if (tail == "lora_B.bias" || tail == "lora_B.default.bias") return "lora_bias is not supported";
  return "unexpected LoRA tensor kind '" + tail + "'";
}

}  // namespace

void save_adapter(const LoraModel& lora, const std::filesystem::path& dir, const std::string& name) {
  check(lora.has_adapter(name), dir.string(), "the model has no adapter '" + name + "' to save");
  io::NamedTensors tensors;
  for (auto& [k, t] : lora.named_parameters(name))
    tensors.emplace_back(k, t.detach().to(torch::kCPU).contiguous().clone());
  const nlohmann::json cfg = lora.config(name).to_peft_json(lora.target_paths(name));
  auto write = [&](const std::filesystem::path& d) {
    io::save_safetensors(d / "adapter_model.safetensors", tensors, {{"format", "pt"}});
    write_json_file_atomic(d / "adapter_config.json", cfg, 2);
  };
  if (std::filesystem::exists(dir)) {
    write(dir);  // each file atomic; the config last so that a readable config implies its weights
  } else {
    AtomicDir out(dir, /*replace=*/false);
    write(out.path());
    out.commit();
  }
}

LoraConfig read_adapter_config(const std::filesystem::path& dir) {
  const auto path = dir / "adapter_config.json";
  check(std::filesystem::exists(path), dir.string(), "not an adapter directory: adapter_config.json is missing");
  return LoraConfig::from_peft_json(read_json_file(path), path.string());
}

LoraModel load_adapter(model::CausalLM& model, const std::filesystem::path& dir, const std::string& name,
                       bool trainable, torch::ScalarType dtype) {
  auto cfg = std::make_shared<LoraConfig>(read_adapter_config(dir));
  const auto file = dir / "adapter_model.safetensors";
  if (!std::filesystem::exists(file)) {
    if (std::filesystem::exists(dir / "adapter_model.bin"))
      throw Error(dir.string(), "adapter_model.bin (pickle) is not supported: re-save the adapter with "
                                "safe_serialization=True to get adapter_model.safetensors");
    throw Error(dir.string(), "adapter_model.safetensors is missing");
  }
  if (!cfg->all_linear && !cfg->target_regex && cfg->target_modules.empty())
    cfg->target_modules = default_target_modules(model->config().model_type);
  const std::string base_hint =
      cfg->base_model_name_or_path.empty() ? "" : " (the adapter was made for '" + cfg->base_model_name_or_path + "')";

  std::vector<std::string> targets;
  try {
    targets = resolve_targets(model, *cfg, /*strict=*/false);
  } catch (const Error& e) {
    throw Error(dir.string(), std::string(e.what()) + base_hint);
  }
  std::map<std::string, model::Linear> linears;
  for (auto& [p, lin] : model->named_linears()) linears.emplace(p, lin);

  auto st = io::SafetensorsFile::open(file);
  std::map<std::string, std::map<std::string, std::string>> found;  // path -> kind -> file key
  std::vector<std::string> problems;
  const std::set<std::string> target_set(targets.begin(), targets.end());
  for (const auto& [key, info] : st->tensors()) {
    ParsedKey pk;
    std::string err = parse_key(key, pk);
    if (err.empty() && !target_set.count(pk.path)) {
      err = linears.count(pk.path) ? "module '" + pk.path + "' is not targeted by adapter_config.json"
                                   : "module '" + pk.path + "' is not a linear layer of this model";
    }
    if (err.empty() && pk.kind == "lora_magnitude_vector" && !cfg->use_dora)
      err = "DoRA magnitude present but adapter_config.json has use_dora false";
    if (err.empty() && found[pk.path].count(pk.kind))
      err = "duplicate of '" + found[pk.path][pk.kind] + "'";
    if (!err.empty()) {
      problems.push_back(key + ": " + err);
      continue;
    }
    found[pk.path][pk.kind] = key;
  }

  struct Loaded {
    std::string path;
    LoraWeights w;
  };
  std::vector<Loaded> loaded;
  for (const auto& path : targets) {
    const auto& lin = linears.at(path);
    const int64_t out = lin->weight.size(0), in = lin->weight.size(1), r = cfg->rank_for(path);
    std::vector<std::pair<std::string, std::vector<int64_t>>> want = {{"lora_A", {r, in}}, {"lora_B", {out, r}}};
    if (cfg->use_dora) want.push_back({"lora_magnitude_vector", {out}});
    LoraWeights w;
    w.scaling = cfg->scaling_for(path);
    w.dropout = cfg->lora_dropout;
    w.config = cfg;
    bool ok = true;
    for (const auto& [kind, shape] : want) {
      auto it = found[path].find(kind);
      if (it == found[path].end()) {
        problems.push_back(peft_key(path, kind) + ": missing from " + file.string());
        ok = false;
        continue;
      }
      const auto& info = st->tensors().at(it->second);
      if (info.shape != shape) {
        problems.push_back(it->second + ": expected " + shape_str(shape) + " (r=" + std::to_string(r) +
                           ", in=" + std::to_string(in) + ", out=" + std::to_string(out) + "), got " +
                           shape_str(info.shape));
        ok = false;
        continue;
      }
      // A copy (the view aliases the read-only mapping) in the adapter dtype on the model's device.
      auto t = st->get(it->second).to(lin->weight.device(), dtype, false, /*copy=*/true);
      t.set_requires_grad(trainable);
      if (kind == "lora_A") w.A = t;
      else if (kind == "lora_B") w.B = t;
      else w.magnitude = t;
    }
    if (ok) loaded.push_back({path, std::move(w)});
  }
  if (!problems.empty()) {
    std::string msg = std::to_string(problems.size()) + " problem(s) loading the adapter" + base_hint + ": ";
    for (size_t i = 0; i < problems.size() && i < 8; ++i) msg += (i ? "; " : "") + problems[i];
    if (problems.size() > 8) msg += "; ... (" + std::to_string(problems.size() - 8) + " more)";
    throw Error(dir.string(), msg);
  }
  for (auto& l : loaded) {
    const LoraLayer* layer = find_lora_layer(linears.at(l.path));
    check(!layer || !layer->adapters.count(name), l.path, "adapter '" + name + "' is already loaded");
  }
  for (auto& l : loaded) lora_layer(linears.at(l.path), l.path).adapters.emplace(name, std::move(l.w));
  spdlog::info("loaded adapter '{}' from {}: {} modules, r={}, alpha={}{}{}", name, dir.string(), loaded.size(),
               cfg->r, cfg->lora_alpha, cfg->use_rslora ? ", rslora" : "", cfg->use_dora ? ", dora" : "");
  return LoraModel(model);
}

}  // namespace prospect::lora
