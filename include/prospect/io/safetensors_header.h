#pragma once
// The safetensors header, parsed and validated without LibTorch (the fuzzer links only this).
// Format: u64 LE header length N | N bytes of JSON header (space padded) | data buffer.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace prospect::io {

struct TensorInfo {
  std::string name;
  std::string dtype;             // safetensors spelling: "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;   // offsets relative to the data buffer, end exclusive
};

struct SafetensorsHeader {
  uint64_t data_offset = 0;  // 8 + N: where the data buffer starts in the file
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// Element size of a dtype Prospect reads, 0 for any other spelling.
size_t known_dtype_size(const std::string& safetensors_dtype);
// "unsupported dtype 'X' ..." for valid safetensors dtypes LibTorch 1.13 lacks, else "unknown dtype".
std::string unsupported_dtype_message(const std::string& safetensors_dtype);

// Validates everything the reference reader does (header length and JSON, duplicate names, field
// set, dtypes, shapes, offsets inside the data area, spans tiling the buffer, byte span == numel x
// dtype size) over a whole file image of `size` bytes. Errors (prospect::Error) start with `ctx`.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t size, const std::string& ctx);

}  // namespace prospect::io
