#pragma once
// The reward shift δ of BCO (TRL's RunningMoments) and of enhanced KTO's BCO shift: the exact
// cumulative mean of every training value seen so far, or optionally an exponential moving average.
// Its state is part of the training checkpoint and round-trips exactly (hex floats).
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace prospect::loss {

// Exact text form of a double ("0x1.999999999999ap-4") and its inverse (also accepts JSON numbers).
std::string double_to_hex(double v);
double double_from_json(const nlohmann::json& j, const std::string& context);

class RunningMean {
 public:
  // TRL's RunningMoments starts at mean 0 with count 1e-24, so the first update makes δ the first
  // batch's mean exactly.
  static constexpr double kInitialCount = 1e-24;

  // momentum unset: exact cumulative mean; set (in [0, 1)): δ ← m·δ + (1 − m)·batch mean, from δ = 0.
  explicit RunningMean(std::optional<double> momentum = std::nullopt) : momentum_(momentum) {}

  // Folds in a batch given as (Σ values, number of values) — already summed over ranks.
  void update(double batch_sum, double batch_count);
  double mean() const { return mean_; }
  double count() const { return count_; }
  const std::optional<double>& momentum() const { return momentum_; }

  nlohmann::json state() const;  // {"mean": hex, "count": hex}
  void load_state(const nlohmann::json& s, const std::string& context);

 private:
  std::optional<double> momentum_;
  double mean_ = 0.0;
  double count_ = kInitialCount;
};

}  // namespace prospect::loss
