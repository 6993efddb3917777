#include "parquet_column.h"

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "prospect/core/error.h"
#include "thrift_compact.h"

namespace prospect::io::pq {

namespace {

[[noreturn]] void bad(const std::string& m) { throw Error("", m); }

constexpr size_t kMaxPageBytes = size_t(1) << 30;

// A bounds-checked read position in one page.
struct Cursor {
  const uint8_t* p;
  size_t n, pos = 0;
  size_t left() const { return n - pos; }
  const uint8_t* take(size_t k, const char* what) {
    if (k > n - pos) bad(std::string(what) + " runs past the end of the page");
    const uint8_t* q = p + pos;
    pos += k;
    return q;
  }
  uint32_t u32le(const char* what) {
    const uint8_t* q = take(4, what);
    return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
  }
  uint64_t uleb(const char* what) {
    uint64_t v = 0;
    for (int s = 0; s < 64; s += 7) {
      uint8_t b = *take(1, what);
      v |= (uint64_t)(b & 0x7F) << s;
      if (!(b & 0x80)) return v;
    }
    bad(std::string(what) + ": varint longer than 10 bytes");
  }
  int64_t zigzag(const char* what) {
    uint64_t v = uleb(what);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
  }
};

int bit_width(int64_t max_value) {
  int w = 0;
  while (max_value > 0) ++w, max_value >>= 1;
  return w;
}

// `take` values of `width` bits, LSB first, from [q, end).
template <class T>
void unpack_bits(const uint8_t*& q, const uint8_t* end, int width, int64_t take, T* out, const char* what) {
  const uint64_t mask = width >= 64 ? ~0ull : ((1ull << width) - 1);
  uint64_t acc = 0;
  int bits = 0;
  for (int64_t k = 0; k < take; ++k) {
    while (bits < width) {
      if (q == end) bad(std::string(what) + ": bit-packed run is truncated");
      acc |= (uint64_t)*q++ << bits;
      bits += 8;
    }
    out[k] = (T)(acc & mask);
    acc = width >= 64 ? 0 : acc >> width;
    bits -= width;
  }
}

// The RLE / bit-packed hybrid: `count` values of `width` (<= 32) bits.
template <class T>
void decode_hybrid(Cursor c, int width, int64_t count, T* out, const char* what) {
  if (width < 0 || width > 32) bad(std::string(what) + ": bit width " + std::to_string(width) + " out of range");
  int64_t i = 0;
  const size_t vbytes = (size_t)(width + 7) / 8;
  while (i < count) {
    const uint64_t h = c.uleb(what);
    if (h & 1) {
      const uint64_t groups = h >> 1;
      if (groups > c.left() + 1) bad(std::string(what) + ": bit-packed run runs past the end");
      // Writers pad the last run to whole groups of 8; a file cut inside that padding is still read.
      const size_t nbytes = std::min<size_t>((size_t)groups * (size_t)width, c.left());
      const uint8_t* q = c.take(nbytes, what);
      const int64_t take = std::min<int64_t>((int64_t)groups * 8, count - i);
      unpack_bits(q, q + nbytes, width, take, out + i, what);
      i += take;
    } else {
      const uint64_t run = h >> 1;
      const uint8_t* q = c.take(vbytes, what);
      uint64_t v = 0;
      for (size_t b = 0; b < vbytes; ++b) v |= (uint64_t)q[b] << (8 * b);
      if (width < 64 && (v >> width)) bad(std::string(what) + ": RLE value wider than its bit width");
      const int64_t take = (int64_t)std::min<uint64_t>(run, (uint64_t)(count - i));
      std::fill(out + i, out + i + take, (T)v);
      i += take;
    }
  }
}

void decompress(int codec, const uint8_t* src, size_t n, size_t expected, std::vector<uint8_t>& out, ZSTD_DCtx* zctx) {
  if (expected > kMaxPageBytes) bad("page claims " + std::to_string(expected) + " uncompressed bytes");
  out.resize(expected);
  switch (codec) {
    case UNCOMPRESSED:
      if (n != expected) bad("uncompressed page size differs from its stored size");
      if (n) std::memcpy(out.data(), src, n);
      return;
    case SNAPPY: {
      size_t len = 0;
      if (snappy_uncompressed_length((const char*)src, n, &len) != SNAPPY_OK || len != expected)
        bad("corrupt SNAPPY page (length header)");
      if (snappy_uncompress((const char*)src, n, (char*)out.data(), &len) != SNAPPY_OK || len != expected)
        bad("corrupt SNAPPY page");
      return;
    }
    case GZIP: {
      z_stream z{};
      if (inflateInit2(&z, 15 + 32) != Z_OK) bad("zlib initialisation failed");  // gzip or zlib header
      z.next_in = const_cast<Bytef*>(src);
      z.avail_in = (uInt)n;
      // One spare byte: an empty page (all nulls) still gives inflate room to finish, and a page
      // longer than its header says is caught instead of silently cut.
      out.resize(expected + 1);
      z.next_out = out.data();
      z.avail_out = (uInt)(expected + 1);
      int rc;
      while (true) {
        rc = inflate(&z, Z_FINISH);
        // Concatenated gzip members: continue with the next one.
        if (rc == Z_STREAM_END && z.avail_in > 0 && z.avail_out > 1) {
          inflateReset(&z);
          continue;
        }
        break;
      }
      const size_t got = expected + 1 - z.avail_out;
      inflateEnd(&z);
      out.resize(expected);
      if (rc != Z_STREAM_END || got != expected) bad("corrupt GZIP page");
      return;
    }
    case ZSTD: {
      size_t got = ZSTD_decompressDCtx(zctx, out.data(), expected, src, n);
      if (ZSTD_isError(got)) bad(std::string("corrupt ZSTD page: ") + ZSTD_getErrorName(got));
      if (got != expected) bad("ZSTD page decompressed to a different size than its header says");
      return;
    }
    default:
      bad(std::string("compression codec ") + codec_name(codec) + " is not supported (SNAPPY, GZIP, ZSTD or none)");
  }
}

uint32_t le32(const uint8_t* q) { return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24; }
uint64_t le64(const uint8_t* q) { return (uint64_t)le32(q) | (uint64_t)le32(q + 4) << 32; }

bool is_unsigned(const LeafInfo& l) {
  return (l.logical == L_INTEGER && !l.int_signed) || l.converted == C_UINT_8 || l.converted == C_UINT_16 ||
         l.converted == C_UINT_32 || l.converted == C_UINT_64;
}
bool is_decimal(const LeafInfo& l) { return l.logical == L_DECIMAL || l.converted == C_DECIMAL; }

double half_to_double(uint16_t h) {
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0) return s * std::ldexp(m, -24);
  if (e == 31) return m ? NAN : s * INFINITY;
  return s * std::ldexp(m + 1024, e - 25);
}

// Big-endian two's complement integer of any width, as a double (DECIMAL in bytes).
double be_signed(const uint8_t* q, size_t n) {
  double v = 0;
  for (size_t i = 0; i < n; ++i) v = v * 256 + q[i];
  if (n && (q[0] & 0x80)) v -= std::ldexp(1.0, (int)(8 * n));
  return v;
}

ojson int_value(int64_t v, const LeafInfo& l, bool is32) {
  if (is_decimal(l)) return (double)v / std::pow(10.0, l.scale);
  if (is_unsigned(l)) return is32 ? ojson((uint64_t)(uint32_t)v) : ojson((uint64_t)v);
  return v;
}

ojson bytes_value(const uint8_t* q, size_t n, const LeafInfo& l) {
  if (l.type == FIXED_LEN_BYTE_ARRAY) {
    if (l.logical == L_FLOAT16 && n == 2) return half_to_double((uint16_t)(q[0] | q[1] << 8));
    if (l.logical == L_UUID && n == 16) {
      static const char* hex = "0123456789abcdef";
      std::string s;
      for (size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
        s += hex[q[i] >> 4];
        s += hex[q[i] & 15];
      }
      return s;
    }
  }
  if (is_decimal(l)) return be_signed(q, n) / std::pow(10.0, l.scale);
  return std::string((const char*)q, n);
}

// PLAIN-encoded values.
void decode_plain(Cursor c, int64_t count, const LeafInfo& l, std::vector<ojson>& out) {
  const char* what = "PLAIN values";
  switch (l.type) {
    case BOOLEAN: {
      const uint8_t* q = c.take((size_t)((count + 7) / 8), what);
      for (int64_t i = 0; i < count; ++i) out.emplace_back((bool)((q[i >> 3] >> (i & 7)) & 1));
      return;
    }
    case INT32: {
      if ((uint64_t)count > c.left() / 4) bad("PLAIN values run past the end of the page");
      const uint8_t* q = c.take((size_t)count * 4, what);
      for (int64_t i = 0; i < count; ++i) out.push_back(int_value((int32_t)le32(q + 4 * i), l, true));
      return;
    }
    case INT64: {
      if ((uint64_t)count > c.left() / 8) bad("PLAIN values run past the end of the page");
      const uint8_t* q = c.take((size_t)count * 8, what);
      for (int64_t i = 0; i < count; ++i) out.push_back(int_value((int64_t)le64(q + 8 * i), l, false));
      return;
    }
    case INT96: {
      // Legacy timestamps: nanoseconds of the day, then the Julian day; as ns since the epoch.
      if ((uint64_t)count > c.left() / 12) bad("PLAIN values run past the end of the page");
      const uint8_t* q = c.take((size_t)count * 12, what);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t nanos = (int64_t)le64(q + 12 * i);
        const int64_t day = (int64_t)le32(q + 12 * i + 8);
        out.emplace_back((day - 2440588) * 86400000000000LL + nanos);
      }
      return;
    }
    case FLOAT: {
      if ((uint64_t)count > c.left() / 4) bad("PLAIN values run past the end of the page");
      const uint8_t* q = c.take((size_t)count * 4, what);
      for (int64_t i = 0; i < count; ++i) {
        uint32_t b = le32(q + 4 * i);
        float f;
        std::memcpy(&f, &b, 4);
        out.emplace_back((double)f);
      }
      return;
    }
    case DOUBLE: {
      if ((uint64_t)count > c.left() / 8) bad("PLAIN values run past the end of the page");
      const uint8_t* q = c.take((size_t)count * 8, what);
      for (int64_t i = 0; i < count; ++i) {
        uint64_t b = le64(q + 8 * i);
        double d;
        std::memcpy(&d, &b, 8);
        out.emplace_back(d);
      }
      return;
    }
    case BYTE_ARRAY:
      for (int64_t i = 0; i < count; ++i) {
        const uint32_t len = c.u32le(what);
        const uint8_t* q = c.take(len, what);
        out.push_back(bytes_value(q, len, l));
      }
      return;
    case FIXED_LEN_BYTE_ARRAY: {
      if (l.type_length <= 0) bad("FIXED_LEN_BYTE_ARRAY without a positive type_length");
      if ((uint64_t)count > c.left() / (uint64_t)l.type_length) bad("PLAIN values run past the end of the page");
      for (int64_t i = 0; i < count; ++i) out.push_back(bytes_value(c.take((size_t)l.type_length, what), (size_t)l.type_length, l));
      return;
    }
    default:
      bad("unknown physical type " + std::to_string(l.type));
  }
}

