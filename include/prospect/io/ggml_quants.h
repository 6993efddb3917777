#pragma once
// ggml tensor types and their reference encoders: the bytes llama.cpp's `quantize_row_*_ref` functions
// (ggml-quants.c) produce for F32, F16, BF16, Q8_0, Q5_0, Q4_K and Q6_K, and the matching decoders.
// Rows are quantised independently along ne0 (the innermost, contiguous dimension).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace prospect::io {

// ggml_type values as stored in GGUF tensor infos (ggml.h).
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, I8 = 24, I16 = 25, I32 = 26,
  I64 = 27, F64 = 28, BF16 = 30,
};

struct GgmlTypeInfo {
  const char* name;   // "q8_0", ...
  int64_t block;      // elements per block
  size_t block_bytes; // bytes per block
};

// Known types only (those above); nullptr otherwise.
const GgmlTypeInfo* ggml_type_info(uint32_t type);
std::string ggml_type_name(GgmlType t);
// Bytes of one row of ne0 elements; throws prospect::Error when ne0 is not a multiple of the block.
size_t ggml_row_bytes(GgmlType t, int64_t ne0);
// Whether this library can encode (and decode) the type.
bool ggml_can_encode(GgmlType t);

// Encodes nrows rows of n_per_row floats (row-major) into `out` (appended).
void ggml_encode_rows(GgmlType t, const float* x, int64_t nrows, int64_t n_per_row, std::vector<uint8_t>& out);
// The same into nrows * ggml_row_bytes(t, n_per_row) bytes at y (rows are independent: callers may split
// them across threads).
void ggml_encode_rows_into(GgmlType t, const float* x, int64_t nrows, int64_t n_per_row, uint8_t* y);
// Decodes nrows rows; `data` holds nrows * ggml_row_bytes(t, n_per_row) bytes.
void ggml_decode_rows(GgmlType t, const uint8_t* data, int64_t nrows, int64_t n_per_row, float* y);

// IEEE half / bfloat16 conversions with round-to-nearest-even (as ggml's GGML_FP32_TO_FP16 and
// ggml_compute_fp32_to_bf16, NaN kept quiet).
uint16_t fp32_to_fp16(float f);
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);
float bf16_to_fp32(uint16_t h);

}  // namespace prospect::io
