#pragma once
// A small self-contained SVG line-chart writer (no dependencies) for the training plots of the model
// card: axes with "nice" ticks, one polyline per series, a legend. The output is standalone SVG 1.1
// that a browser shows directly.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace prospect::train {

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite points are skipped (gaps)
  std::string color;         // "" = palette colour
};

struct ChartOptions {
  std::string title, x_label = "step", y_label;
  int width = 720, height = 420;
};

// Renders the chart as SVG text. An empty chart (no finite point) still renders axes and a note.
std::string render_line_chart(const std::vector<Series>& series, const ChartOptions& opts);

// "Nice" axis ticks covering [lo, hi] (1, 2, 5 × 10^k steps), about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

// The four model-card plots from metrics records (metrics.jsonl objects): loss.svg, rewards.svg,
// kl.svg, learning_rate.svg under dir (created). Returns the written paths.
std::vector<std::filesystem::path> write_training_plots(const std::vector<nlohmann::json>& records,
                                                        const std::filesystem::path& dir);
// Reads dir/metrics.jsonl (lines that fail to parse are skipped with a warning).
std::vector<nlohmann::json> read_metrics_jsonl(const std::filesystem::path& file);

}  // namespace prospect::train
