#pragma once
// Where `data.train` / `data.eval` entries point, and reading their rows as JSON objects whatever the
// file format. An entry is one of:
//   * a file: .parquet, or JSONL / JSON array (any other extension);
//   * a directory: its .parquet / .jsonl / .json files (not recursive), in name order;
//   * a glob ("shards/train-*.parquet"): the matching files in name order;
//   * a Hugging Face dataset split "org/name[@revision]:split", resolved offline in the hub cache
//     (io/hub_cache.h) to data/<split>-*.parquet of the cached snapshot.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace prospect::data {

// Every entry expanded to files, keeping the entries' order. Throws prospect::Error naming the entry
// when it matches nothing.
std::vector<std::filesystem::path> expand_data_files(const std::vector<std::filesystem::path>& entries);

bool is_parquet_file(const std::filesystem::path& path);

// The top-level columns the preference-row schema reads (see reader.h); parquet files read only these.
const std::vector<std::string>& preference_columns();

// Visits every row of one file in order: fn(row, "file:line" or "file:row N").
// Parquet rows are read column-wise (only `columns`, all when empty); JSONL text is parsed here,
// and a malformed line throws prospect::Error naming file:line.
void for_each_row(const std::filesystem::path& path, const std::vector<std::string>& columns,
                  const std::function<void(nlohmann::ordered_json&& row, const std::string& source)>& fn);

}  // namespace prospect::data