// DELTA_BINARY_PACKED: `count` integers; leaves the cursor just after the last miniblock used.
std::vector<int64_t> decode_delta_ints(Cursor& c, int64_t count) {
  const char* what = "DELTA_BINARY_PACKED values";
  const uint64_t block = c.uleb(what), minis = c.uleb(what), total = c.uleb(what);
  uint64_t value = (uint64_t)c.zigzag(what);
  if (block == 0 || minis == 0 || block % minis != 0 || (block / minis) % 8 != 0 || block > (1u << 20))
    bad("DELTA_BINARY_PACKED: bad block header");
  if ((int64_t)total < count) bad("DELTA_BINARY_PACKED: fewer values than the page needs");
  std::vector<int64_t> out;
  out.reserve((size_t)count);
  if (count == 0) return out;
  out.push_back((int64_t)value);
  const uint64_t per_mini = block / minis;
  std::vector<uint64_t> buf(per_mini);
  while ((int64_t)out.size() < count) {
    const uint64_t min_delta = (uint64_t)c.zigzag(what);
    const uint8_t* widths = c.take((size_t)minis, what);
    for (uint64_t m = 0; m < minis && (int64_t)out.size() < count; ++m) {
      const int w = widths[m];
      if (w > 64) bad("DELTA_BINARY_PACKED: bit width over 64");
      const size_t nbytes = (size_t)(per_mini * (uint64_t)w / 8);
      const uint8_t* q = c.take(nbytes, what);
      unpack_bits(q, q + nbytes, w, (int64_t)per_mini, buf.data(), what);
      for (uint64_t k = 0; k < per_mini && (int64_t)out.size() < count; ++k) {
        value += min_delta + buf[k];  // wraps like the writer's arithmetic
        out.push_back((int64_t)value);
      }
    }
  }
  return out;
}

