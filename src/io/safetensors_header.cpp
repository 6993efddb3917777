// The safetensors header parser, kept free of LibTorch so that it can be fuzzed on its own
// (fuzz/): every check of the reference reader runs here, before any tensor data is touched.
#include "prospect/io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "prospect/core/error.h"

namespace prospect::io {

namespace {

constexpr uint64_t kMaxHeader = 100000000ull;  // the reference reader's cap

struct DtypeSize {
  const char* name;
  size_t size;
};
const DtypeSize kSizes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                            {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
// Valid safetensors dtypes that LibTorch 1.13 cannot represent: named so that the error says
// "unsupported" rather than "unknown".
const char* const kKnownUnsupported[] = {"U16", "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
                                         "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2", "C64"};

}  // namespace

size_t known_dtype_size(const std::string& s) {
  for (const auto& d : kSizes)
    if (s == d.name) return d.size;
  return 0;
}

std::string unsupported_dtype_message(const std::string& s) {
  for (const char* u : kKnownUnsupported)
    if (s == u) return "unsupported dtype '" + s + "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)";
  return "unknown dtype '" + s + "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)";
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t fsize, const std::string& ctx) {
  if (fsize < 8) throw Error(ctx, "file too small to be safetensors (" + std::to_string(fsize) + " bytes, need >= 8)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // u64 little endian
  if (n > kMaxHeader) throw Error(ctx, "header length " + std::to_string(n) + " exceeds the 100000000-byte cap");
  if (n > fsize - 8)
    throw Error(ctx, "header length " + std::to_string(n) + " runs past the end of the file (" +
                         std::to_string(fsize) + " bytes): truncated or not a safetensors file");
  if (n < 2) throw Error(ctx, "header too short to be a JSON object");
  const char* hdr = reinterpret_cast<const char*>(data + 8);
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

  SafetensorsHeader f;
  f.data_offset = 8 + n;
  const uint64_t data_size = fsize - 8 - n;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;
      if (!v.is_object()) throw Error(ctx, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw Error(ctx, "__metadata__['" + m.key() + "'] must be a string");
        f.metadata[m.key()] = m.value().get<std::string>();
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
    const size_t dsize = known_dtype_size(ti.dtype);
    if (!dsize) throw Error(tctx, unsupported_dtype_message(ti.dtype));
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
    unsigned __int128 expect = numel * dsize;
    if (expect != (unsigned __int128)(ti.end - ti.begin))
      throw Error(tctx, "byte span " + std::to_string(ti.end - ti.begin) + " != numel x " +
                            std::to_string(dsize) + " = " +
                            (expect > std::numeric_limits<uint64_t>::max() ? std::string("(overflow)")
                                                                           : std::to_string((uint64_t)expect)));
    f.tensors.emplace(name, std::move(ti));
  }

  // The reference reader requires the spans, sorted, to tile the buffer from 0 without holes or overlap.
  std::vector<const TensorInfo*> sorted;
  for (const auto& [k, ti] : f.tensors) sorted.push_back(&ti);
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
  return f;
}

}  // namespace prospect::io
