#include "prospect/io/checkpoint.h"

#include <cstdio>
#include <regex>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"

namespace prospect::io {

TensorStore TensorStore::open(const std::filesystem::path& dir_or_file, const std::string& prefix) {
  TensorStore s;
  namespace fs = std::filesystem;
  if (fs::is_regular_file(dir_or_file)) {
    s.root_ = dir_or_file.parent_path();
    auto f = SafetensorsFile::open(dir_or_file);
    for (const auto& [name, ti] : f->tensors()) s.by_name_[name] = f;
    return s;
  }
  if (!fs::is_directory(dir_or_file)) throw Error(dir_or_file.string(), "no such checkpoint directory or file");
  s.root_ = dir_or_file;
  const fs::path single = dir_or_file / (prefix + ".safetensors");
  const fs::path index = dir_or_file / (prefix + ".safetensors.index.json");
  if (fs::exists(single)) {
    auto f = SafetensorsFile::open(single);
    for (const auto& [name, ti] : f->tensors()) s.by_name_[name] = f;
    return s;
  }
  if (!fs::exists(index))
    throw Error(dir_or_file.string(), "no " + single.filename().string() + " or " + index.filename().string());
  const std::string ictx = index.string();
  nlohmann::json j = read_json_file(index);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(ictx, "missing 'weight_map' object");
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) throw Error(ictx, "weight_map['" + it.key() + "'] must be a file name");
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard.find("..") != std::string::npos || shard[0] == '/')
      throw Error(ictx, "weight_map['" + it.key() + "']: invalid shard name '" + shard + "'");
    auto sh = shards.find(shard);
    if (sh == shards.end()) {
      const fs::path p = dir_or_file / shard;
      if (!fs::exists(p)) throw Error(ictx, "shard '" + shard + "' (for tensor '" + it.key() + "') does not exist");
      sh = shards.emplace(shard, SafetensorsFile::open(p)).first;
    }
    if (!sh->second->contains(it.key()))
      throw Error(ictx, "tensor '" + it.key() + "' is listed in shard '" + shard + "' but that file lacks it");
    s.by_name_[it.key()] = sh->second;
  }
  return s;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [k, v] : by_name_) out.push_back(k);
  return out;
}

bool TensorStore::contains(const std::string& name) const { return by_name_.count(name) > 0; }

const TensorInfo& TensorStore::info(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw Error(root_.string(), "no tensor '" + name + "' in the checkpoint");
  return it->second->tensors().at(name);
}

torch::Tensor TensorStore::get(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw Error(root_.string(), "no tensor '" + name + "' in the checkpoint");
  return it->second->get(name);
}

void save_checkpoint(const std::filesystem::path& dir, const NamedTensors& tensors, uint64_t max_shard_bytes,
                     const std::string& prefix) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw Error(dir.string(), "output directory does not exist");
  auto nbytes = [](const torch::Tensor& t) { return (uint64_t)t.numel() * t.element_size(); };
  uint64_t total = 0;
  for (const auto& [n, t] : tensors) total += nbytes(t);
  const fs::path single = dir / (prefix + ".safetensors");
  const fs::path index = dir / (prefix + ".safetensors.index.json");
  // Stale files of the other layout would shadow or confuse the new one when read back.
  auto remove_stale_shards = [&]() {
    std::regex pat(std::regex_replace(prefix, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                   R"(-\d{5}-of-\d{5}\.safetensors)");
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (std::regex_match(e.path().filename().string(), pat)) fs::remove(e.path(), ec);
  };
  if (total <= max_shard_bytes) {
    save_safetensors(single, tensors);
    std::error_code ec;
    fs::remove(index, ec);
    remove_stale_shards();
    return;
  }
  // Greedy split in the given order, as transformers does: a new shard starts when the next tensor
  // would take the current one over the limit (a single larger tensor gets a shard of its own).
  std::vector<NamedTensors> shards(1);
  uint64_t cur = 0;
  for (const auto& nt : tensors) {
    uint64_t b = nbytes(nt.second);
    if (!shards.back().empty() && cur + b > max_shard_bytes) {
      shards.emplace_back();
      cur = 0;
    }
    shards.back().push_back(nt);
    cur += b;
  }
  std::error_code ec;
  fs::remove(single, ec);
  remove_stale_shards();
  nlohmann::json wm = nlohmann::json::object();
  const size_t n = shards.size();
  for (size_t i = 0; i < n; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "-%05zu-of-%05zu.safetensors", i + 1, n);
    const std::string fname = prefix + buf;
    save_safetensors(dir / fname, shards[i]);
    for (const auto& [name, t] : shards[i]) wm[name] = fname;
  }
  nlohmann::json j = {{"metadata", {{"total_size", total}}}, {"weight_map", wm}};
  write_json_file_atomic(index, j);
}

}  // namespace prospect::io
