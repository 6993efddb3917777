#include "parquet_format.h"

#include "thrift_compact.h"

namespace prospect::io::pq {

using thrift::Reader;

namespace {

void parse_logical(Reader& r, SchemaElement& e) {
  r.struct_begin();
  int16_t id;
  uint8_t t;
  while (r.next_field(id, t)) {
    if (e.logical < 0 && t == thrift::kStruct) e.logical = id;
    if (id == L_INTEGER && t == thrift::kStruct) {
      r.struct_begin();
      int16_t iid;
      uint8_t it;
      while (r.next_field(iid, it)) {
        if (iid == 2) e.int_signed = r.read_bool(it);
        else r.skip(it);
      }
      r.struct_end();
    } else if (id == L_DECIMAL && t == thrift::kStruct) {
      r.struct_begin();
      int16_t did;
      uint8_t dt;
      while (r.next_field(did, dt)) {
        if (did == 1) e.scale = r.read_i32(dt);
        else if (did == 2) e.precision = r.read_i32(dt);
        else r.skip(dt);
      }
      r.struct_end();
    } else {
      r.skip(t);
    }
  }
  r.struct_end();
}

SchemaElement parse_schema_element(Reader& r) {
  SchemaElement e;
  r.struct_begin();
  int16_t id;
  uint8_t t;
  while (r.next_field(id, t)) {
    switch (id) {
      case 1: e.type = r.read_i32(t); break;
      case 2: e.type_length = r.read_i32(t); break;
      case 3: e.repetition = r.read_i32(t); e.has_repetition = true; break;
      case 4: e.name = r.read_string(t); break;
      case 5: e.num_children = r.read_i32(t); break;
      case 6: e.converted_type = r.read_i32(t); break;
      case 7: e.scale = r.read_i32(t); break;
      case 8: e.precision = r.read_i32(t); break;
      case 10:
        if (t == thrift::kStruct) parse_logical(r, e);
        else r.skip(t);
        break;
      default: r.skip(t);
    }
  }
  r.struct_end();
  if (e.type < -1 || e.type > FIXED_LEN_BYTE_ARRAY) r.fail("unknown physical type " + std::to_string(e.type));
  if (e.repetition < REQUIRED || e.repetition > REPEATED) r.fail("unknown repetition " + std::to_string(e.repetition));
  if (e.num_children < 0) r.fail("negative num_children");
  return e;
}

ColumnMeta parse_column_meta(Reader& r) {
  ColumnMeta m;
  r.struct_begin();
  int16_t id;
  uint8_t t;
  while (r.next_field(id, t)) {
    switch (id) {
      case 1: m.type = r.read_i32(t); break;
      case 3: {
        uint8_t et;
        uint32_t n = r.read_list(t, et);
        for (uint32_t i = 0; i < n; ++i) m.path.push_back(r.read_string(et));
        break;
      }
      case 4: m.codec = r.read_i32(t); break;
      case 5: m.num_values = r.read_i64(t); break;
      case 6: m.total_uncompressed_size = r.read_i64(t); break;
      case 7: m.total_compressed_size = r.read_i64(t); break;
      case 9: m.data_page_offset = r.read_i64(t); break;
      case 11: m.dictionary_page_offset = r.read_i64(t); break;
      default: r.skip(t);
    }
  }
  r.struct_end();
  return m;
}

ColumnMeta parse_column_chunk(Reader& r) {
  ColumnMeta m;
  bool has_meta = false;
  r.struct_begin();
  int16_t id;
  uint8_t t;
  while (r.next_field(id, t)) {
    if (id == 1) {
      // file_path: the chunk lives in another file (a "summary" footer); not supported.
      std::string p = r.read_string(t);
      if (!p.empty()) r.fail("column chunk stored in another file ('" + p + "') is not supported");
    } else if (id == 3 && t == thrift::kStruct) {
      m = parse_column_meta(r);
      has_meta = true;
    } else {
      r.skip(t);
    }
  }
  r.struct_end();
  if (!has_meta) r.fail("column chunk without metadata");
  return m;
}

RowGroup parse_row_group(Reader& r) {
  RowGroup g;
  r.struct_begin();
  int16_t id;
  uint8_t t;
  while (r.next_field(id, t)) {
    if (id == 1) {
      uint8_t et;
      uint32_t n = r.read_list(t, et);
      if (et != thrift::kStruct) r.fail("row group columns are not structs");
      for (uint32_t i = 0; i < n; ++i) g.columns.push_back(parse_column_chunk(r));
    } else if (id == 3) {
      g.num_rows = r.read_i64(t);
    } else {
      r.skip(t);
    }
  }
  r.struct_end();
  if (g.num_rows < 0) r.fail("negative row count");
  return g;
}

}  // namespace

FileMeta parse_file_meta(const uint8_t* data, size_t size) {
  Reader r(data, size);
  FileMeta f;
  r.struct_begin();
  int16_t id;
  uint8_t t;
  while (r.next_field(id, t)) {
    switch (id) {
      case 2: {
        uint8_t et;
        uint32_t n = r.read_list(t, et);
        if (et != thrift::kStruct) r.fail("schema elements are not structs");
        for (uint32_t i = 0; i < n; ++i) f.schema.push_back(parse_schema_element(r));
        break;
      }
      case 3: f.num_rows = r.read_i64(t); break;
      case 4: {
        uint8_t et;
        uint32_t n = r.read_list(t, et);
        if (et != thrift::kStruct) r.fail("row groups are not structs");
        for (uint32_t i = 0; i < n; ++i) f.row_groups.push_back(parse_row_group(r));
        break;
      }
      case 6: f.created_by = r.read_string(t); break;
      default: r.skip(t);
    }
  }
  r.struct_end();
  if (f.schema.empty()) r.fail("no schema");
  if (f.num_rows < 0) r.fail("negative row count");
  return f;
}

PageHeader parse_page_header(Reader& r) {
  PageHeader h;
  r.struct_begin();
  int16_t id;
  uint8_t t;
  while (r.next_field(id, t)) {
    switch (id) {
      case 1: h.type = r.read_i32(t); break;
      case 2: h.uncompressed_size = r.read_i32(t); break;
      case 3: h.compressed_size = r.read_i32(t); break;
      case 5:  // DataPageHeader
      case 7:  // DictionaryPageHeader
      case 8: {  // DataPageHeaderV2
        if (t != thrift::kStruct) r.fail("page header body is not a struct");
        h.has_body_header = true;
        r.struct_begin();
        int16_t bid;
        uint8_t bt;
        while (r.next_field(bid, bt)) {
          if (bid == 1) h.num_values = r.read_i32(bt);
          else if (id == 5 && bid == 2) h.encoding = r.read_i32(bt);
          else if (id == 5 && bid == 3) h.def_encoding = r.read_i32(bt);
          else if (id == 5 && bid == 4) h.rep_encoding = r.read_i32(bt);
          else if (id == 7 && bid == 2) h.encoding = r.read_i32(bt);
          else if (id == 8 && bid == 2) h.num_nulls = r.read_i32(bt);
          else if (id == 8 && bid == 3) h.num_rows = r.read_i32(bt);
          else if (id == 8 && bid == 4) h.encoding = r.read_i32(bt);
          else if (id == 8 && bid == 5) h.def_length = r.read_i32(bt);
          else if (id == 8 && bid == 6) h.rep_length = r.read_i32(bt);
          else if (id == 8 && bid == 7) h.is_compressed = r.read_bool(bt);
          else r.skip(bt);
        }
        r.struct_end();
        break;
      }
      default: r.skip(t);
    }
  }
  r.struct_end();
  if (h.uncompressed_size < 0 || h.compressed_size < 0 || h.num_values < 0 || h.def_length < 0 || h.rep_length < 0)
    r.fail("negative size in page header");
  return h;
}

const char* codec_name(int c) {
  static const char* names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
  return c >= 0 && c < 8 ? names[c] : "unknown";
}

const char* encoding_name(int e) {
  static const char* names[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
                                "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
                                "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
  return e >= 0 && e < 10 ? names[e] : "unknown";
}

}  // namespace prospect::io::pq
