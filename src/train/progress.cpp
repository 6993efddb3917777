#include "prospect/train/progress.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace prospect::train {

Progress::Progress(int64_t total, bool tty) : total_(total), tty_(tty), start_(std::chrono::steady_clock::now()) {}

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  int64_t t = (int64_t)std::llround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(t / 3600), (long long)(t / 60 % 60), (long long)(t % 60));
  else std::snprintf(buf, sizeof buf, "%02lld:%02lld", (long long)(t / 60), (long long)(t % 60));
  return buf;
}

std::string Progress::render(int64_t step, int64_t total, double loss, double lr, double tps, double eta_s, int width) {
  const double frac = total > 0 ? std::min(1.0, (double)step / (double)total) : 0.0;
  const int filled = (int)std::floor(frac * width);
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  char buf[256];
  std::snprintf(buf, sizeof buf, "[%s] %lld/%lld  loss %s  lr %.2e  %s tok/s  ETA %s", bar.c_str(), (long long)step,
                (long long)total, std::isfinite(loss) ? std::to_string(loss).substr(0, 6).c_str() : "-",
                std::isfinite(lr) ? lr : 0.0, std::isfinite(tps) ? std::to_string((int64_t)tps).c_str() : "-",
                format_duration(eta_s).c_str());
  return buf;
}

void Progress::update(int64_t step, const std::map<std::string, double>& m) {
  auto now = std::chrono::steady_clock::now();
  if (start_step_ < 0) start_step_ = step - 1, start_ = now;
  bool logged = m.count("loss") > 0;
  if (m.count("loss")) loss_ = m.at("loss");
  if (m.count("learning_rate")) lr_ = m.at("learning_rate");
  if (m.count("tokens_per_second")) tps_ = m.at("tokens_per_second");
  const double el = std::chrono::duration<double>(now - start_).count();
  const int64_t done = step - start_step_;
  const double eta = done > 0 ? el / (double)done * (double)(total_ - step) : NAN;
  if (tty_) {
    std::cerr << "\r" << render(step, total_, loss_, lr_, tps_, eta, 30) << "\x1b[K" << std::flush;
    drawn_ = true;
  } else if (logged || step == total_) {
    spdlog::info("step {}/{}  loss {:.4f}  lr {:.3e}  {:.0f} tok/s  ETA {}", step, total_, loss_, lr_,
                 std::isfinite(tps_) ? tps_ : 0.0, format_duration(eta));
  }
}

void Progress::finish() {
  if (tty_ && drawn_) std::cerr << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace prospect::train
