#pragma once
// The Hugging Face → GGUF mapping of convert_hf_to_gguf.py (Qwen3Model, Qwen2Model, LlamaModel):
// tensor names, llama's Q/K row permutation, architecture metadata, the tokenizer as gguf-py's
// SpecialVocab and get_vocab_base write it, and llama-quantize's per-tensor type choices.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "prospect/io/gguf.h"
#include "prospect/model/config.h"

namespace prospect::model {

// Output precisions offered by `prospect export --format gguf` (llama_ftype values in file_type()).
enum class GgufDtype { F32, F16, BF16, Q8_0, Q4_K_M };
GgufDtype parse_gguf_dtype(const std::string& s);  // f32 | f16 | bf16 | q8_0 | q4_k_m
std::string gguf_dtype_name(GgufDtype d);
uint32_t gguf_file_type(GgufDtype d);  // general.file_type: 0, 1, 32, 7, 15

// "qwen3", "qwen2" or "llama" (general.architecture).
std::string gguf_arch(const ModelConfig& c);

// GGUF name of an HF tensor ("model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight");
// throws prospect::Error for names outside the Qwen3/Qwen2/Llama decoder.
std::string gguf_tensor_name(const std::string& hf_name);
// Layer index of a "blk.N." name, -1 otherwise.
int64_t gguf_layer_of(const std::string& gguf_name);

// llama.cpp's llama architecture applies interleaved (GPT-J) rotary pairs where HF Llama rotates
// halves, so the converter reorders q_proj/k_proj rows (weights and biases) per head:
// reshape(H, 2, D/2, ...) -> swap(1, 2). n_head is H for q, Hkv for k. Qwen uses NEOX rope: no permute.
bool gguf_permutes_qk(const ModelConfig& c);
torch::Tensor llama_permute_rows(const torch::Tensor& w, int64_t n_head);  // [n_head*D, ...] or [n_head*D]

// Architecture metadata (general.* and <arch>.*) with llama.cpp's types: counts u32, floats f32.
io::GgufMetadata gguf_model_metadata(const ModelConfig& c, const std::string& name, GgufDtype dtype);

// Tokenizer metadata from an HF tokenizer directory (tokenizer.json + tokenizer_config.json, config.json
// for special ids the tokenizer config leaves unset): tokenizer.ggml.model "gpt2", .pre, one token per
// embedding row (vocab_size; "[PAD<i>]" placeholders of type UNUSED for rows without a token), token
// types, merges, special ids, add_bos/add_eos flags, and tokenizer.chat_template.
io::GgufMetadata gguf_tokenizer_metadata(const std::filesystem::path& tokenizer_dir, const ModelConfig& c);

// The storage type llama.cpp would give this tensor: convert_hf_to_gguf.py --outtype for f32/f16/bf16/
// q8_0 (1-D tensors and biases F32; rows not divisible by 32 stay F16 in q8_0), llama-quantize
// Q4_K_M (llama_tensor_get_type) for q4_k_m. `tied`: no output.weight (token_embd doubles as output).
io::GgmlType gguf_tensor_type(GgufDtype d, const std::string& gguf_name, const std::vector<int64_t>& ne,
                              int64_t n_layers, bool tied);

}  // namespace prospect::model
