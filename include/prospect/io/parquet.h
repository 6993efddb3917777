#pragma once
// Reading Apache Parquet files (what Hugging Face datasets publish) into JSON rows, without Arrow.
// Supported: flat and nested columns (structs, lists -- e.g. list<struct<content, role>> message
// columns -- via Dremel repetition/definition levels), nulls, BOOLEAN / INT32 / INT64 / INT96 /
// FLOAT / DOUBLE / BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY, PLAIN, dictionary (PLAIN_DICTIONARY,
// RLE_DICTIONARY), RLE booleans, DELTA_* and BYTE_STREAM_SPLIT encodings, data pages v1 and v2,
// and SNAPPY / GZIP / ZSTD / uncompressed pages. Not supported (clear error): encrypted files, LZ4,
// BROTLI, LZO, column chunks stored in other files.
//
// Rows stream one row group at a time, so memory is bounded by a row group, not by the file. Only the
// selected top-level columns are read; the bytes of the others are never touched. Every malformed or
// truncated input throws prospect::Error naming the file (and the column when one is concerned).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace prospect::io {

class ParquetReader {
 public:
  // Opens the file and reads and validates its footer (schema, row groups).
  explicit ParquetReader(const std::filesystem::path& path);
  ~ParquetReader();
  ParquetReader(const ParquetReader&) = delete;
  ParquetReader& operator=(const ParquetReader&) = delete;

  int64_t num_rows() const;
  int num_row_groups() const;
  int64_t row_group_rows(int group) const;
  std::string created_by() const;
  // Top-level column names, in schema order.
  std::vector<std::string> columns() const;
  // Arrow-style type of each top-level column ("string", "double", "list<struct<content: string,
  // role: string>>"), in schema order.
  std::vector<std::pair<std::string, std::string>> schema() const;

  // Restricts reading to these top-level columns (names missing from the file are ignored).
  // An empty list selects every column (the default).
  void select(const std::vector<std::string>& columns);

  // The rows of one row group, as JSON objects whose keys follow the schema order. Lists are JSON
  // arrays, structs objects, nulls null; strings are UTF-8 strings.
  std::vector<nlohmann::ordered_json> read_row_group(int group) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Every row of a file, in order, holding one row group in memory at a time:
// fn(row, 0-based row index in the file). `columns` as in ParquetReader::select.
void for_each_parquet_row(const std::filesystem::path& path, const std::vector<std::string>& columns,
                          const std::function<void(nlohmann::ordered_json&& row, int64_t index)>& fn);

}  // namespace prospect::io
