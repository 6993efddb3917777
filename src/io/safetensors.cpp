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

constexpr uint64_t kMaxHeader = 100000000ull;  // the reference reader's cap

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
// Valid safetensors dtypes that LibTorch 1.13 cannot represent: named so that the error says
// "unsupported" rather than "unknown".
const char* const kKnownUnsupported[] = {"U16", "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
                                         "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2", "C64"};

const DtypeEntry* find_dtype(const std::string& s) {
  for (const auto& d : kDtypes)
    if (s == d.name) return &d;
  return nullptr;
}

std::string unsupported_dtype_message(const std::string& s) {
  for (const char* u : kKnownUnsupported)
    if (s == u) return "unsupported dtype '" + s + "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)";
  return "unknown dtype '" + s + "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)";
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
  const uint64_t fsize = map->size();
  if (fsize < 8) throw Error(ctx, "file too small to be safetensors (" + std::to_string(fsize) + " bytes, need >= 8)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | map->data()[i];  // u64 little endian
  if (n > kMaxHeader) throw Error(ctx, "header length " + std::to_string(n) + " exceeds the 100000000-byte cap");
  if (n > fsize - 8)
    throw Error(ctx, "header length " + std::to_string(n) + " runs past the end of the file (" +
                         std::to_string(fsize) + " bytes): truncated or not a safetensors file");
  if (n < 2) throw Error(ctx, "header too short to be a JSON object");
  const char* hdr = reinterpret_cast<const char*>(map->data() + 8);
  if (hdr[0] != '{') throw Error(ctx, "header does not start with '{'");

  // Duplicate top-level names would be silently merged by the JSON parser: catch them as they parse.
  std::set<std::string> seen;
  std::string duplicate;
  nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    if (depth == 1 && ev == nlohmann::json::parse_event_t::key && parsed.is_string()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hdr, hdr + n, cb);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ctx, std::string("malformed JSON header: ") + e.what());
  }
  if (!header.is_object()) throw Error(ctx, "header is not a JSON object");
  if (!duplicate.empty()) throw Error(ctx, "tensor '" + duplicate + "': duplicate name in header");

  auto f = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  f->path_ = path;
  f->data_offset_ = 8 + n;
  const uint64_t data_size = fsize - 8 - n;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;
      if (!v.is_object()) throw Error(ctx, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw Error(ctx, "__metadata__['" + m.key() + "'] must be a string");
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string tctx = ctx + ": tensor '" + name + "'";
    if (!v.is_object()) throw Error(tctx, "entry is not an object");
    for (auto m = v.begin(); m != v.end(); ++m)
      if (m.key() != "dtype" && m.key() != "shape" && m.key() != "data_offsets")
        throw Error(tctx, "unexpected field '" + m.key() + "'");
    if (!v.contains("dtype") || !v["dtype"].is_string()) throw Error(tctx, "missing or non-string 'dtype'");
    if (!v.contains("shape") || !v["shape"].is_array()) throw Error(tctx, "missing or non-array 'shape'");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw Error(tctx, "missing 'data_offsets' or not an array of 2 integers");
    TensorInfo ti;
    ti.name = name;
    ti.dtype = v["dtype"].get<std::string>();
    const DtypeEntry* d = find_dtype(ti.dtype);
    if (!d) throw Error(tctx, unsupported_dtype_message(ti.dtype));
    unsigned __int128 numel = 1;
    for (const auto& s : v["shape"]) {
      if (!s.is_number_unsigned()) throw Error(tctx, "shape entries must be non-negative integers");
      uint64_t dim = s.get<uint64_t>();
      if (dim > (uint64_t)std::numeric_limits<int64_t>::max()) throw Error(tctx, "shape entry too large");
      ti.shape.push_back((int64_t)dim);
      numel *= dim;
      if (numel > ((unsigned __int128)1 << 64)) throw Error(tctx, "shape product overflows");
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) throw Error(tctx, "data_offsets must be non-negative integers");
    ti.begin = v["data_offsets"][0].get<uint64_t>();
    ti.end = v["data_offsets"][1].get<uint64_t>();
    if (ti.end < ti.begin)
      throw Error(tctx, "data_offsets end " + std::to_string(ti.end) + " < begin " + std::to_string(ti.begin));
    if (ti.end > data_size)
      throw Error(tctx, "data_offsets [" + std::to_string(ti.begin) + ", " + std::to_string(ti.end) +
                            ") out of bounds of the " + std::to_string(data_size) + "-byte data buffer");
    unsigned __int128 expect = numel * d->size;
    if (expect != (unsigned __int128)(ti.end - ti.begin))
      throw Error(tctx, "byte span " + std::to_string(ti.end - ti.begin) + " != numel x " +
                            std::to_string(d->size) + " = " +
                            (expect > std::numeric_limits<uint64_t>::max() ? std::string("(overflow)")
                                                                           : std::to_string((uint64_t)expect)));
    f->tensors_.emplace(name, std::move(ti));
  }

  // The reference reader requires the spans, sorted, to tile the buffer from 0 without holes or overlap.
  std::vector<const TensorInfo*> sorted;
  for (const auto& [k, ti] : f->tensors_) sorted.push_back(&ti);
  std::sort(sorted.begin(), sorted.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : sorted) {
    if (t->begin < pos)
      throw Error(ctx + ": tensor '" + t->name + "'", "data_offsets overlap tensor '" + prev->name + "'");
    if (t->begin > pos)
      throw Error(ctx + ": tensor '" + t->name + "'",
                  "hole in the data buffer: bytes [" + std::to_string(pos) + ", " + std::to_string(t->begin) +
                      ") belong to no tensor");
    pos = t->end;
    prev = t;
  }
  if (pos != data_size)
    throw Error(ctx, "data buffer has " + std::to_string(data_size - pos) +
                         " trailing bytes not covered by any tensor (truncated header or extra data)");
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