std::vector<std::string> decode_delta_length_strings(Cursor& c, int64_t count) {
  std::vector<int64_t> lens = decode_delta_ints(c, count);
  std::vector<std::string> out;
  out.reserve((size_t)count);
  for (int64_t len : lens) {
    if (len < 0) bad("DELTA_LENGTH_BYTE_ARRAY: negative length");
    const uint8_t* q = c.take((size_t)len, "DELTA_LENGTH_BYTE_ARRAY values");
    out.emplace_back((const char*)q, (size_t)len);
  }
  return out;
}

void decode_values(int encoding, Cursor c, int64_t count, const LeafInfo& l, const std::vector<ojson>* dict,
                   std::vector<ojson>& out) {
  switch (encoding) {
    case PLAIN:
      return decode_plain(c, count, l, out);
    case PLAIN_DICTIONARY:
    case RLE_DICTIONARY: {
      if (!dict) bad("dictionary-encoded page without a dictionary page");
      const int width = *c.take(1, "dictionary indices");
      std::vector<uint32_t> idx((size_t)count);
      decode_hybrid(c, width, count, idx.data(), "dictionary indices");
      for (uint32_t i : idx) {
        if (i >= dict->size())
          bad("dictionary index " + std::to_string(i) + " out of range (" + std::to_string(dict->size()) + " entries)");
        out.push_back((*dict)[i]);
      }
      return;
    }
    case RLE: {
      if (l.type != BOOLEAN) bad("RLE encoding is only valid for booleans here");
      const uint32_t len = c.u32le("RLE booleans");
      Cursor sub{c.take(len, "RLE booleans"), len};
      std::vector<uint8_t> bits((size_t)count);
      decode_hybrid(sub, 1, count, bits.data(), "RLE booleans");
      for (uint8_t b : bits) out.emplace_back(b != 0);
      return;
    }
    case DELTA_BINARY_PACKED: {
      if (l.type != INT32 && l.type != INT64) bad("DELTA_BINARY_PACKED on a non-integer column");
      for (int64_t v : decode_delta_ints(c, count)) out.push_back(int_value(l.type == INT32 ? (int32_t)v : v, l, l.type == INT32));
      return;
    }
    case DELTA_LENGTH_BYTE_ARRAY: {
      for (auto& s : decode_delta_length_strings(c, count)) out.push_back(bytes_value((const uint8_t*)s.data(), s.size(), l));
      return;
    }
    case DELTA_BYTE_ARRAY: {
      std::vector<int64_t> prefix = decode_delta_ints(c, count);
      std::vector<std::string> suffix = decode_delta_length_strings(c, count);
      std::string prev;
      for (int64_t i = 0; i < count; ++i) {
        if (prefix[i] < 0 || (size_t)prefix[i] > prev.size()) bad("DELTA_BYTE_ARRAY: prefix longer than the previous value");
        std::string v = prev.substr(0, (size_t)prefix[i]) + suffix[i];
        out.push_back(bytes_value((const uint8_t*)v.data(), v.size(), l));
        prev = std::move(v);
      }
      return;
    }
    case BYTE_STREAM_SPLIT: {
      size_t w = l.type == FLOAT || l.type == INT32 ? 4 : l.type == DOUBLE || l.type == INT64 ? 8
               : l.type == FIXED_LEN_BYTE_ARRAY ? (size_t)std::max(0, l.type_length) : 0;
      if (w == 0) bad("BYTE_STREAM_SPLIT on an unsupported type");
      if ((uint64_t)count > c.left() / w) bad("BYTE_STREAM_SPLIT values run past the end of the page");
      const uint8_t* q = c.take((size_t)count * w, "BYTE_STREAM_SPLIT values");
      std::vector<uint8_t> plain((size_t)count * w);
      for (int64_t i = 0; i < count; ++i)
        for (size_t b = 0; b < w; ++b) plain[(size_t)i * w + b] = q[b * (size_t)count + (size_t)i];
      return decode_plain(Cursor{plain.data(), plain.size()}, count, l, out);
    }
    default:
      bad(std::string("value encoding ") + encoding_name(encoding) + " is not supported");
  }
}

