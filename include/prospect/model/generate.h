#pragma once
// Autoregressive generation with the KV cache: greedy at temperature 0, else temperature -> top-k ->
// top-p -> softmax -> multinomial draw (transformers' warper order). Shared by the CLI and eval.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <vector>

#include "prospect/model/causal_lm.h"

namespace prospect::model {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0.0;       // 0: greedy
  int64_t top_k = 0;              // 0: off
  double top_p = 1.0;             // 1: off
  uint64_t seed = 0;              // sampling RNG (CPU generator)
  std::vector<int64_t> eos_ids;   // generation of a sequence stops after one of these
  int64_t pad_id = 0;             // fed for finished sequences and left padding (never attended)
};

// prompts: token ids (lengths may differ; batched with left padding and position_ids = cumsum - 1 as
// transformers' generate). Returns the new tokens of each prompt, including the stopping eos id.
std::vector<std::vector<int64_t>> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& opts);

// One sampling step: logits [B, V] (fp32, CPU) -> next ids [B].
torch::Tensor sample_next(const torch::Tensor& logits, const GenerateOptions& opts, at::Generator& gen);

// eos ids from dir/generation_config.json (int or list), else config.json's eos_token_id.
std::vector<int64_t> generation_eos_ids(const std::filesystem::path& model_dir);

// generation_config.json for a config: the real Qwen3 one for Qwen3 ids, else bos/eos/pad only.
nlohmann::json default_generation_config(const ModelConfig& c);

}  // namespace prospect::model
