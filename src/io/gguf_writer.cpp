// Streaming GGUF writer: the header is computed from shapes and types alone (offsets need no data), then
// each tensor is loaded, converted in row chunks and appended, so memory holds one source tensor plus
// one chunk. Output goes to a temporary sibling that is renamed into place only when complete.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>

#include <ATen/Parallel.h>

#include "prospect/core/error.h"
#include "prospect/core/temp_path.h"
#include "prospect/io/gguf_writer.h"

namespace prospect::io {

namespace {

constexpr size_t kMaxName = 64;  // GGML_MAX_NAME, terminator included

class Out {
 public:
  Out(const std::filesystem::path& p) : path_(p) {
    f_ = std::fopen(p.c_str(), "wb");
    if (!f_) throw Error(p.string(), std::string("cannot create: ") + std::strerror(errno));
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 22);
  }
  ~Out() {
    if (f_) std::fclose(f_);
  }
  void bytes(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n)
      throw Error(path_.string(), std::string("write failed: ") + std::strerror(errno));
    pos_ += n;
  }
  template <class T>
  void pod(T v) {
    bytes(&v, sizeof v);  // x86-64 and aarch64 are little-endian, as GGUF is
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    static const char zeros[256] = {};
    while (pos_ % alignment) bytes(zeros, std::min<uint64_t>(alignment - pos_ % alignment, sizeof zeros));
  }
  uint64_t pos() const { return pos_; }
  void close() {
    if (std::fflush(f_) != 0 || std::fclose(f_) != 0) {
      f_ = nullptr;
      throw Error(path_.string(), std::string("write failed: ") + std::strerror(errno));
    }
    f_ = nullptr;
  }

 private:
  std::filesystem::path path_;
  FILE* f_ = nullptr;
  uint64_t pos_ = 0;
};

// Unsigned fields accept any non-negative JSON integer (a literal 200 is stored as a signed number).
bool fits_unsigned(const nlohmann::json& v, uint64_t max) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= max;
  return v.is_number_integer() && v.get<int64_t>() >= 0 && (uint64_t)v.get<int64_t>() <= max;
}
bool fits_signed(const nlohmann::json& v, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= (uint64_t)hi;
  return v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
}

void scalar(Out& o, GgufType t, const nlohmann::json& v, const std::string& key) {
  auto need = [&](bool ok) { check(ok, key, "metadata value " + v.dump() + " does not fit " + gguf_type_name(t)); };
  switch (t) {
    case GgufType::U8: need(fits_unsigned(v, 0xff)); o.pod<uint8_t>(v.get<uint8_t>()); break;
    case GgufType::I8: need(fits_signed(v, -128, 127)); o.pod<int8_t>(v.get<int8_t>()); break;
    case GgufType::U16: need(fits_unsigned(v, 0xffff)); o.pod<uint16_t>(v.get<uint16_t>()); break;
    case GgufType::I16: need(fits_signed(v, -32768, 32767)); o.pod<int16_t>(v.get<int16_t>()); break;
    case GgufType::U32: need(fits_unsigned(v, 0xffffffffull)); o.pod<uint32_t>(v.get<uint32_t>()); break;
    case GgufType::I32: need(fits_signed(v, INT32_MIN, INT32_MAX)); o.pod<int32_t>(v.get<int32_t>()); break;
    case GgufType::F32: need(v.is_number()); o.pod<float>(v.get<float>()); break;
    case GgufType::BOOL: need(v.is_boolean()); o.pod<uint8_t>(v.get<bool>() ? 1 : 0); break;
    case GgufType::STRING: need(v.is_string()); o.str(v.get<std::string>()); break;
    case GgufType::U64: need(fits_unsigned(v, UINT64_MAX)); o.pod<uint64_t>(v.get<uint64_t>()); break;
    case GgufType::I64: need(fits_signed(v, INT64_MIN, INT64_MAX)); o.pod<int64_t>(v.get<int64_t>()); break;
    case GgufType::F64: need(v.is_number()); o.pod<double>(v.get<double>()); break;
    default: throw Error(key, "nested arrays are not supported");
  }
}

}  // namespace

