#pragma once
// The parts of parquet.thrift (apache/parquet-format) that Prospect reads: the footer's FileMetaData
// and the page headers. Field ids follow the spec; unknown fields are skipped.
#include <cstdint>
#include <string>
#include <vector>

namespace prospect::io::thrift {
class Reader;
}

namespace prospect::io::pq {

enum PhysicalType { BOOLEAN = 0, INT32 = 1, INT64 = 2, INT96 = 3, FLOAT = 4, DOUBLE = 5, BYTE_ARRAY = 6, FIXED_LEN_BYTE_ARRAY = 7 };
enum Repetition { REQUIRED = 0, OPTIONAL = 1, REPEATED = 2 };
enum Codec { UNCOMPRESSED = 0, SNAPPY = 1, GZIP = 2, LZO = 3, BROTLI = 4, LZ4 = 5, ZSTD = 6, LZ4_RAW = 7 };
enum PageType { DATA_PAGE = 0, INDEX_PAGE = 1, DICTIONARY_PAGE = 2, DATA_PAGE_V2 = 3 };
enum Encoding {
  PLAIN = 0, PLAIN_DICTIONARY = 2, RLE = 3, BIT_PACKED = 4, DELTA_BINARY_PACKED = 5,
  DELTA_LENGTH_BYTE_ARRAY = 6, DELTA_BYTE_ARRAY = 7, RLE_DICTIONARY = 8, BYTE_STREAM_SPLIT = 9
};
// ConvertedType values used here.
enum Converted { C_UTF8 = 0, C_MAP = 1, C_MAP_KEY_VALUE = 2, C_LIST = 3, C_ENUM = 4, C_DECIMAL = 5,
                 C_UINT_8 = 11, C_UINT_16 = 12, C_UINT_32 = 13, C_UINT_64 = 14, C_JSON = 19 };
// LogicalType union members used here (field ids).
enum Logical { L_STRING = 1, L_MAP = 2, L_LIST = 3, L_ENUM = 4, L_DECIMAL = 5, L_INTEGER = 10, L_JSON = 12,
               L_UUID = 14, L_FLOAT16 = 15 };

struct SchemaElement {
  int type = -1;  // -1: a group
  int type_length = 0;
  int repetition = REQUIRED;
  bool has_repetition = false;
  std::string name;
  int num_children = 0;
  int converted_type = -1;
  int scale = 0, precision = 0;
  int logical = -1;             // LogicalType union member id
  bool int_signed = true;       // LogicalType INTEGER
};

struct ColumnMeta {
  int type = -1;
  std::vector<std::string> path;
  int codec = UNCOMPRESSED;
  int64_t num_values = 0;
  int64_t total_uncompressed_size = 0, total_compressed_size = 0;
  int64_t data_page_offset = -1, dictionary_page_offset = -1;
};

struct RowGroup {
  std::vector<ColumnMeta> columns;
  int64_t num_rows = 0;
};

struct FileMeta {
  std::vector<SchemaElement> schema;
  int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
  std::string created_by;
};

struct PageHeader {
  int type = -1;
  int32_t uncompressed_size = 0, compressed_size = 0;
  int32_t num_values = 0;
  int encoding = PLAIN;
  int def_encoding = RLE, rep_encoding = RLE;  // v1
  int32_t num_nulls = 0, num_rows = 0;         // v2
  int32_t def_length = 0, rep_length = 0;      // v2: level bytes before the values
  bool is_compressed = true;                   // v2
  bool has_body_header = false;
};

// Throws prospect::Error (without file context) on malformed input.
FileMeta parse_file_meta(const uint8_t* data, size_t size);
PageHeader parse_page_header(thrift::Reader& r);

const char* codec_name(int codec);
const char* encoding_name(int encoding);

}  // namespace prospect::io::pq
