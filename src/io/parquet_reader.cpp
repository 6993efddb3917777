// Parquet footer, schema tree and record assembly (Dremel levels -> JSON rows). Page decoding is in
// parquet_column.cpp, the footer's Thrift structs in parquet_format.cpp.
#include "prospect/io/parquet.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "parquet_column.h"
#include "parquet_format.h"
#include "prospect/core/error.h"

namespace prospect::io {

using ojson = nlohmann::ordered_json;
using namespace pq;

namespace {

constexpr int kMaxSchemaDepth = 64;
constexpr uint32_t kMaxFooterBytes = 256u << 20;
// Rows of one row group held as JSON at once; real files use thousands to a million.
constexpr int64_t kMaxRowGroupRows = int64_t(1) << 26;  // pyarrow's old default cap (64 Mi rows)

// How a schema node maps onto JSON, relative to its parent.
enum Role {
  kKey,      // a member of the parent object
  kKeyElem,  // a bare repeated field of a struct (legacy lists): member array + its elements
  kElem,     // the repeated child of a LIST/MAP group: one array element per repetition
  kPass,     // the element child of a 3-level list: the array element itself
};

struct Node {
  int elem = 0, parent = -1;
  std::vector<int> children;
  int16_t def = 0, rep = 0;
  Role role = kKey;
  bool is_list = false;  // LIST/MAP group: a JSON array
  bool wrapper = false;  // the repeated group of a 3-level list: transparent, its child is the element
  int leaf = -1;         // index among the leaf columns
  std::string path;      // dotted, for messages
};

bool annotated_list(const SchemaElement& e) {
  return e.converted_type == C_LIST || e.converted_type == C_MAP || e.converted_type == C_MAP_KEY_VALUE ||
         e.logical == L_LIST || e.logical == L_MAP;
}

std::string leaf_type_name(const SchemaElement& e) {
  const bool uns = (e.logical == L_INTEGER && !e.int_signed) || (e.converted_type >= C_UINT_8 && e.converted_type <= C_UINT_64);
  if (e.logical == L_DECIMAL || e.converted_type == C_DECIMAL)
    return "decimal(" + std::to_string(e.precision) + ", " + std::to_string(e.scale) + ")";
  switch (e.type) {
    case BOOLEAN: return "bool";
    case INT32: return uns ? "uint32" : "int32";
    case INT64: return uns ? "uint64" : "int64";
    case INT96: return "timestamp[ns]";
    case FLOAT: return "float";
    case DOUBLE: return "double";
    case BYTE_ARRAY:
      return e.converted_type == C_UTF8 || e.converted_type == C_JSON || e.converted_type == C_ENUM ||
                     e.logical == L_STRING || e.logical == L_JSON || e.logical == L_ENUM
                 ? "string"
                 : "binary";
    case FIXED_LEN_BYTE_ARRAY:
      if (e.logical == L_FLOAT16) return "halffloat";
      if (e.logical == L_UUID) return "uuid";
      return "fixed_size_binary[" + std::to_string(e.type_length) + "]";
  }
  return "?";
}

}  // namespace

struct ParquetReader::Impl {
  std::filesystem::path path;
  std::string name;
  mutable std::ifstream in;
  uint64_t file_size = 0, data_end = 0;
  FileMeta meta;
  std::vector<Node> nodes;  // nodes[0] is the root
  std::vector<int> leaf_nodes;
  std::set<std::string> selected;  // empty: all

  [[noreturn]] void fail(const std::string& msg) const { throw Error(name, msg); }

