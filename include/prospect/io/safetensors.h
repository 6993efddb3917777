#pragma once
// safetensors reading (memory-mapped, validated before any data is touched) and writing (atomic).
// Format: u64 LE header length N | N bytes of JSON header (space padded) | data buffer.
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "prospect/io/safetensors_header.h"

namespace prospect::io {

// safetensors dtype string <-> torch dtype. Throws prospect::Error for unsupported ones.
torch::ScalarType dtype_from_safetensors(const std::string& s);
std::string dtype_to_safetensors(torch::ScalarType t);
size_t dtype_size(const std::string& safetensors_dtype);

class MappedFile;  // RAII mmap, shared by every tensor view into it

// One safetensors file. get() returns a tensor that aliases the mapping (zero-copy, read-only
// memory: clone before writing into it); the mapping stays alive as long as any view does.
class SafetensorsFile {
 public:
  // Validates everything (header length and JSON, dtypes, offsets inside the data area, contiguous
  // non-overlapping spans, byte span == numel * dtype size). Errors name the file and the tensor.
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return tensors_.count(name) > 0; }
  // Zero-copy view (CPU) of a tensor; throws naming the file if the name is absent.
  torch::Tensor get(const std::string& name) const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> map_;
  uint64_t data_offset_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes tensors (any device/dtype; moved to CPU, made contiguous) with metadata (default
// {"format":"pt"}), header padded with spaces to a multiple of 8; written to a temporary name and
// renamed. Tensors are laid out in the given order.
void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace prospect::io
