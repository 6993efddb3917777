#include "prospect/lora/lora.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <spdlog/spdlog.h>

#include "prospect/core/config_reader.h"
#include "prospect/core/error.h"

namespace prospect::lora {

namespace {
thread_local std::string g_active = "default";

}  // namespace

UseAdapter::UseAdapter(std::string name) : prev_(g_active) { g_active = std::move(name); }
UseAdapter::~UseAdapter() { g_active = prev_; }
const std::string& UseAdapter::active() { return g_active; }

torch::Tensor LoraWeights::delta_weight() const {
  return B.to(torch::kFloat32).matmul(A.to(torch::kFloat32)) * scaling;  // [out, in]
}

std::string peft_key(const std::string& module_path, const std::string& kind) {
  if (kind == "lora_magnitude_vector") return "base_model.model." + module_path + ".lora_magnitude_vector";
  return "base_model.model." + module_path + "." + kind + ".weight";
}

// ---------------------------------------------------------------------------------------------------
// Forward

torch::Tensor LoraLayer::forward(const torch::Tensor& x, const torch::Tensor& base_out, const torch::Tensor& weight) {
  auto it = adapters.find(g_active);
  if (it == adapters.end()) return base_out;
  const LoraWeights& w = it->second;
  const auto dt = w.A.scalar_type();  // PEFT casts the input to lora_A's dtype
  const auto xa = x.to(dt);
  const bool drop = training && w.dropout > 0;
  const auto xd = drop ? torch::dropout(xa, w.dropout, true) : xa;  // LoRA branch only
  const auto lora = torch::linear(torch::linear(xd, w.A), w.B);   // [.., out]
  if (!w.dora()) return (base_out.to(dt) + lora * w.scaling).to(base_out.scalar_type());

  // DoRA: y = base + (m/‖W + sBA‖ − 1)·(W x) + (m/‖W + sBA‖)·s·B A x, the norm detached so that its
  // gradient does not flow (DoRA paper §4.3; PEFT DoraLinearLayer.forward).
  torch::Tensor norm;  // [out]
  {
    torch::NoGradGuard ng;
    norm = (weight.to(torch::kFloat32) + w.delta_weight()).norm(2, 1).to(dt);
  }
  const auto scale = w.magnitude / norm;  // [out]
  torch::Tensor wx;                       // [.., out]: W·x without bias
  if (drop) {
    wx = torch::linear(xd, weight.to(dt));  // the dropped input, as PEFT (base_result=None)
  } else {
    wx = base_out.to(dt);
    if (bias_.defined()) wx = wx - bias_.to(dt);
  }
  return (base_out.to(dt) + (scale - 1) * wx + scale * lora * w.scaling).to(base_out.scalar_type());
}

torch::Tensor LoraLayer::merged_weight(const torch::Tensor& weight, const std::string& name) const {
  auto it = adapters.find(name);
  check(it != adapters.end(), "lora", "no adapter '" + name + "' on this layer");
  const LoraWeights& w = it->second;
  auto merged = weight.detach().to(torch::kFloat32) + w.delta_weight().detach();  // [out, in]
  if (!w.dora()) return merged;
  auto norm = merged.norm(2, 1, /*keepdim=*/true);  // [out, 1]
  return (w.magnitude.detach().to(torch::kFloat32).unsqueeze(1) / norm) * merged;
}

torch::Tensor LoraLayer::forward_reference(const torch::Tensor& x, const torch::Tensor& weight,
                                           const std::string& name) const {
  auto y = torch::linear(x.to(torch::kFloat32), merged_weight(weight, name));
  if (bias_.defined()) y = y + bias_.to(torch::kFloat32);
  return y;
}

// ---------------------------------------------------------------------------------------------------
// Installation and initialisation

LoraLayer* find_lora_layer(const model::Linear& linear) {
  if (!linear || !linear->adapter) return nullptr;
  return dynamic_cast<LoraLayer*>(linear->adapter.get());
}

LoraLayer& lora_layer(model::Linear& linear, const std::string& path) {
  if (!linear->adapter) linear->adapter = std::make_shared<LoraLayer>(linear->bias);
  auto* l = dynamic_cast<LoraLayer*>(linear->adapter.get());
  check(l != nullptr, path, "carries an adapter that is not LoRA");
  return *l;
}

LoraWeights init_lora_weights(const torch::Tensor& base_weight, const std::string& path,
                              std::shared_ptr<const LoraConfig> cfg, at::Generator& gen, torch::ScalarType dtype) {
  const int64_t out = base_weight.size(0), in = base_weight.size(1);
  const int64_t r = cfg->rank_for(path);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  auto A = torch::empty({r, in}, f32);   // [r, in]
  auto B = torch::empty({out, r}, f32);  // [out, r]
  switch (cfg->init_lora_weights) {
    case LoraInit::Kaiming:  // kaiming_uniform_(a=√5) = U(±1/√in); B = 0 makes the adapter a no-op
      A.uniform_(-1.0 / std::sqrt((double)in), 1.0 / std::sqrt((double)in), gen);
      B.zero_();
      break;
    case LoraInit::Gaussian:
      A.normal_(0.0, 1.0 / (double)r, gen);
      B.zero_();
      break;
    case LoraInit::LinearDefault:  // nn.Linear's own init for both: U(±1/√fan_in)
      A.uniform_(-1.0 / std::sqrt((double)in), 1.0 / std::sqrt((double)in), gen);
      B.uniform_(-1.0 / std::sqrt((double)r), 1.0 / std::sqrt((double)r), gen);
      break;
  }
  LoraWeights w;
  w.scaling = cfg->scaling_for(path);
  w.dropout = cfg->lora_dropout;
  w.A = A.to(base_weight.device(), dtype);
  w.B = B.to(base_weight.device(), dtype);
  if (cfg->use_dora) {
    torch::NoGradGuard ng;
    w.magnitude = (base_weight.detach().to(torch::kFloat32) + w.delta_weight()).norm(2, 1).to(dtype);  // [out]
  }
  w.config = std::move(cfg);
  return w;
}

std::vector<std::string> resolve_targets(model::CausalLM& model, const LoraConfig& cfg, bool strict) {
  const std::string& mt = model->config().model_type;
  std::vector<std::string> paths, shorts;
  for (auto& [p, lin] : model->named_linears()) {
    paths.push_back(p);
    shorts.push_back(p.substr(p.rfind('.') + 1));
  }
  std::sort(shorts.begin(), shorts.end());
  shorts.erase(std::unique(shorts.begin(), shorts.end()), shorts.end());
  std::string names;
  for (const auto& s : shorts) names += (names.empty() ? "" : ", ") + s;

  auto is_embedding = [](const std::string& t) {
    auto ends = [&](const std::string& suf) {
      return t == suf || (t.size() > suf.size() && t.compare(t.size() - suf.size(), suf.size(), suf) == 0 &&
                          t[t.size() - suf.size() - 1] == '.');
    };
    return ends("lm_head") || ends("embed_tokens");
  };
  const std::string unsupported =
      "LoRA on the embedding or the LM head is not supported (tied embeddings stay tied); target linear layers";
  if (!cfg.all_linear && !cfg.target_regex) {
    const auto list = cfg.target_modules.empty() ? default_target_modules(mt) : cfg.target_modules;
    for (const auto& t : list) {
      check(!is_embedding(t), "target_modules", "'" + t + "': " + unsupported);
      bool hit = false;
      for (const auto& p : paths)
        if (p == t || (p.size() > t.size() && p.compare(p.size() - t.size(), t.size(), t) == 0 &&
                       p[p.size() - t.size() - 1] == '.')) {
          hit = true;
          break;
        }
      if (!hit) {
        std::string near = nearest_name(t, shorts);
        if (!strict) {
          spdlog::warn("target_modules: '{}' matches no linear layer of this {} model (ignored)", t, mt);
          continue;
        }
        throw Error("target_modules", "'" + t + "' matches no linear layer of this " + mt + " model" +
                                          (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                                          "; linear layers: " + names);
      }
    }
  }
  if (cfg.target_regex)
    for (const std::string probe : {"lm_head", "model.embed_tokens"})
      check(!cfg.targets(probe, mt), "target_modules", "regex '" + *cfg.target_regex + "' matches '" + probe +
                                                           "': " + unsupported);
  std::vector<std::string> out;
  for (const auto& p : paths)
    if (cfg.targets(p, mt)) out.push_back(p);
  if (out.empty()) {
    std::string spec = cfg.all_linear ? "all-linear" : cfg.target_regex ? "regex '" + *cfg.target_regex + "'" : "";
    if (spec.empty())
      for (const auto& t : cfg.target_modules.empty() ? default_target_modules(mt) : cfg.target_modules)
        spec += (spec.empty() ? "'" : ", '") + t + "'";
    throw Error("target_modules", spec + " targets no linear layer of this " + mt +
                                      " model (after exclude_modules and layers_to_transform); linear layers: " + names);
  }
  return out;
}

LoraModel attach_lora(model::CausalLM& model, const LoraConfig& cfg, uint64_t seed, const AttachOptions& opts) {
  auto shared = std::make_shared<LoraConfig>(cfg);
  // Record the resolved default targets, as PEFT writes them into adapter_config.json.
  if (!shared->all_linear && !shared->target_regex && shared->target_modules.empty())
    shared->target_modules = default_target_modules(model->config().model_type);
  const auto targets = resolve_targets(model, *shared);
  const std::set<std::string> wanted(targets.begin(), targets.end());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& [path, lin] : model->named_linears()) {
    if (!wanted.count(path)) continue;
    LoraLayer& layer = lora_layer(lin, path);
    check(!layer.adapters.count(opts.name), path, "adapter '" + opts.name + "' already exists");
    LoraWeights w = init_lora_weights(lin->weight, path, shared, gen, opts.dtype);
    w.A.set_requires_grad(opts.trainable);
    w.B.set_requires_grad(opts.trainable);
    if (w.magnitude.defined()) w.magnitude.set_requires_grad(opts.trainable);
    layer.adapters.emplace(opts.name, std::move(w));
  }
  return LoraModel(model);
}

// ---------------------------------------------------------------------------------------------------
// LoraModel

LoraModel::LoraModel(model::CausalLM model) : model_(std::move(model)) {}

std::vector<std::pair<std::string, LoraLayer*>> LoraModel::layers() const {
  std::vector<std::pair<std::string, LoraLayer*>> out;
  for (auto& [p, lin] : model_->named_linears())
    if (auto* l = find_lora_layer(lin)) out.emplace_back(p, l);
  return out;
}

std::vector<std::string> LoraModel::adapter_names() const {
  std::set<std::string> s;
  for (auto& [p, l] : layers())
    for (auto& [n, w] : l->adapters) s.insert(n);
  return {s.begin(), s.end()};
}

bool LoraModel::has_adapter(const std::string& name) const {
  for (auto& [p, l] : layers())
    if (l->adapters.count(name)) return true;
  return false;
}

const LoraConfig& LoraModel::config(const std::string& name) const {
  for (auto& [p, l] : layers()) {
    auto it = l->adapters.find(name);
    if (it != l->adapters.end()) return *it->second.config;
  }
  throw Error("lora", "the model has no adapter '" + name + "'");
}

std::vector<std::string> LoraModel::target_paths(const std::string& name) const {
  std::vector<std::string> out;
  for (auto& [p, l] : layers())
    if (l->adapters.count(name)) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LoraModel::named_parameters(const std::string& name) const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [p, l] : layers()) {
    auto it = l->adapters.find(name);
    if (it == l->adapters.end()) continue;
    out.emplace_back(peft_key(p, "lora_A"), it->second.A);
    out.emplace_back(peft_key(p, "lora_B"), it->second.B);
    if (it->second.dora()) out.emplace_back(peft_key(p, "lora_magnitude_vector"), it->second.magnitude);
  }
  return out;
}

