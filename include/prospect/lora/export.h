#pragma once
// The merge / export pipeline behind `prospect merge` and `prospect export --format hf`: load the
// base (fp32), apply the adapter, merge, verify on probe sequences, write a standalone Hugging Face
// directory. The caller owns the output directory (an AtomicDir) so that it can add files (the model
// card) and commit only when everything succeeded.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace prospect::lora {

struct ExportOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> adapter_dir;  // none: a plain dtype conversion / re-export
  std::optional<torch::ScalarType> dtype;            // output dtype; default: the base's torch_dtype
  uint64_t max_shard_bytes = 5ull << 30;
  // Largest allowed |Δ log p| on the probe tokens after the cast to the output dtype; default
  // verify_tolerance(dtype).
  std::optional<double> tolerance;
  // The same for the fp32 merge itself (before any cast); default 1e-4.
  std::optional<double> tolerance_f32;
  torch::Device device = torch::kCPU;
  int64_t probe_sequences = 3, probe_tokens = 16;
};

// Probe-token tolerance after casting the merged weights to `dtype` (scores always computed in fp32):
// f32/f64 1e-4; f16 0.1; bf16 0.5. The fp32 merge itself is always checked at 1e-4 first, so these
// looser bounds only absorb the output dtype's rounding (bf16 keeps 8 mantissa bits: a relative
// error up to 2^-9 per weight) and catch overflow (f16 beyond ±65504) and NaN.
double verify_tolerance(torch::ScalarType dtype);

// Deterministic probe ids [n, T] in [0, vocab).
torch::Tensor probe_ids(int64_t vocab, int64_t n, int64_t T);

// Tokenizer files copied next to an exported model when present.
const std::vector<std::string>& tokenizer_file_names();
// Copies the tokenizer files present in `from` into `to` (overwriting); returns the names copied.
std::vector<std::string> copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to);

// Runs the pipeline and writes into out_dir (existing, empty). Returns the JSON summary (keys:
// model, adapter, dtype, merged_modules, probe_sequences, probe_tokens, max_abs_logprob_diff,
// max_abs_logprob_diff_f32, tolerance, tolerance_f32, tensors, files, tokenizer_files).
// Throws prospect::Error when verification fails (the caller then discards out_dir).
nlohmann::json export_hf(const ExportOptions& opts, const std::filesystem::path& out_dir);

}  // namespace prospect::lora
