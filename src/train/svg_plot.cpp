#include "prospect/train/svg_plot.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"

namespace prospect::train {

namespace {

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        if ((unsigned char)c >= 0x20 || c == '\n' || c == '\t') o += c;
    }
  }
  return o;
}

std::string fmt_num(double v) {
  char buf[64];
  double a = std::fabs(v);
  if (v == 0) return "0";
  if (a >= 1e5 || a < 1e-3) std::snprintf(buf, sizeof buf, "%.2e", v);
  else std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(std::isfinite(lo) && std::isfinite(hi))) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  double raw = (hi - lo) / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / mag;
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  std::vector<double> ticks;
  for (double t = std::floor(lo / step) * step; t <= hi + step * 0.5 && ticks.size() < 50; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string render_line_chart(const std::vector<Series>& series, const ChartOptions& o) {
  const double W = o.width, H = o.height;
  const double ml = 78, mr = 20, mt = 40, mb = 70;  // margins: room for tick labels and legend
  const double pw = W - ml - mr, ph = H - mt - mb;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
    }
  const bool empty = !std::isfinite(xmin);
  if (empty) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  auto xt = nice_ticks(xmin, xmax, 6), yt = nice_ticks(ymin, ymax, 5);
  double x0 = std::min(xmin, xt.front()), x1 = std::max(xmax, xt.back());
  double y0 = std::min(ymin, yt.front()), y1 = std::max(ymax, yt.back());
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  auto X = [&](double v) { return ml + (v - x0) / (x1 - x0) * pw; };
  auto Y = [&](double v) { return mt + ph - (v - y0) / (y1 - y0) * ph; };

  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << o.width << "\" height=\""
    << o.height << "\" viewBox=\"0 0 " << o.width << " " << o.height << "\" font-family=\"sans-serif\">\n"
    << "<rect x=\"0\" y=\"0\" width=\"" << o.width << "\" height=\"" << o.height << "\" fill=\"white\"/>\n"
    << "<text x=\"" << coord(W / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" << xml_escape(o.title)
    << "</text>\n";
  // Grid and tick labels.
  s << "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (double t : xt) s << "<line x1=\"" << coord(X(t)) << "\" y1=\"" << coord(mt) << "\" x2=\"" << coord(X(t)) << "\" y2=\"" << coord(mt + ph) << "\"/>\n";
  for (double t : yt) s << "<line x1=\"" << coord(ml) << "\" y1=\"" << coord(Y(t)) << "\" x2=\"" << coord(ml + pw) << "\" y2=\"" << coord(Y(t)) << "\"/>\n";
  s << "</g>\n<g font-size=\"11\" fill=\"#333\">\n";
  for (double t : xt) s << "<text x=\"" << coord(X(t)) << "\" y=\"" << coord(mt + ph + 16) << "\" text-anchor=\"middle\">" << fmt_num(t) << "</text>\n";
  for (double t : yt) s << "<text x=\"" << coord(ml - 6) << "\" y=\"" << coord(Y(t) + 4) << "\" text-anchor=\"end\">" << fmt_num(t) << "</text>\n";
  s << "</g>\n";
  s << "<rect x=\"" << coord(ml) << "\" y=\"" << coord(mt) << "\" width=\"" << coord(pw) << "\" height=\"" << coord(ph)
    << "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n";
  s << "<text x=\"" << coord(ml + pw / 2) << "\" y=\"" << coord(mt + ph + 36) << "\" text-anchor=\"middle\" font-size=\"12\">"
    << xml_escape(o.x_label) << "</text>\n";
  s << "<text x=\"16\" y=\"" << coord(mt + ph / 2) << "\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 16 "
    << coord(mt + ph / 2) << ")\">" << xml_escape(o.y_label) << "</text>\n";
  if (empty)
    s << "<text x=\"" << coord(ml + pw / 2) << "\" y=\"" << coord(mt + ph / 2) << "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#888\">no data</text>\n";
  // Series: a polyline per run of finite points, a dot when a run has one point.
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& sr = series[k];
    std::string color = sr.color.empty() ? kPalette[k % 6] : sr.color;
    std::vector<std::vector<std::pair<double, double>>> runs(1);
    for (size_t i = 0; i < sr.x.size() && i < sr.y.size(); ++i) {
      if (std::isfinite(sr.x[i]) && std::isfinite(sr.y[i])) runs.back().emplace_back(X(sr.x[i]), Y(sr.y[i]));
      else if (!runs.back().empty()) runs.emplace_back();
    }
    for (const auto& run : runs) {
      if (run.empty()) continue;
      if (run.size() == 1) {
        s << "<circle cx=\"" << coord(run[0].first) << "\" cy=\"" << coord(run[0].second) << "\" r=\"2.5\" fill=\"" << color << "\"/>\n";
        continue;
      }
      s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.8\" points=\"";
      for (size_t i = 0; i < run.size(); ++i) s << (i ? " " : "") << coord(run[i].first) << "," << coord(run[i].second);
      s << "\"/>\n";
    }
    // Legend entry.
    double lx = ml + 10 + 150.0 * (double)k, ly = H - 16;
    s << "<line x1=\"" << coord(lx) << "\" y1=\"" << coord(ly - 4) << "\" x2=\"" << coord(lx + 22) << "\" y2=\"" << coord(ly - 4)
      << "\" stroke=\"" << color << "\" stroke-width=\"3\"/>\n"
      << "<text x=\"" << coord(lx + 28) << "\" y=\"" << coord(ly) << "\" font-size=\"12\">" << xml_escape(sr.name) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::vector<nlohmann::json> read_metrics_jsonl(const std::filesystem::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  if (!in) throw Error(file.string(), "cannot open metrics file");
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const std::exception&) {
      spdlog::warn("{}:{}: skipping a line that is not JSON", file.string(), n);
    }
  }
  return out;
}

std::vector<std::filesystem::path> write_training_plots(const std::vector<nlohmann::json>& records,
                                                        const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  auto series = [&](const std::string& key, const std::string& name, bool eval = false) {
    Series s{name, {}, {}, ""};
    for (const auto& r : records) {
      if (!r.is_object() || !r.contains("step") || !r.contains(key) || !r[key].is_number()) continue;
      bool is_eval = r.contains("eval_loss") || r.value("split", "") == "eval";
      if (is_eval != eval) continue;
      s.x.push_back(r["step"].get<double>());
      s.y.push_back(r[key].get<double>());
    }
    return s;
  };
  std::vector<std::filesystem::path> written;
  auto emit = [&](const std::string& file, std::vector<Series> ss, const std::string& title, const std::string& ylab) {
    ss.erase(std::remove_if(ss.begin(), ss.end(), [](const Series& s) { return s.x.empty(); }), ss.end());
    ChartOptions o;
    o.title = title, o.y_label = ylab;
    auto p = dir / file;
    write_text_file_atomic(p, render_line_chart(ss, o));
    written.push_back(p);
  };
  emit("loss.svg", {series("loss", "train loss"), series("eval_loss", "eval loss", true)}, "Training loss", "loss");
  emit("rewards.svg",
       {series("rewards/chosen", "chosen"), series("rewards/rejected", "rejected"), series("rewards/margins", "margins")},
       "Rewards (β·log-ratio)", "reward");
  emit("kl.svg", {series("kl", "kl (z0)")}, "KL reference point", "kl");
  emit("learning_rate.svg", {series("learning_rate", "learning rate")}, "Learning rate", "lr");
  return written;
}

}  // namespace prospect::train