  int build(size_t& next, int depth, int parent) {
    if (next >= meta.schema.size()) fail("schema ends early (num_children larger than the element list)");
    if (depth > kMaxSchemaDepth) fail("schema nested too deeply");
    const int id = (int)nodes.size();
    nodes.push_back(Node{});
    const SchemaElement& e = meta.schema[next];
    nodes[id].elem = (int)next++;
    nodes[id].parent = parent;
    if (parent >= 0) {
      const Node& p = nodes[parent];
      const SchemaElement& pe = meta.schema[p.elem];
      const int16_t opt = e.repetition != REQUIRED, rpt = e.repetition == REPEATED;
      nodes[id].def = (int16_t)(p.def + opt);
      nodes[id].rep = (int16_t)(p.rep + rpt);
      nodes[id].path = p.path.empty() ? e.name : p.path + "." + e.name;
      if (p.is_list) {
        if (e.repetition != REPEATED) fail("column '" + nodes[id].path + "': the child of a LIST group must be repeated");
        nodes[id].role = kElem;
        // Parquet's list compatibility rules: a repeated group with one field is a 3-level list's
        // wrapper unless it is named "array" or "<list>_tuple" (old 2-level writers).
        nodes[id].wrapper = e.type < 0 && e.num_children == 1 && e.name != "array" && e.name != pe.name + "_tuple";
      } else if (p.wrapper) {
        nodes[id].role = kPass;
      } else {
        nodes[id].role = e.repetition == REPEATED ? kKeyElem : kKey;
      }
    }
    if (e.type < 0) {
      nodes[id].is_list = parent >= 0 && annotated_list(e) && e.repetition != REPEATED;
      if (e.num_children == 0 && parent >= 0) fail("column '" + nodes[id].path + "': empty group");
      // Each JSON array element or object member has one schema node: a LIST/MAP group has exactly
      // one (repeated) child, and siblings have distinct names. Otherwise two columns would build
      // different values in the same place, and their levels could never be assembled.
      if (nodes[id].is_list && e.num_children != 1)
        fail("column '" + nodes[id].path + "': a LIST/MAP group must have exactly one child (it has " +
             std::to_string(e.num_children) + ")");
      std::set<std::string> names;
      for (int c = 0; c < e.num_children; ++c) {
        const int child = build(next, depth + 1, id);
        nodes[id].children.push_back(child);
        const std::string& cname = meta.schema[nodes[child].elem].name;
        if (!names.insert(cname).second)
          fail("column '" + nodes[child].path + "': two fields of the same group share the name '" + cname + "'");
      }
    } else {
      if (parent < 0) fail("schema root is not a group");
      nodes[id].leaf = (int)leaf_nodes.size();
      leaf_nodes.push_back(id);
    }
    return id;
  }

  std::string type_name(int id) const {
    const Node& n = nodes[id];
    const SchemaElement& e = meta.schema[n.elem];
    std::string t;
    if (n.leaf >= 0) {
      t = leaf_type_name(e);
    } else if (n.is_list) {
      t = "list<" + type_name(n.children[0]) + ">";
    } else if (n.wrapper) {
      return type_name(n.children[0]);
    } else {
      t = "struct<";
      for (size_t i = 0; i < n.children.size(); ++i) {
        if (i) t += ", ";
        t += meta.schema[nodes[n.children[i]].elem].name + ": " + type_name(n.children[i]);
      }
      t += ">";
    }
    // A repeated field outside a LIST group is itself a list (legacy layout).
    if (n.role == kKeyElem) t = "list<" + t + ">";
    return t;
  }

  void read_bytes(uint64_t at, size_t n, uint8_t* dst) const {
    in.clear();
    in.seekg((std::streamoff)at);
    in.read((char*)dst, (std::streamsize)n);
    if ((size_t)in.gcount() != n) fail("read error (file truncated while reading?)");
  }

  void open() {
    in.open(path, std::ios::binary);
    if (!in) fail("cannot open file");
    std::error_code ec;
    file_size = std::filesystem::file_size(path, ec);
    if (ec) fail("cannot stat file");
    if (file_size < 12) fail("not a Parquet file (too short: " + std::to_string(file_size) + " bytes)");
    uint8_t head[4], tail[8];
    read_bytes(0, 4, head);
    read_bytes(file_size - 8, 8, tail);
    if (std::memcmp(tail + 4, "PARE", 4) == 0) fail("encrypted Parquet files are not supported");
    if (std::memcmp(head, "PAR1", 4) != 0 || std::memcmp(tail + 4, "PAR1", 4) != 0)
      fail("not a Parquet file (no PAR1 magic at start and end; truncated?)");
    const uint32_t footer = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
    if (footer > kMaxFooterBytes || footer > file_size - 12) fail("footer length " + std::to_string(footer) + " is larger than the file");
    data_end = file_size - 8 - footer;
    std::vector<uint8_t> buf(footer);
    read_bytes(data_end, footer, buf.data());
    try {
      meta = parse_file_meta(buf.data(), buf.size());
    } catch (const Error& e) {
      fail(std::string("footer: ") + e.what());
    }
    size_t next = 0;
    build(next, 0, -1);
    if (next != meta.schema.size()) fail("schema has elements outside the root group");
    int64_t total = 0;
    for (size_t g = 0; g < meta.row_groups.size(); ++g) {
      const RowGroup& rg = meta.row_groups[g];
      if (rg.columns.size() != leaf_nodes.size())
        fail("row group " + std::to_string(g) + " has " + std::to_string(rg.columns.size()) + " column chunks, the schema " +
             std::to_string(leaf_nodes.size()) + " leaf columns");
      for (size_t c = 0; c < rg.columns.size(); ++c) {
        const ColumnMeta& cm = rg.columns[c];
        const Node& n = nodes[leaf_nodes[c]];
        if (cm.type != meta.schema[n.elem].type)
          fail("column '" + n.path + "': row group " + std::to_string(g) + " stores another physical type than the schema");
        if (cm.num_values < 0 || cm.total_compressed_size < 0) fail("column '" + n.path + "': negative size in metadata");
      }
      total += rg.num_rows;
    }
    if (total != meta.num_rows)
      fail("row groups hold " + std::to_string(total) + " rows, the footer says " + std::to_string(meta.num_rows));
  }

