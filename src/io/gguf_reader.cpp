// GGUF reader: the header is read through a bounds-checked cursor over the file, so a truncated or
// corrupt file fails with one message naming the file and the field instead of reading past the end.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "prospect/core/error.h"
#include "prospect/io/gguf.h"

namespace prospect::io {

namespace {

constexpr uint64_t kMaxHeader = 1ull << 31;  // header bytes read into memory at most

class Cursor {
 public:
  Cursor(std::string file, std::vector<uint8_t> buf, uint64_t file_size)
      : file_(std::move(file)), buf_(std::move(buf)), file_size_(file_size) {}
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(file_, "malformed GGUF: " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  void need(uint64_t n, const std::string& what) const {
    if (n > buf_.size() - pos_) {
      if (buf_.size() < file_size_) fail(what + ": header larger than " + std::to_string(kMaxHeader) + " bytes");
      fail(what + ": file truncated");
    }
  }
  template <class T>
  T pod(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, buf_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t n = pod<uint64_t>(what + " length");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(buf_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  uint64_t pos() const { return pos_; }

 private:
  std::string file_;
  std::vector<uint8_t> buf_;
  uint64_t file_size_, pos_ = 0;
};

nlohmann::json read_scalar(Cursor& c, GgufType t, const std::string& key) {
  switch (t) {
    case GgufType::U8: return c.pod<uint8_t>(key);
    case GgufType::I8: return c.pod<int8_t>(key);
    case GgufType::U16: return c.pod<uint16_t>(key);
    case GgufType::I16: return c.pod<int16_t>(key);
    case GgufType::U32: return c.pod<uint32_t>(key);
    case GgufType::I32: return c.pod<int32_t>(key);
    case GgufType::F32: return c.pod<float>(key);
    case GgufType::BOOL: {
      const uint8_t b = c.pod<uint8_t>(key);
      if (b > 1) c.fail("key '" + key + "': bool value " + std::to_string(b));
      return b == 1;
    }
    case GgufType::STRING: return c.str(key);
    case GgufType::U64: return c.pod<uint64_t>(key);
    case GgufType::I64: return c.pod<int64_t>(key);
    case GgufType::F64: return c.pod<double>(key);
    default: c.fail("key '" + key + "': unknown value type " + std::to_string((uint32_t)t));
  }
}

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::STRING: return 8;  // at least its length field
    default: return 8;
  }
}

bool known_type(uint32_t t) { return t <= (uint32_t)GgufType::F64; }

}  // namespace

std::string gguf_type_name(GgufType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
                                "u64", "i64", "f64"};
  return known_type((uint32_t)t) ? names[(uint32_t)t] : "type" + std::to_string((uint32_t)t);
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

GgufFile GgufFile::open(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path.string(), "cannot open: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "cannot open");
  std::vector<uint8_t> buf(std::min<uint64_t>(size, kMaxHeader));
  in.read(reinterpret_cast<char*>(buf.data()), (std::streamsize)buf.size());
  if ((uint64_t)in.gcount() != buf.size()) throw Error(path.string(), "read failed");

  GgufFile g;
  g.path_ = path;
  Cursor c(path.string(), std::move(buf), size);
  if (size < 4) c.fail("file shorter than the magic");
  char magic[4];
  for (char& m : magic) m = (char)c.pod<uint8_t>("magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) c.fail("bad magic (not a GGUF file)");
  g.version_ = c.pod<uint32_t>("version");
  if (g.version_ != 2 && g.version_ != 3) c.fail("unsupported version " + std::to_string(g.version_) + " (expected 3)");
  const uint64_t n_tensors = c.pod<uint64_t>("tensor count");
  const uint64_t n_kv = c.pod<uint64_t>("metadata count");
  // Every entry takes at least a few bytes: counts beyond the file size are corrupt, not huge.
  if (n_tensors > size / 8) c.fail("tensor count " + std::to_string(n_tensors) + " exceeds what the file can hold");
  if (n_kv > size / 8) c.fail("metadata count " + std::to_string(n_kv) + " exceeds what the file can hold");

  std::set<std::string> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.str("metadata key " + std::to_string(i));
    if (key.empty()) c.fail("empty metadata key");
    if (!keys.insert(key).second) c.fail("duplicate metadata key '" + key + "'");
    const uint32_t t = c.pod<uint32_t>(key);
    if (!known_type(t)) c.fail("key '" + key + "': unknown value type " + std::to_string(t));
    GgufValue v;
    v.type = (GgufType)t;
    if (v.type == GgufType::ARRAY) {
      const uint32_t et = c.pod<uint32_t>(key);
      if (!known_type(et) || et == (uint32_t)GgufType::ARRAY)
        c.fail("key '" + key + "': unsupported array element type " + std::to_string(et));
      v.elem = (GgufType)et;
      const uint64_t n = c.pod<uint64_t>(key);
      if (n > (size - c.pos()) / scalar_size(v.elem)) c.fail("key '" + key + "': array length " + std::to_string(n) + " exceeds the file");
      v.value = nlohmann::json::array();
      for (uint64_t j = 0; j < n; ++j) v.value.push_back(read_scalar(c, v.elem, key));
    } else {
      v.value = read_scalar(c, v.type, key);
    }
    g.metadata_.emplace_back(key, std::move(v));
  }
  if (const auto* a = g.find("general.alignment")) {
    if (a->type != GgufType::U32) c.fail("general.alignment must be u32");
    const uint64_t al = a->value.get<uint64_t>();
    if (al == 0 || (al & (al - 1)) != 0) c.fail("general.alignment " + std::to_string(al) + " is not a power of 2");
    g.alignment_ = (uint32_t)al;
  }

  std::set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.str("tensor name " + std::to_string(i));
    if (t.name.empty() || t.name.size() >= 64) c.fail("tensor name '" + t.name + "' must have 1 to 63 bytes");
    if (!names.insert(t.name).second) c.fail("duplicate tensor name '" + t.name + "'");
    const uint32_t nd = c.pod<uint32_t>(t.name);
    if (nd < 1 || nd > 4) c.fail("tensor '" + t.name + "': " + std::to_string(nd) + " dimensions (1 to 4 allowed)");
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t v = c.pod<uint64_t>(t.name);
      if (v > (1ull << 40) || (v && numel > (1ull << 62) / v))
        c.fail("tensor '" + t.name + "': dimension " + std::to_string(v) + " overflows");
      numel *= v;
      t.ne.push_back((int64_t)v);
    }
    const uint32_t ty = c.pod<uint32_t>(t.name);
    const auto* info = ggml_type_info(ty);
    if (!info) c.fail("tensor '" + t.name + "': unknown ggml type " + std::to_string(ty));
    t.type = (GgmlType)ty;
    if (t.ne[0] % info->block != 0)
      c.fail("tensor '" + t.name + "': ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of " + info->name +
             "'s block size " + std::to_string(info->block));
    t.nbytes = numel / info->block * info->block_bytes;
    t.offset = c.pod<uint64_t>(t.name);
    if (t.offset % g.alignment_ != 0) c.fail("tensor '" + t.name + "': offset " + std::to_string(t.offset) + " is not aligned");
    g.tensors_.push_back(std::move(t));
  }
  g.data_offset_ = (c.pos() + g.alignment_ - 1) / g.alignment_ * g.alignment_;
  // Tensor data must lie inside the file and not overlap.
  std::vector<const GgufTensorInfo*> by_off;
  for (const auto& t : g.tensors_) {
    if (g.data_offset_ > size || t.offset > size - g.data_offset_ || t.nbytes > size - g.data_offset_ - t.offset)
      throw Error(path.string(), "malformed GGUF: tensor '" + t.name + "' data (" + std::to_string(t.nbytes) +
                                     " bytes at offset " + std::to_string(t.offset) + ") extends past the end of the file");
    by_off.push_back(&t);
  }
  std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_off.size(); ++i)
    if (by_off[i - 1]->offset + by_off[i - 1]->nbytes > by_off[i]->offset)
      throw Error(path.string(), "malformed GGUF: tensors '" + by_off[i - 1]->name + "' and '" + by_off[i]->name + "' overlap");
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

const GgufTensorInfo* GgufFile::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<uint8_t> GgufFile::raw(const GgufTensorInfo& t) const {
  std::ifstream in(path_, std::ios::binary);
  in.seekg((std::streamoff)(data_offset_ + t.offset));
  std::vector<uint8_t> b(t.nbytes);
  in.read(reinterpret_cast<char*>(b.data()), (std::streamsize)b.size());
  if ((uint64_t)in.gcount() != b.size()) throw Error(path_.string(), "cannot read tensor '" + t.name + "'");
  return b;
}

}  // namespace prospect::io
