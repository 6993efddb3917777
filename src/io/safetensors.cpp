#include "prospect/io/safetensors.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "prospect/core/error.h"
#include "prospect/core/temp_path.h"

namespace prospect::io {

namespace {

struct DtypeEntry {
  const char* name;
  torch::ScalarType type;
  size_t size;
};
const DtypeEntry kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};
const DtypeEntry* find_dtype(const std::string& s) {
  for (const auto& d : kDtypes)
    if (s == d.name) return &d;
  return nullptr;
}

}  // namespace

torch::ScalarType dtype_from_safetensors(const std::string& s) {
  if (auto* d = find_dtype(s)) return d->type;
  throw Error("safetensors", unsupported_dtype_message(s));
}

std::string dtype_to_safetensors(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw Error("safetensors", std::string("cannot store dtype ") + c10::toString(t));
}

size_t dtype_size(const std::string& s) {
  if (auto* d = find_dtype(s)) return d->size;
  throw Error("safetensors", unsupported_dtype_message(s));
}

// Read-only private mapping of a whole file. MAP_PRIVATE with PROT_WRITE makes accidental writes
// through a view copy-on-write (they never reach the file and never fault).
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path.string(), std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw Error(path.string(), std::string("cannot stat: ") + std::strerror(e));
    }
    size_ = (uint64_t)st.st_size;
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int e = errno;
        ::close(fd);
        throw Error(path.string(), std::string("mmap failed: ") + std::strerror(e));
      }
      data_ = static_cast<uint8_t*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string ctx = path.string();
  if (!std::filesystem::is_regular_file(path)) throw Error(ctx, "no such safetensors file");
  auto map = std::make_shared<MappedFile>(path);
  const SafetensorsHeader h = parse_safetensors_header(map->data(), map->size(), ctx);
  auto f = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  f->path_ = path;
  f->data_offset_ = h.data_offset;
  f->tensors_ = h.tensors;
  f->metadata_ = h.metadata;
  f->map_ = std::move(map);
  return f;
}

torch::Tensor SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(path_.string(), "no tensor '" + name + "'");
  const TensorInfo& ti = it->second;
  const auto type = dtype_from_safetensors(ti.dtype);
  auto opts = torch::TensorOptions().dtype(type);
  if (ti.end == ti.begin) return torch::empty(ti.shape, opts);
  uint8_t* ptr = map_->data() + data_offset_ + ti.begin;
  const size_t esize = dtype_size(ti.dtype);
  if (reinterpret_cast<uintptr_t>(ptr) % esize != 0) {
    // Misaligned element data (a non-standard writer): copy rather than hand kernels unaligned memory.
    auto t = torch::empty(ti.shape, opts);
    std::memcpy(t.data_ptr(), ptr, ti.end - ti.begin);
    return t;
  }
  auto keep = map_;
  return torch::from_blob(ptr, ti.shape, [keep](void*) mutable { keep.reset(); }, opts);
}

namespace {

void write_all(std::FILE* f, const void* data, size_t n, const std::string& ctx) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    size_t step = std::min<size_t>(n, 64u << 20);
    if (std::fwrite(p, 1, step, f) != step) throw Error(ctx, std::string("write failed: ") + std::strerror(errno));
    p += step;
    n -= step;
  }
}

}  // namespace

void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string ctx = path.string();
  std::vector<torch::Tensor> cpu;
  cpu.reserve(tensors.size());
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, t0] : tensors) {
    if (name == "__metadata__") throw Error(ctx, "'__metadata__' is not a valid tensor name");
    if (!names.insert(name).second) throw Error(ctx, "tensor '" + name + "': duplicate name");
    if (!t0.defined()) throw Error(ctx, "tensor '" + name + "': undefined tensor");
    auto t = t0.detach().to(torch::kCPU).contiguous();
    const std::string dt = dtype_to_safetensors(t.scalar_type());
    uint64_t nbytes = (uint64_t)t.numel() * t.element_size();
    header[name] = {{"dtype", dt}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    cpu.push_back(std::move(t));
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');

  const std::filesystem::path tmp = temp_sibling(path);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(ctx, std::string("cannot write: ") + std::strerror(errno));
  try {
    uint8_t len[8];
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) len[i] = (uint8_t)(n >> (8 * i));
    write_all(f, len, 8, ctx);
    write_all(f, h.data(), h.size(), ctx);
    for (const auto& t : cpu)
      if (t.numel() > 0) write_all(f, t.data_ptr(), (size_t)t.numel() * t.element_size(), ctx);
    if (std::fflush(f) != 0) throw Error(ctx, std::string("write failed: ") + std::strerror(errno));
    if (std::fclose(f) != 0) {
      f = nullptr;
      throw Error(ctx, std::string("close failed: ") + std::strerror(errno));
    }
    f = nullptr;
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error(ctx, "rename failed: " + ec.message());
  } catch (...) {
    if (f) std::fclose(f);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace prospect::io
