#pragma once
// A reader for the Thrift compact protocol, just enough for Parquet's footer and page headers.
// Every read is bounds-checked against the buffer and every list length against the bytes left, so
// a corrupt or hostile footer throws prospect::Error("... at byte N") instead of over-reading or
// allocating gigabytes. Nesting is capped (skip of unknown fields recurses).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace prospect::io::thrift {

// Compact protocol type nibbles.
enum : uint8_t {
  kStop = 0, kTrue = 1, kFalse = 2, kByte = 3, kI16 = 4, kI32 = 5, kI64 = 6, kDouble = 7,
  kBinary = 8, kList = 9, kSet = 10, kMap = 11, kStruct = 12
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}

  size_t pos() const { return pos_; }

  // Struct fields: begin, then next_field() until it returns false (STOP), then end.
  void struct_begin();
  bool next_field(int16_t& id, uint8_t& type);
  void struct_end();

  int32_t read_i32(uint8_t type);  // accepts I16/I32/BYTE, checks the range
  int64_t read_i64(uint8_t type);  // accepts any integer type
  bool read_bool(uint8_t type);    // field bools carry their value in the type nibble
  std::string read_string(uint8_t type);
  // List header: element count (checked against the bytes left) and element type.
  uint32_t read_list(uint8_t type, uint8_t& elem_type);
  // Element reads inside a list (a list bool is a whole byte).
  bool read_list_bool();

  void skip(uint8_t type, int depth = 0);
  [[noreturn]] void fail(const std::string& msg) const;

 private:
  uint8_t byte();
  uint64_t varint();
  int64_t zigzag() {
    uint64_t v = varint();
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
  }
  void expect_integer(uint8_t type) const;

  const uint8_t* p_;
  size_t n_, pos_ = 0;
  std::vector<int16_t> last_id_;
};

}  // namespace prospect::io::thrift
