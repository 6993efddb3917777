#pragma once
// Capture and restore of every random stream a training step draws from (torch's CPU generator:
// LoRA dropout and any sampling; the CUDA generator when CUDA is used), for exact resume.
#include <torch/torch.h>

#include <functional>
#include <string>

#include "prospect/io/safetensors.h"

namespace prospect::train {

io::NamedTensors capture_rng_state();  // "cpu" (uint8 state) and "cuda" when available
void restore_rng_state(const std::function<torch::Tensor(const std::string&)>& get, const std::string& source);
// Seeds torch's CPU (and CUDA) generators.
void seed_everything(uint64_t seed);

}  // namespace prospect::train