std::vector<torch::Tensor> LoraModel::parameters(const std::string& name) const {
  std::vector<torch::Tensor> out;
  for (auto& [k, t] : named_parameters(name))
    if (t.requires_grad()) out.push_back(t);
  return out;
}

int64_t LoraModel::num_parameters(const std::string& name) const {
  int64_t n = 0;
  for (auto& [k, t] : named_parameters(name)) n += t.numel();
  return n;
}

void LoraModel::set_train(bool training) {
  for (auto& [p, l] : layers()) l->training = training;
}

void LoraModel::copy_adapter(const std::string& from, const std::string& to, bool frozen) {
  check(from != to, "lora", "copy_adapter: source and destination are both '" + from + "'");
  check(has_adapter(from), "lora", "copy_adapter: the model has no adapter '" + from + "'");
  torch::NoGradGuard ng;
  for (auto& [p, l] : layers()) {
    auto it = l->adapters.find(from);
    if (it == l->adapters.end()) continue;
    LoraWeights c = it->second;
    auto dup = [&](const torch::Tensor& t) {
      if (!t.defined()) return t;
      return t.detach().clone().set_requires_grad(!frozen);
    };
    c.A = dup(c.A);
    c.B = dup(c.B);
    c.magnitude = dup(c.magnitude);
    l->adapters[to] = std::move(c);
  }
}

void LoraModel::to(torch::Device device) {
  torch::NoGradGuard ng;
  for (auto& [p, l] : layers())
    for (auto& [n, w] : l->adapters)
      for (auto* t : {&w.A, &w.B, &w.magnitude})
        if (t->defined() && t->device() != device) t->set_data(t->to(device));
}

void LoraModel::delete_adapter(const std::string& name) {
  for (auto& [p, lin] : model_->named_linears())
    if (auto* l = find_lora_layer(lin)) {
      l->adapters.erase(name);
      if (l->adapters.empty()) lin->adapter.reset();
    }
}

}  // namespace prospect::lora
