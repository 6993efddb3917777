#pragma once
// GGUF (llama.cpp's model file, version 3): format types and the validating reader. LibTorch-free, so
// that the reader can be fuzzed alone (fuzz/); writing and decoding to tensors: io/gguf_writer.h.
// Layout (ggml/include/gguf.h): "GGUF" | u32 version | u64 n_tensors | u64 n_kv | n_kv × (string key,
// u32 value type, value) | n_tensors × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset)
// | padding to general.alignment (default 32) | tensor data, each tensor at an aligned offset.
// Strings are u64 length + UTF-8 bytes; arrays are u32 element type + u64 count + elements; all little-endian.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "prospect/io/ggml_quants.h"

namespace prospect::io {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
  U64 = 10, I64 = 11, F64 = 12,
};
std::string gguf_type_name(GgufType t);

// One metadata value: its GGUF type (and element type for arrays) and the value as JSON (numbers,
// bool, string, or an array of those).
struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType elem = GgufType::U32;  // arrays only
  nlohmann::json value;

  static GgufValue u32(uint64_t v) { return {GgufType::U32, GgufType::U32, v}; }
  static GgufValue i32(int64_t v) { return {GgufType::I32, GgufType::U32, v}; }
  static GgufValue u64(uint64_t v) { return {GgufType::U64, GgufType::U32, v}; }
  static GgufValue f32(double v) { return {GgufType::F32, GgufType::U32, v}; }
  static GgufValue boolean(bool v) { return {GgufType::BOOL, GgufType::U32, v}; }
  static GgufValue str(const std::string& v) { return {GgufType::STRING, GgufType::U32, v}; }
  static GgufValue strings(const std::vector<std::string>& v) { return {GgufType::ARRAY, GgufType::STRING, v}; }
  static GgufValue i32s(const std::vector<int32_t>& v) { return {GgufType::ARRAY, GgufType::I32, v}; }
  static GgufValue f32s(const std::vector<float>& v) { return {GgufType::ARRAY, GgufType::F32, v}; }
};

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;  // relative to the data section
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// A parsed GGUF file. open() validates the whole header (magic, version, counts, every string and array
// length against the file size, value types, tensor types, dims, alignment, offsets inside the file,
// non-overlapping tensors); any violation throws prospect::Error naming the file and what is wrong.
class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const GgufMetadata& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufValue* find(const std::string& key) const;          // nullptr when absent
  const GgufTensorInfo* tensor(const std::string& name) const;  // nullptr when absent
  std::vector<uint8_t> raw(const GgufTensorInfo& t) const;      // the stored bytes

 private:
  std::filesystem::path path_;
  uint32_t version_ = 0, alignment_ = 32;
  uint64_t data_offset_ = 0;
  GgufMetadata metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace prospect::io