  bool wanted(int top_node) const {
    return selected.empty() || selected.count(meta.schema[nodes[top_node].elem].name) > 0;
  }

  void collect_leaves(int id, std::vector<int>& out) const {
    if (nodes[id].leaf >= 0) out.push_back(id);
    for (int c : nodes[id].children) collect_leaves(c, out);
  }

  // Inserts one leaf column's triplets into the rows (see the Role comments).
  void assemble(const Node& leaf, const std::vector<int>& path, pq::ColumnData& d, std::vector<ojson>& rows) const {
    const int16_t max_def = leaf.def, max_rep = leaf.rep;
    const std::string& top = meta.schema[nodes[path[0]].elem].name;
    size_t v = 0;
    if (path.size() == 1 && max_rep == 0) {
      if (d.entries != (int64_t)rows.size()) throw Error("", "holds " + std::to_string(d.entries) + " values for " + std::to_string(rows.size()) + " rows");
      for (size_t i = 0; i < rows.size(); ++i) {
        const bool defined = max_def == 0 || d.def[i] == max_def;
        if (defined && v >= d.values.size()) throw Error("", "fewer values than definition levels");
        rows[i][top] = defined ? std::move(d.values[v++]) : ojson();
      }
      return;
    }
    std::vector<size_t> counter((size_t)max_rep + 1, 0);
    int64_t row = -1;
    for (int64_t i = 0; i < d.entries; ++i) {
      const int16_t r = max_rep ? d.rep[(size_t)i] : 0;
      const int16_t dl = max_def ? d.def[(size_t)i] : 0;
      if (r == 0) {
        if (++row >= (int64_t)rows.size()) throw Error("", "holds more rows than its row group");
      } else if (row < 0) {
        throw Error("", "first value continues a row (repetition level > 0)");
      }
      if (r > 0) ++counter[(size_t)r];
      for (size_t L = (size_t)r + 1; L <= (size_t)max_rep; ++L) counter[L] = 0;
      ojson* cur = &rows[(size_t)row];
      for (int id : path) {
        const Node& n = nodes[id];
        const std::string& name = meta.schema[n.elem].name;
        ojson* slot;
        if (n.role == kKey || n.role == kPass) {
          slot = n.role == kKey ? &(*cur)[name] : cur;
          if (dl < n.def) break;  // null (a new key is null already)
        } else {
          ojson* arr = cur;
          if (n.role == kKeyElem) {
            arr = &(*cur)[name];
            if (arr->is_null()) *arr = ojson::array();
          }
          if (dl < n.def) break;  // an empty list
          const size_t idx = counter[(size_t)n.rep];
          if (idx == arr->size()) arr->push_back(ojson());
          else if (idx > arr->size()) throw Error("", "repetition levels skip a list element");
          slot = &(*arr)[idx];
        }
        if (n.leaf >= 0) {
          if (v >= d.values.size()) throw Error("", "fewer values than definition levels");
          *slot = std::move(d.values[v++]);
        } else if (!n.wrapper && slot->is_null()) {
          if (n.is_list) {
            *slot = ojson::array();
          } else {
            // ordered_json objects are vectors of pair<const key, value>: growing one copies every
            // member (the const key forbids moves), so give each struct its final size up front.
            *slot = ojson::object();
            slot->get_ref<ojson::object_t&>().reserve(n.children.size());
          }
        }
        cur = slot;
      }
    }
    if (row + 1 != (int64_t)rows.size())
      throw Error("", "holds " + std::to_string(row + 1) + " rows, its row group " + std::to_string(rows.size()));
    if (v != d.values.size()) throw Error("", "more values than definition levels");
  }

