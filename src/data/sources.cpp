#include "prospect/data/sources.h"

#include <glob.h>

#include <algorithm>

#include "prospect/core/error.h"
#include "prospect/data/reader.h"
#include "prospect/io/hub_cache.h"
#include "prospect/io/parquet.h"

namespace prospect::data {

namespace fs = std::filesystem;

namespace {

bool is_data_file(const fs::path& p) {
  const std::string e = p.extension().string();
  return e == ".parquet" || e == ".jsonl" || e == ".json";
}

std::vector<fs::path> glob_files(const std::string& pattern) {
  glob_t g{};
  std::vector<fs::path> out;
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);  // results come sorted by name
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      std::error_code ec;
      if (fs::is_regular_file(g.gl_pathv[i], ec)) out.emplace_back(g.gl_pathv[i]);
    }
  globfree(&g);
  return out;
}

}  // namespace

bool is_parquet_file(const fs::path& path) { return path.extension() == ".parquet"; }

const std::vector<std::string>& preference_columns() {
  static const std::vector<std::string> cols = {"prompt", "chosen", "rejected", "completion", "label", "tools",
                                                "chat_template_kwargs"};
  return cols;
}

std::vector<fs::path> expand_data_files(const std::vector<fs::path>& entries) {
  std::vector<fs::path> out;
  for (const auto& entry : entries) {
    const std::string s = entry.string();
    std::error_code ec;
    if (fs::is_regular_file(entry, ec)) {
      out.push_back(entry);
    } else if (fs::is_directory(entry, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(entry, ec))
        if (fs::is_regular_file(e.path(), ec) && is_data_file(e.path())) files.push_back(e.path());
      if (files.empty()) throw Error(s, "directory has no .parquet, .jsonl or .json files");
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else if (s.find_first_of("*?[") != std::string::npos) {
      auto files = glob_files(s);
      if (files.empty()) throw Error(s, "no data file matches this pattern");
      out.insert(out.end(), files.begin(), files.end());
    } else if (io::is_dataset_split_id(s)) {
      auto split = io::resolve_dataset_split(s);
      out.insert(out.end(), split.files.begin(), split.files.end());
    } else {
      throw Error(s, "data file not found");
    }
  }
  return out;
}

void for_each_row(const fs::path& path, const std::vector<std::string>& columns,
                  const std::function<void(ojson&&, const std::string&)>& fn) {
  if (is_parquet_file(path)) {
    io::for_each_parquet_row(path, columns, [&](ojson&& row, int64_t i) {
      fn(std::move(row), path.string() + ":row " + std::to_string(i + 1));
    });
    return;
  }
  for_each_json_row(path, [&](const std::string& text, const std::string& source) {
    ojson row;
    try {
      row = ojson::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(source, std::string("malformed JSON: ") + e.what());
    }
    fn(std::move(row), source);
  });
}

}  // namespace prospect::data
