#pragma once
// PEFT's on-disk adapter format (reference §6.4): <dir>/adapter_model.safetensors with keys
// "base_model.model.<module path>.lora_A.weight" [r, in], ".lora_B.weight" [out, r] and (DoRA)
// ".lora_magnitude_vector" [out], metadata {"format":"pt"}; <dir>/adapter_config.json with PEFT's
// fields, keys sorted, inference_mode true. Files written here load with PeftModel.from_pretrained;
// files written by PEFT load here.
#include <filesystem>
#include <string>

#include "prospect/lora/lora.h"

namespace prospect::lora {

// Writes adapter `name` of the model into dir (created when missing; each file replaced atomically,
// the config last). Tensors are saved in their own dtype (fp32 by default), contiguous, cloned.
void save_adapter(const LoraModel& lora, const std::filesystem::path& dir, const std::string& name = "default");

// Reads and validates dir/adapter_config.json (tolerant of PEFT's extra fields, which are warned about).
LoraConfig read_adapter_config(const std::filesystem::path& dir);

// Loads an adapter directory into the model as adapter `name` (fp32 by default, as PEFT's
// autocast_adapter_dtype). Keys may carry PEFT's in-memory adapter infix (".lora_A.default.weight")
// and DoRA's ".weight" suffix. Every targeted module must have its tensors with the shapes the
// config implies ([r, in], [out, r], [out]); a missing, unexpected or mis-shaped tensor, or an adapter
// made for another architecture, is one prospect::Error naming the tensor. `trainable`: requires_grad.
LoraModel load_adapter(model::CausalLM& model, const std::filesystem::path& dir, const std::string& name = "default",
                       bool trainable = false, torch::ScalarType dtype = torch::kFloat32);

}  // namespace prospect::lora