  std::vector<ojson> read_group(int g) const {
    if (g < 0 || g >= (int)meta.row_groups.size()) fail("no row group " + std::to_string(g));
    const RowGroup& rg = meta.row_groups[(size_t)g];
    if (rg.num_rows > kMaxRowGroupRows)
      fail("row group " + std::to_string(g) + " claims " + std::to_string(rg.num_rows) + " rows (corrupt footer?)");
    // Every row gets its selected keys (null) in schema order up front: objects never grow later
    // (see assemble), and a column whose values are all absent still appears as null.
    ojson proto = ojson::object();
    std::vector<int> tops;
    for (int top : nodes[0].children)
      if (wanted(top)) tops.push_back(top);
    proto.get_ref<ojson::object_t&>().reserve(tops.size());
    for (int top : tops) proto[meta.schema[nodes[top].elem].name] = nullptr;
    std::vector<ojson> rows((size_t)rg.num_rows, proto);
    std::vector<uint8_t> chunk;
    for (int top : tops) {
      std::vector<int> leaves;
      collect_leaves(top, leaves);
      for (int lid : leaves) {
        const Node& n = nodes[lid];
        const ColumnMeta& cm = rg.columns[(size_t)n.leaf];
        const std::string where = "column '" + n.path + "' (row group " + std::to_string(g) + ")";
        try {
          // Without repetition every row is exactly one level entry.
          if (n.rep == 0 && cm.num_values != rg.num_rows)
            throw Error("", "holds " + std::to_string(cm.num_values) + " values for " + std::to_string(rg.num_rows) + " rows");
          int64_t start = cm.data_page_offset;
          if (cm.dictionary_page_offset > 0 && cm.dictionary_page_offset < start) start = cm.dictionary_page_offset;
          if (start < 4 || cm.total_compressed_size < 0 || (uint64_t)start > data_end ||
              (uint64_t)cm.total_compressed_size > data_end - (uint64_t)start)
            throw Error("", "column chunk lies outside the file's data (truncated file?)");
          chunk.resize((size_t)cm.total_compressed_size);
          read_bytes((uint64_t)start, chunk.size(), chunk.data());
          const SchemaElement& e = meta.schema[n.elem];
          LeafInfo li;
          li.type = e.type;
          li.type_length = e.type_length;
          li.converted = e.converted_type;
          li.logical = e.logical;
          li.int_signed = e.int_signed;
          li.scale = e.scale;
          li.max_def = n.def;
          li.max_rep = n.rep;
          ColumnData d = decode_column_chunk(chunk.data(), chunk.size(), cm, li);
          std::vector<int> path;
          for (int id = lid; id != 0; id = nodes[id].parent) path.insert(path.begin(), id);
          assemble(n, path, d, rows);
        } catch (const Error& err) {
          fail(where + ": " + err.what());
        } catch (const nlohmann::json::exception&) {
          // Levels that contradict the nesting. The schema checks in build() rule out the case the
          // parquet fuzzer found (sibling fields sharing a name); kept so anything missed is one error.
          fail(where + ": repetition/definition levels do not match the schema's nesting");
        } catch (const std::bad_alloc&) {
          // Sizes in a corrupt header can ask for more than any real page holds.
          fail(where + ": out of memory decoding it (corrupt sizes?)");
        }
      }
    }
    return rows;
  }
};

ParquetReader::ParquetReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->name = path.string();
  impl_->open();
}

ParquetReader::~ParquetReader() = default;

int64_t ParquetReader::num_rows() const { return impl_->meta.num_rows; }
int ParquetReader::num_row_groups() const { return (int)impl_->meta.row_groups.size(); }
int64_t ParquetReader::row_group_rows(int g) const {
  if (g < 0 || g >= num_row_groups()) impl_->fail("no row group " + std::to_string(g));
  return impl_->meta.row_groups[(size_t)g].num_rows;
}
std::string ParquetReader::created_by() const { return impl_->meta.created_by; }

std::vector<std::string> ParquetReader::columns() const {
  std::vector<std::string> out;
  for (int c : impl_->nodes[0].children) out.push_back(impl_->meta.schema[impl_->nodes[c].elem].name);
  return out;
}

std::vector<std::pair<std::string, std::string>> ParquetReader::schema() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (int c : impl_->nodes[0].children) out.emplace_back(impl_->meta.schema[impl_->nodes[c].elem].name, impl_->type_name(c));
  return out;
}

void ParquetReader::select(const std::vector<std::string>& columns) {
  impl_->selected = std::set<std::string>(columns.begin(), columns.end());
  // Names absent from the file select nothing; keep "select only these" meaning for the rest.
  if (!impl_->selected.empty()) impl_->selected.insert("\x01none");
}

std::vector<ojson> ParquetReader::read_row_group(int group) const { return impl_->read_group(group); }

void for_each_parquet_row(const std::filesystem::path& path, const std::vector<std::string>& columns,
                          const std::function<void(ojson&&, int64_t)>& fn) {
  ParquetReader r(path);
  r.select(columns);
  int64_t index = 0;
  for (int g = 0; g < r.num_row_groups(); ++g) {
    std::vector<ojson> rows = r.read_row_group(g);
    for (auto& row : rows) fn(std::move(row), index++);
  }
}

}  // namespace prospect::io
