#pragma once
// The non-finite-step guard (enhanced_kto.md §5): a step whose loss or global gradient norm is not
// finite is skipped (no optimizer step) and counted (metric `train/skipped_steps`); after
// max_consecutive_skips skipped steps in a row training stops with a prospect::Error. The trainer
// owns the guard and its setting; the loss layer only provides it.
#include <nlohmann/json.hpp>

#include <cstdint>

namespace prospect::loss {

class StepGuard {
 public:
  // max_consecutive_skips ≥ 1 (default 5): the max-th skipped step in a row throws.
  explicit StepGuard(int max_consecutive_skips = 5);

  // True when this step must be skipped. A finite step resets the run of consecutive skips.
  // Throws prospect::Error on the max_consecutive_skips-th consecutive non-finite step.
  bool should_skip(double loss, double grad_norm);

  int64_t skipped_steps() const { return skipped_; }  // total, for `train/skipped_steps`
  int consecutive_skips() const { return consecutive_; }
  int max_consecutive_skips() const { return max_; }

  nlohmann::json state() const;  // {"skipped_steps": N, "consecutive_skips": k}
  void load_state(const nlohmann::json& s);

 private:
  int max_;
  int64_t skipped_ = 0;
  int consecutive_ = 0;
};

}  // namespace prospect::loss
