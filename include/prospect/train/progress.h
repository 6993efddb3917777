#pragma once
// Training progress on stderr: a one-line bar redrawn in place on a terminal (step/total, loss, lr,
// tokens/s, ETA), or plain log lines (spdlog) at logging steps otherwise.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

namespace prospect::train {

class Progress {
 public:
  Progress(int64_t total, bool tty);
  // Called after each optimizer step; metrics contain the step's values (loss etc. at log steps).
  void update(int64_t step, const std::map<std::string, double>& metrics);
  void finish();
  // The bar text (without control characters), for tests.
  static std::string render(int64_t step, int64_t total, double loss, double lr, double tps, double eta_s, int width);
  static std::string format_duration(double seconds);

 private:
  int64_t total_, start_step_ = -1;
  bool tty_;
  double loss_ = NAN, lr_ = NAN, tps_ = NAN;
  std::chrono::steady_clock::time_point start_;
  bool drawn_ = false;
};

}  // namespace prospect::train
