// `prospect plot RUN_DIR`: redraws the training plots (loss, rewards, KL, learning rate) of a run
// from its metrics.jsonl into RUN_DIR/plots/.
#include <iostream>

#include "command.h"
#include "prospect/core/error.h"
#include "prospect/train/svg_plot.h"

namespace {

int run_plot(const std::string& dir, const std::string& out) {
  namespace fs = std::filesystem;
  const fs::path run(dir);
  const fs::path metrics = run / "metrics.jsonl";
  prospect::check(fs::exists(metrics), metrics.string(), "no metrics.jsonl in the run directory");
  auto records = prospect::train::read_metrics_jsonl(metrics);
  auto files = prospect::train::write_training_plots(records, out.empty() ? run / "plots" : fs::path(out));
  nlohmann::json r = {{"records", records.size()}, {"plots", nlohmann::json::array()}};
  for (auto& f : files) r["plots"].push_back(f.string());
  std::cout << r.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_plot(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  app.add_option("run_dir", *dir, "a training output directory (with metrics.jsonl)")->required();
  app.add_option("--out", *out, "where to write the SVG files (default: RUN_DIR/plots)");
  return [dir, out] { return run_plot(*dir, *out); };
}

}  // namespace

PROSPECT_COMMAND("plot", "redraw a run's training plots (SVG) from its metrics.jsonl", setup_plot);