GgufWriteStats write_gguf(const std::filesystem::path& path, const GgufMetadata& metadata_in,
                          const std::vector<GgufTensorSpec>& tensors, uint32_t alignment) {
  const auto t0 = std::chrono::steady_clock::now();
  check(alignment > 0 && (alignment & (alignment - 1)) == 0, path.string(), "alignment must be a power of 2");
  GgufMetadata metadata = metadata_in;
  std::set<std::string> keys;
  for (const auto& [k, v] : metadata) {
    check(keys.insert(k).second, path.string(), "duplicate metadata key '" + k + "'");
    if (v.type == GgufType::ARRAY) check(v.value.is_array(), k, "array value expected");
  }
  if (alignment != 32 && !keys.count("general.alignment"))
    metadata.emplace_back("general.alignment", GgufValue::u32(alignment));

  // Offsets from shapes and types only.
  std::set<std::string> names;
  std::vector<uint64_t> offsets, sizes;
  uint64_t off = 0;
  for (const auto& t : tensors) {
    check(!t.name.empty() && t.name.size() < kMaxName, t.name, "tensor names must have 1 to 63 bytes");
    check(names.insert(t.name).second, path.string(), "duplicate tensor name '" + t.name + "'");
    check(!t.ne.empty() && t.ne.size() <= 4, t.name, "tensors must have 1 to 4 dimensions");
    int64_t rows = 1;
    for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
    check(t.ne[0] > 0 && rows > 0, t.name, "empty tensor");
    const uint64_t n = ggml_row_bytes(t.type, t.ne[0]) * (uint64_t)rows;
    offsets.push_back(off);
    sizes.push_back(n);
    off += (n + alignment - 1) / alignment * alignment;
  }

  const auto tmp = temp_sibling(path);
  struct Cleanup {
    std::filesystem::path p;
    bool keep = false;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) std::filesystem::remove(p, ec);
    }
  } cleanup{tmp};

  Out o(tmp);
  o.bytes("GGUF", 4);
  o.pod<uint32_t>(3);
  o.pod<uint64_t>(tensors.size());
  o.pod<uint64_t>(metadata.size());
  for (const auto& [k, v] : metadata) {
    o.str(k);
    o.pod<uint32_t>((uint32_t)v.type);
    if (v.type == GgufType::ARRAY) {
      o.pod<uint32_t>((uint32_t)v.elem);
      o.pod<uint64_t>(v.value.size());
      for (const auto& e : v.value) scalar(o, v.elem, e, k);
    } else {
      scalar(o, v.type, v.value, k);
    }
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    o.str(t.name);
    o.pod<uint32_t>((uint32_t)t.ne.size());
    for (auto d : t.ne) o.pod<uint64_t>((uint64_t)d);
    o.pod<uint32_t>((uint32_t)t.type);
    o.pod<uint64_t>(offsets[i]);
  }
  o.pad_to(alignment);
  const uint64_t data_start = o.pos();

  std::vector<uint8_t> buf;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    torch::Tensor src = t.load();  // one source tensor alive at a time
    const int64_t ne0 = t.ne[0];
    const int64_t rows = (int64_t)(sizes[i] / ggml_row_bytes(t.type, ne0));
    check(src.numel() == ne0 * rows, t.name,
          "internal: " + std::to_string(src.numel()) + " values for shape of " + std::to_string(ne0 * rows));
    src = src.reshape({rows, ne0});
    const int64_t chunk = std::max<int64_t>(1, (1 << 20) / ne0);  // ~4 MB of fp32 per chunk
    for (int64_t r = 0; r < rows; r += chunk) {
      const int64_t k = std::min(chunk, rows - r);
      auto part = src.slice(0, r, r + k).to(torch::kCPU, torch::kFloat32).contiguous();
      const size_t row_bytes = ggml_row_bytes(t.type, ne0);
      buf.resize(row_bytes * (size_t)k);
      const float* x = part.data_ptr<float>();
      // Rows are independent blocks: encode them on LibTorch's intra-op threads.
      at::parallel_for(0, k, std::max<int64_t>(1, 16384 / ne0), [&](int64_t b, int64_t e) {
        ggml_encode_rows_into(t.type, x + b * ne0, e - b, ne0, buf.data() + (size_t)b * row_bytes);
      });
      o.bytes(buf.data(), buf.size());
    }
    check(o.pos() - data_start == offsets[i] + sizes[i], t.name, "internal: tensor size mismatch");
    o.pad_to(alignment);
    spdlog::debug("gguf: {} {} {}", t.name, ggml_type_name(t.type), sizes[i]);
  }
  GgufWriteStats st;
  st.bytes = o.pos();
  st.tensor_bytes = o.pos() - data_start;
  o.close();
  std::filesystem::rename(tmp, path);
  cleanup.keep = true;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

torch::Tensor gguf_to_float(const GgufFile& file, const std::string& name) {
  const auto* t = file.tensor(name);
  check(t != nullptr, file.path().string(), "no tensor '" + name + "'");
  const auto bytes = file.raw(*t);
  std::vector<int64_t> shape(t->ne.rbegin(), t->ne.rend());
  auto out = torch::empty(shape, torch::kFloat32);
  ggml_decode_rows(t->type, bytes.data(), t->numel() / t->ne[0], t->ne[0], out.data_ptr<float>());
  return out;
}

}  // namespace prospect::io
