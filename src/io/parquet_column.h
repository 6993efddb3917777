#pragma once
// Decoding one column chunk of a Parquet file: pages (v1, v2, dictionary), decompression (SNAPPY,
// GZIP, ZSTD), RLE/bit-packed hybrid levels and the value encodings (PLAIN, dictionary, RLE
// booleans, DELTA_*, BYTE_STREAM_SPLIT), into Dremel triplets whose values are JSON scalars.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "parquet_format.h"

namespace prospect::io::pq {

using ojson = nlohmann::ordered_json;

// What a leaf column holds and how its values become JSON.
struct LeafInfo {
  int type = -1;
  int type_length = 0;
  int converted = -1, logical = -1;
  bool int_signed = true;
  int scale = 0;
  int16_t max_def = 0, max_rep = 0;
};

struct ColumnData {
  std::vector<int16_t> def, rep;  // one per level entry; empty when max_def / max_rep is 0
  std::vector<ojson> values;      // one per entry whose def == max_def
  int64_t entries = 0;            // level entries (= values when nothing is optional or repeated)
};

// Throws prospect::Error (without file/column context) on any inconsistency.
ColumnData decode_column_chunk(const uint8_t* chunk, size_t size, const ColumnMeta& meta, const LeafInfo& leaf);

}  // namespace prospect::io::pq
