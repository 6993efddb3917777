#include "thrift_compact.h"

#include <limits>

#include "prospect/core/error.h"

namespace prospect::io::thrift {

namespace {
constexpr int kMaxDepth = 32;
}

void Reader::fail(const std::string& msg) const {
  throw Error("", "corrupt metadata (Thrift compact) at byte " + std::to_string(pos_) + ": " + msg);
}

uint8_t Reader::byte() {
  if (pos_ >= n_) fail("unexpected end of data");
  return p_[pos_++];
}

uint64_t Reader::varint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b = byte();
    v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  fail("varint longer than 10 bytes");
}

void Reader::struct_begin() {
  if (last_id_.size() >= kMaxDepth) fail("structs nested too deeply");
  last_id_.push_back(0);
}

void Reader::struct_end() { last_id_.pop_back(); }

bool Reader::next_field(int16_t& id, uint8_t& type) {
  uint8_t b = byte();
  type = b & 0x0F;
  if (type == kStop) return false;
  const uint8_t delta = b >> 4;
  if (delta != 0) {
    id = (int16_t)(last_id_.back() + delta);
  } else {
    int64_t v = zigzag();
    if (v < std::numeric_limits<int16_t>::min() || v > std::numeric_limits<int16_t>::max()) fail("bad field id");
    id = (int16_t)v;
  }
  if (type > kStruct) fail("unknown field type " + std::to_string(type));
  last_id_.back() = id;
  return true;
}

void Reader::expect_integer(uint8_t type) const {
  if (type != kByte && type != kI16 && type != kI32 && type != kI64)
    fail("expected an integer field, got type " + std::to_string(type));
}

int64_t Reader::read_i64(uint8_t type) {
  expect_integer(type);
  if (type == kByte) return (int8_t)byte();
  return zigzag();
}

int32_t Reader::read_i32(uint8_t type) {
  int64_t v = read_i64(type);
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) fail("i32 out of range");
  return (int32_t)v;
}

bool Reader::read_bool(uint8_t type) {
  if (type == kTrue) return true;
  if (type == kFalse) return false;
  fail("expected a boolean field, got type " + std::to_string(type));
}

bool Reader::read_list_bool() { return byte() == kTrue; }

std::string Reader::read_string(uint8_t type) {
  if (type != kBinary) fail("expected a string field, got type " + std::to_string(type));
  uint64_t len = varint();
  if (len > n_ - pos_) fail("string of " + std::to_string(len) + " bytes runs past the end");
  std::string s((const char*)p_ + pos_, (size_t)len);
  pos_ += (size_t)len;
  return s;
}

uint32_t Reader::read_list(uint8_t type, uint8_t& elem_type) {
  if (type != kList && type != kSet) fail("expected a list field, got type " + std::to_string(type));
  uint8_t b = byte();
  uint64_t size = b >> 4;
  elem_type = b & 0x0F;
  if (size == 15) size = varint();
  // Every element takes at least one byte (bools and structs included), except that an empty
  // struct is also one byte: the bound below rejects absurd counts before anything is allocated.
  if (size > n_ - pos_) fail("list of " + std::to_string(size) + " elements runs past the end");
  if (elem_type == kTrue || elem_type == kFalse) elem_type = kTrue;  // list bools: one byte each
  return (uint32_t)size;
}

void Reader::skip(uint8_t type, int depth) {
  if (depth > kMaxDepth) fail("values nested too deeply");
  switch (type) {
    case kTrue:
    case kFalse:
      return;  // field bool: value in the type nibble (list bools are handled below)
    case kByte:
      byte();
      return;
    case kI16:
    case kI32:
    case kI64:
      varint();
      return;
    case kDouble:
      if (n_ - pos_ < 8) fail("unexpected end of data");
      pos_ += 8;
      return;
    case kBinary: {
      uint64_t len = varint();
      if (len > n_ - pos_) fail("binary runs past the end");
      pos_ += (size_t)len;
      return;
    }
    case kList:
    case kSet: {
      uint8_t et;
      uint32_t size = read_list(type, et);
      for (uint32_t i = 0; i < size; ++i) {
        if (et == kTrue) byte();
        else skip(et, depth + 1);
      }
      return;
    }
    case kMap: {
      uint64_t size = varint();
      if (size == 0) return;
      if (size > n_ - pos_) fail("map runs past the end");
      uint8_t kv = byte();
      for (uint64_t i = 0; i < size; ++i) {
        uint8_t kt = kv >> 4, vt = kv & 0x0F;
        if (kt == kTrue || kt == kFalse) byte(); else skip(kt, depth + 1);
        if (vt == kTrue || vt == kFalse) byte(); else skip(vt, depth + 1);
      }
      return;
    }
    case kStruct: {
      struct_begin();
      int16_t id;
      uint8_t t;
      while (next_field(id, t)) skip(t, depth + 1);
      struct_end();
      return;
    }
    default:
      fail("cannot skip type " + std::to_string(type));
  }
}

}  // namespace prospect::io::thrift
