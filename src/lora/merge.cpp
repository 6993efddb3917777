#include "prospect/lora/merge.h"

#include <map>

#include "prospect/core/error.h"

namespace prospect::lora {

io::NamedTensors merged_state(model::CausalLM& model, const std::string& name, torch::ScalarType dtype) {
  torch::NoGradGuard ng;
  std::map<std::string, std::pair<LoraLayer*, torch::Tensor>> adapted;  // "<path>.weight" -> (layer, W)
  for (auto& [p, lin] : model->named_linears())
    if (auto* l = find_lora_layer(lin); l && l->adapters.count(name)) adapted[p + ".weight"] = {l, lin->weight};
  check(!adapted.empty(), "merge", "the model has no adapter '" + name + "'");
  io::NamedTensors out;
  size_t merged = 0;
  for (auto& [k, t] : model->hf_state()) {
    auto it = adapted.find(k);
    if (it == adapted.end()) {
      out.emplace_back(k, t.detach().to(dtype));
    } else {
      out.emplace_back(k, it->second.first->merged_weight(it->second.second, name).to(dtype));  // [out, in]
      ++merged;
    }
  }
  check(merged == adapted.size(), "merge", "internal: adapted weights missing from the model's state");
  return out;
}

int64_t merge_into(model::CausalLM& model, const std::string& name) {
  torch::NoGradGuard ng;
  int64_t n = 0;
  for (auto& [p, lin] : model->named_linears()) {
    auto* l = find_lora_layer(lin);
    if (!l || !l->adapters.count(name)) continue;
    // set_data, not copy_: the base weight may alias a read-only memory-mapped file.
    lin->weight.set_data(l->merged_weight(lin->weight, name).to(lin->weight.scalar_type()));
    ++n;
  }
  check(n > 0, "merge", "the model has no adapter '" + name + "'");
  unload(model);
  return n;
}

void unload(model::CausalLM& model) {
  for (auto& [p, lin] : model->named_linears())
    if (find_lora_layer(lin)) lin->adapter.reset();
}

}  // namespace prospect::lora
