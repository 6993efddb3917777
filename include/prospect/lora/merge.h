#pragma once
// Merging adapters into the base weights (PEFT merge_and_unload, reference §6.3/§6.5):
// W ← W + s·B·A, DoRA W ← (m/‖W + s·B·A‖_row) ⊙ (W + s·B·A), computed in fp32 and cast once.
// Only the adapted Linears change; tied embeddings stay tied (embedding LoRA is not supported).
#include <torch/torch.h>

#include <string>

#include "prospect/io/safetensors.h"
#include "prospect/lora/lora.h"

namespace prospect::lora {

// The model's base tensors by HF name (model::CausalLMImpl::hf_state order), each adapted Linear's
// weight replaced by its merged weight for adapter `name`; every tensor cast once to `dtype`.
io::NamedTensors merged_state(model::CausalLM& model, const std::string& name, torch::ScalarType dtype);

// Merges adapter `name` into the model's weights (kept in the model's dtype) and removes every
// adapter from the model, which becomes a plain model. Returns the number of merged modules.
int64_t merge_into(model::CausalLM& model, const std::string& name = "default");

// Removes every adapter without merging (PEFT unload()): the base model again.
void unload(model::CausalLM& model);

}  // namespace prospect::lora