// Levels of one page, appended to `dst`; returns nothing, checks every level against its maximum.
void decode_levels(Cursor c, int16_t max_level, int64_t count, std::vector<int16_t>& dst, const char* what) {
  const size_t at = dst.size();
  dst.resize(at + (size_t)count);
  decode_hybrid(c, bit_width(max_level), count, dst.data() + at, what);
  for (size_t i = at; i < dst.size(); ++i)
    if (dst[i] > max_level) bad(std::string(what) + " above the column's maximum");
}

int64_t count_defined(const std::vector<int16_t>& def, size_t from, int16_t max_def) {
  int64_t n = 0;
  for (size_t i = from; i < def.size(); ++i) n += def[i] == max_def;
  return n;
}

}  // namespace

ColumnData decode_column_chunk(const uint8_t* chunk, size_t size, const ColumnMeta& meta, const LeafInfo& leaf) {
  ColumnData out;
  std::vector<ojson> dict;
  bool have_dict = false;
  std::vector<uint8_t> page;
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> zctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (meta.num_values >= 0 && leaf.max_def == 0 && leaf.max_rep == 0) out.values.reserve((size_t)std::min<int64_t>(meta.num_values, 1 << 24));
  size_t pos = 0;
  while (pos < size && out.entries < meta.num_values) {
    thrift::Reader r(chunk + pos, size - pos);
    PageHeader h = parse_page_header(r);
    pos += r.pos();
    if ((size_t)h.compressed_size > size - pos)
      bad("page of " + std::to_string(h.compressed_size) + " bytes runs past the end of the column chunk");
    const uint8_t* body = chunk + pos;
    pos += (size_t)h.compressed_size;
    if (h.type == DICTIONARY_PAGE) {
      if (have_dict) bad("two dictionary pages in one column chunk");
      if (h.encoding != PLAIN && h.encoding != PLAIN_DICTIONARY)
        bad(std::string("dictionary page encoding ") + encoding_name(h.encoding) + " is not supported");
      decompress(meta.codec, body, (size_t)h.compressed_size, (size_t)h.uncompressed_size, page, zctx.get());
      decode_plain(Cursor{page.data(), page.size()}, h.num_values, leaf, dict);
      have_dict = true;
      continue;
    }
    if (h.type != DATA_PAGE && h.type != DATA_PAGE_V2) continue;  // index pages carry no values
    if (!h.has_body_header) bad("data page without its header");
    const int64_t n = h.num_values;
    if (n > meta.num_values - out.entries) bad("pages hold more values than the column chunk's metadata says");
    const size_t def_from = out.def.size();
    Cursor values{nullptr, 0};
    if (h.type == DATA_PAGE) {
      decompress(meta.codec, body, (size_t)h.compressed_size, (size_t)h.uncompressed_size, page, zctx.get());
      Cursor c{page.data(), page.size()};
      if (leaf.max_rep > 0) {
        if (h.rep_encoding != RLE) bad(std::string("repetition level encoding ") + encoding_name(h.rep_encoding) + " is not supported");
        const uint32_t len = c.u32le("repetition levels");
        decode_levels(Cursor{c.take(len, "repetition levels"), len}, leaf.max_rep, n, out.rep, "repetition levels");
      }
      if (leaf.max_def > 0) {
        if (h.def_encoding != RLE) bad(std::string("definition level encoding ") + encoding_name(h.def_encoding) + " is not supported");
        const uint32_t len = c.u32le("definition levels");
        decode_levels(Cursor{c.take(len, "definition levels"), len}, leaf.max_def, n, out.def, "definition levels");
      }
      values = Cursor{c.p + c.pos, c.left()};
    } else {
      const size_t levels = (size_t)h.rep_length + (size_t)h.def_length;
      if (levels > (size_t)h.compressed_size || levels > (size_t)h.uncompressed_size)
        bad("data page v2 levels are larger than the page");
      if (leaf.max_rep > 0) decode_levels(Cursor{body, (size_t)h.rep_length}, leaf.max_rep, n, out.rep, "repetition levels");
      if (leaf.max_def > 0)
        decode_levels(Cursor{body + h.rep_length, (size_t)h.def_length}, leaf.max_def, n, out.def, "definition levels");
      const int codec = h.is_compressed ? meta.codec : UNCOMPRESSED;
      decompress(codec, body + levels, (size_t)h.compressed_size - levels, (size_t)h.uncompressed_size - levels, page,
                 zctx.get());
      values = Cursor{page.data(), page.size()};
    }
    const int64_t defined = leaf.max_def > 0 ? count_defined(out.def, def_from, leaf.max_def) : n;
    decode_values(h.encoding, values, defined, leaf, have_dict ? &dict : nullptr, out.values);
    out.entries += n;
  }
  if (out.entries != meta.num_values)
    bad("column chunk holds " + std::to_string(out.entries) + " values, its metadata says " + std::to_string(meta.num_values));
  return out;
}

}  // namespace prospect::io::pq
