#pragma once
// The GGUF export pipelines behind `prospect export --format gguf|gguf-lora`:
//  - export_gguf: a model directory (optionally with a LoRA adapter merged in memory by the verified
//    merge path: fp32 merge, probe log-probs checked against the unmerged adapter model) written as one
//    GGUF file for llama.cpp, streaming one tensor at a time.
//  - export_gguf_lora: a PEFT adapter as llama.cpp's LoRA-adapter GGUF (convert_lora_to_gguf.py).
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>

#include "prospect/model/gguf_map.h"

namespace prospect::lora {

struct GgufExportOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> adapter_dir;
  std::optional<std::filesystem::path> tokenizer_dir;  // default: the model directory
  model::GgufDtype dtype = model::GgufDtype::F16;
  std::string name;                                     // general.name (default: the model directory's name)
  torch::Device device = torch::kCPU;                   // merge + verification device
  double tolerance_f32 = 1e-4;                          // fp32 merge check, as `prospect merge`
};

// Writes out_file (temporary name, renamed when complete). Returns a JSON summary: out, architecture,
// dtype, file_type, tensors, tensor_types (count per ggml type), bytes, seconds, mb_per_s, and with an
// adapter merged_modules and max_abs_logprob_diff_f32.
nlohmann::json export_gguf(const GgufExportOptions& opts, const std::filesystem::path& out_file);

struct GgufLoraOptions {
  std::filesystem::path adapter_dir, model_dir;
  io::GgmlType type = io::GgmlType::F32;  // storage of lora_a / lora_b: F32, F16 or BF16
  std::string name;
};

// LoRA adapter GGUF: general.type "adapter", adapter.type "lora", adapter.lora.alpha, tensors
// "<gguf base name>.lora_a" (ne [in, r]) and ".lora_b" (ne [r, out]). llama.cpp scales every pair by
// alpha / r; modules whose PEFT scaling differs from lora_alpha / r (rsLoRA, rank/alpha patterns) get
// the ratio folded into lora_b, so the product llama.cpp applies equals PEFT's. DoRA is refused.
nlohmann::json export_gguf_lora(const GgufLoraOptions& opts, const std::filesystem::path& out_file);

}  // namespace prospect::lora
