// `prospect data inspect|convert`: look at a dataset before training on it (schema, row count, first
// rows) and turn Parquet shards / hub splits into one JSONL file. Inputs are anything data.train
// accepts (data/sources.h): files, directories, globs, "org/name:split" ids from the hub cache.
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include "command.h"
#include "prospect/core/error.h"
#include "prospect/core/temp_path.h"
#include "prospect/data/reader.h"
#include "prospect/data/sources.h"
#include "prospect/io/hub_cache.h"
#include "prospect/io/parquet.h"

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

struct DataArgs {
  std::string input, output;
  int64_t rows = 3;
};

const char* json_type(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::string: return "string";
    case ojson::value_t::boolean: return "bool";
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned: return "int64";
    case ojson::value_t::number_float: return "double";
    case ojson::value_t::array: return "list";
    case ojson::value_t::object: return "struct";
    default: return "null";
  }
}

// One line per row, invalid UTF-8 (binary columns) replaced rather than failing the whole dump.
std::string dump_row(const ojson& row) { return row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

int run_inspect(const DataArgs& a) {
  const auto files = prospect::data::expand_data_files({a.input});
  ojson out;
  out["input"] = a.input;
  if (prospect::io::is_dataset_split_id(a.input)) {
    auto split = prospect::io::resolve_dataset_split(a.input);
    out["dataset"] = {{"id", split.snapshot.repo_id}, {"split", split.split}, {"revision", split.snapshot.commit},
                      {"snapshot", split.snapshot.dir.string()}};
  }
  ojson schema = ojson::object(), first = ojson::array(), file_list = ojson::array();
  int64_t total = 0;
  for (const auto& f : files) {
    ojson info = {{"path", f.string()}};
    if (prospect::data::is_parquet_file(f)) {
      prospect::io::ParquetReader r(f);
      info["format"] = "parquet";
      info["rows"] = r.num_rows();
      info["row_groups"] = r.num_row_groups();
      info["created_by"] = r.created_by();
      if (schema.empty())
        for (const auto& [name, type] : r.schema()) schema[name] = type;
      total += r.num_rows();
      for (int g = 0; g < r.num_row_groups() && (int64_t)first.size() < a.rows; ++g)
        for (auto& row : r.read_row_group(g))
          if ((int64_t)first.size() < a.rows) first.push_back(std::move(row));
    } else {
      int64_t n = 0;
      prospect::data::for_each_row(f, {}, [&](ojson&& row, const std::string&) {
        if (schema.empty() && row.is_object())
          for (auto& [k, v] : row.items()) schema[k] = json_type(v);
        if ((int64_t)first.size() < a.rows) first.push_back(std::move(row));
        ++n;
      });
      info["format"] = "json";
      info["rows"] = n;
      total += n;
    }
    file_list.push_back(info);
  }
  out["files"] = file_list;
  out["num_rows"] = total;
  out["schema"] = schema;
  out["first_rows"] = first;
  std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

int run_convert(const DataArgs& a) {
  const auto files = prospect::data::expand_data_files({a.input});
  const fs::path out_path = a.output;
  if (out_path.has_parent_path()) fs::create_directories(out_path.parent_path());
  const fs::path tmp = prospect::temp_sibling(out_path);
  int64_t n = 0;
  try {
    std::ofstream os(tmp, std::ios::binary);
    if (!os) throw prospect::Error(tmp.string(), "cannot write");
    for (const auto& f : files)
      prospect::data::for_each_row(f, {}, [&](ojson&& row, const std::string&) {
        os << dump_row(row) << '\n';
        ++n;
      });
    os.close();
    if (!os) throw prospect::Error(out_path.string(), "write failed (disk full?)");
    fs::rename(tmp, out_path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  spdlog::info("wrote {} rows from {} file(s) to {}", n, files.size(), out_path.string());
  std::cout << ojson{{"output", out_path.string()}, {"rows", n}, {"files", files.size()}}.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_data(CLI::App& app) {
  auto a = std::make_shared<DataArgs>();
  app.require_subcommand(1);
  auto* inspect = app.add_subcommand("inspect", "schema, row count and first rows of a dataset (JSON on stdout)");
  inspect->add_option("input", a->input, "file (.parquet/.jsonl/.json), directory, glob, or hub id org/name:split")
      ->required();
  inspect->add_option("--rows", a->rows, "how many first rows to show (default 3)")->check(CLI::NonNegativeNumber);
  auto* convert = app.add_subcommand("convert", "write a dataset (parquet shards, hub split, ...) as one JSONL file");
  convert->add_option("input", a->input, "file, directory, glob, or hub id org/name:split")->required();
  convert->add_option("output", a->output, "output .jsonl (written atomically)")->required();
  return [a, inspect] { return inspect->parsed() ? run_inspect(*a) : run_convert(*a); };
}

}  // namespace

PROSPECT_COMMAND("data", "inspect a dataset or convert it to JSONL (parquet, JSONL, hub dataset ids)", setup_data);
