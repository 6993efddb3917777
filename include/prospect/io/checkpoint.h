#pragma once
// A Hugging Face checkpoint directory's tensors: `model.safetensors`, or shards listed by
// `model.safetensors.index.json` (weight_map). Also the sharded writer.
#include "prospect/io/safetensors.h"

namespace prospect::io {

class TensorStore {
 public:
  // dir holds model.safetensors or model.safetensors.index.json (prefix "model" by default; the
  // LoRA code uses prefix "adapter_model"). A path to a single .safetensors file is accepted too.
  static TensorStore open(const std::filesystem::path& dir_or_file, const std::string& prefix = "model");

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  torch::Tensor get(const std::string& name) const;  // zero-copy CPU view
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> by_name_;
};

// Writes `<prefix>.safetensors`, or shards `<prefix>-0000i-of-0000n.safetensors` plus
// `<prefix>.safetensors.index.json` ({"metadata":{"total_size":...},"weight_map":{...}}) when the
// total exceeds max_shard_bytes. Each file is written atomically into dir (which must exist).
void save_checkpoint(const std::filesystem::path& dir, const NamedTensors& tensors,
                     uint64_t max_shard_bytes = 5ull << 30, const std::string& prefix = "model");

}  // namespace prospect::io
