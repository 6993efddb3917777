#include "prospect/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "prospect/core/error.h"

namespace prospect::train {

const std::vector<std::string>& schedule_types() {
  static const std::vector<std::string> t{"constant", "constant_with_warmup", "linear", "cosine"};
  return t;
}

int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  return (int64_t)std::ceil((double)total_steps * warmup_ratio);
}

double LrSchedule::multiplier(int64_t step) const {
  const double s = (double)step, w = (double)warmup_steps, n = (double)total_steps;
  if (type == "constant") return 1.0;  // HF get_constant_schedule ignores warmup
  if (step < warmup_steps) return s / std::max(1.0, w);
  if (type == "constant_with_warmup") return 1.0;
  if (type == "linear") return std::max(0.0, (n - s) / std::max(1.0, n - w));
  if (type == "cosine") {
    const double progress = (s - w) / std::max(1.0, n - w);
    return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * num_cycles * 2.0 * progress)));
  }
  throw Error("lr_scheduler_type", "unknown schedule '" + type + "'");
}

double LrSchedule::lr_at(int64_t step) const { return base_lr * multiplier(step); }

}  // namespace prospect::train
