#pragma once
// Shared test helpers: source/binary locations, temporary directories, running the CLI.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace prospect::test {

inline std::filesystem::path source_dir() { return PROSPECT_SOURCE_DIR; }
inline std::filesystem::path golden_dir() { return source_dir() / "tests" / "golden"; }
inline std::filesystem::path cli_path() { return PROSPECT_CLI; }
// The real Qwen3 tokenizer fetched by scripts/fetch_assets.sh (an ignored cache directory).
inline std::filesystem::path qwen3_tokenizer_dir() { return source_dir() / ".cache" / "tokenizers" / "qwen3"; }

// The inputs that once crashed a fuzz target (fuzz/regressions/<target>/), sorted. The fuzz run replays
// them under the sanitizers; each parser's unit tests replay them too, so a plain build catches them.
inline std::vector<std::filesystem::path> fuzz_regressions(const std::string& target) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() / "fuzz" / "regressions" / target))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The rows of a JSONL file (blank lines skipped), with their key order kept.
inline std::vector<nlohmann::ordered_json> read_jsonl_rows(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<nlohmann::ordered_json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::ordered_json::parse(line));
  return rows;
}

// A fresh temporary directory removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "prospect-test-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int rc;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a shell command line, capturing stdout and stderr.
RunResult run_command(const std::string& cmdline);
// Runs the prospect CLI with the given argument string.
inline RunResult run_cli(const std::string& args) { return run_command("'" + cli_path().string() + "' " + args); }

}  // namespace prospect::test
