#include "prospect/loss/step_guard.h"

#include <cmath>
#include <sstream>

#include "prospect/core/error.h"

namespace prospect::loss {

StepGuard::StepGuard(int max_consecutive_skips) : max_(max_consecutive_skips) {
  if (max_ < 1)
    throw Error("max_consecutive_skips", "must be ≥ 1 (got " + std::to_string(max_consecutive_skips) + ")");
}

bool StepGuard::should_skip(double loss, double grad_norm) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) {
    consecutive_ = 0;
    return false;
  }
  ++skipped_;
  ++consecutive_;
  if (consecutive_ >= max_) {
    std::ostringstream os;
    os << consecutive_ << " consecutive steps had a non-finite loss or gradient norm (last: loss " << loss
       << ", grad_norm " << grad_norm << "); stopping (max_consecutive_skips = " << max_
       << "). Lower the learning rate, enable component_grad_clip, or check the data.";
    throw Error("train", os.str());
  }
  return true;
}

nlohmann::json StepGuard::state() const {
  return {{"skipped_steps", skipped_}, {"consecutive_skips", consecutive_}};
}

void StepGuard::load_state(const nlohmann::json& s) {
  if (!s.is_object() || !s.contains("skipped_steps") || !s.at("skipped_steps").is_number_integer())
    throw Error("step guard state", "expected {\"skipped_steps\": N, ...} (got " + s.dump() + ")");
  skipped_ = s.at("skipped_steps").get<int64_t>();
  consecutive_ = s.value("consecutive_skips", 0);
}

}  // namespace prospect::loss
