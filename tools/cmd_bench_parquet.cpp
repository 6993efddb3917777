// `prospect bench-parquet` (hidden): Parquet read throughput in MB/s of file bytes, rows decoded all
// the way to the JSON rows training consumes. Best of --repeat passes (the machine may be shared).
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>

#include "command.h"
#include "prospect/core/error.h"
#include "prospect/data/sources.h"
#include "prospect/io/parquet.h"

namespace prospect::cli {
namespace {

struct BenchParquetOptions {
  std::string input;
  int repeat = 3;
  bool training_columns = false;
};

int run_bench_parquet(const BenchParquetOptions& o) {
  const double mb = (double)std::filesystem::file_size(o.input) / 1e6;
  const std::vector<std::string> cols = o.training_columns ? data::preference_columns() : std::vector<std::string>{};
  double best = 1e30;
  int64_t rows = 0, groups = 0;
  for (int k = 0; k < std::max(1, o.repeat); ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    io::ParquetReader r(o.input);
    r.select(cols);
    rows = 0;
    groups = r.num_row_groups();
    for (int g = 0; g < r.num_row_groups(); ++g) rows += (int64_t)r.read_row_group(g).size();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  nlohmann::json out = {{"file_mb", mb},          {"rows", rows},
                        {"row_groups", groups},   {"columns", o.training_columns ? "training" : "all"},
                        {"best_seconds", best},   {"mb_per_s", mb / best}};
  std::cout << out.dump() << "\n";
  return 0;
}

RunFn setup(CLI::App& app) {
  app.group("");  // hidden from --help
  auto o = std::make_shared<BenchParquetOptions>();
  app.add_option("input", o->input, "parquet file")->required()->check(CLI::ExistingFile);
  app.add_option("--repeat", o->repeat, "passes; the best is reported (default 3)");
  app.add_flag("--training-columns", o->training_columns, "read only the columns training uses");
  return [o] { return run_bench_parquet(*o); };
}

}  // namespace

PROSPECT_COMMAND("bench-parquet", "parquet read throughput (MB/s)", setup);

}  // namespace prospect::cli
