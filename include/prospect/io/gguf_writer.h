#pragma once
// GGUF streaming writer, and GGUF tensors decoded to LibTorch tensors (the parts of GGUF that need torch).
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "prospect/io/gguf.h"

namespace prospect::io {

// A tensor to write: its GGUF name, ggml shape (ne[0] innermost = the PyTorch shape reversed), the
// storage type, and a function producing its values on demand (any float dtype, numel = prod(ne),
// row-major with ne[0] contiguous). The writer calls `load` once, when the tensor's turn comes, and
// converts it in row chunks, so memory holds one source tensor at a time.
struct GgufTensorSpec {
  std::string name;
  std::vector<int64_t> ne;
  GgmlType type = GgmlType::F32;
  std::function<torch::Tensor()> load;
};

struct GgufWriteStats {
  uint64_t bytes = 0;        // file size
  uint64_t tensor_bytes = 0; // data section (tensors + padding)
  double seconds = 0;        // wall time of the whole write
};

// Writes a GGUF v3 file to a temporary sibling of `path` and renames it into place when complete.
// Checks names (unique, < 64 bytes as ggml requires), shapes (1-4 dims, ne[0] a multiple of the
// type's block) and metadata (unique keys, homogeneous arrays) before writing anything.
GgufWriteStats write_gguf(const std::filesystem::path& path, const GgufMetadata& metadata,
                          const std::vector<GgufTensorSpec>& tensors, uint32_t alignment = 32);

// A tensor of a parsed file decoded to fp32 with the PyTorch shape (ne reversed); throws for types this
// library cannot decode.
torch::Tensor gguf_to_float(const GgufFile& file, const std::string& name);

}  // namespace prospect::io
