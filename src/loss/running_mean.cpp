#include "prospect/loss/running_mean.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "prospect/core/error.h"

namespace prospect::loss {

std::string double_to_hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", v);
  return buf;
}

double double_from_json(const nlohmann::json& j, const std::string& context) {
  if (j.is_number()) return j.get<double>();
  if (!j.is_string()) throw Error(context, "expected a number or a hex-float string (got " + j.dump() + ")");
  const std::string s = j.get<std::string>();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE)
    throw Error(context, "not a number: '" + s + "'");
  return v;
}

void RunningMean::update(double batch_sum, double batch_count) {
  if (!(batch_count > 0)) return;
  const double batch_mean = batch_sum / batch_count;
  if (momentum_) {
    mean_ = *momentum_ * mean_ + (1.0 - *momentum_) * batch_mean;
  } else {
    // RunningMoments.update: mean += (x̄ − mean)·|x| / (count + |x|).
    const double tot = count_ + batch_count;
    mean_ += (batch_mean - mean_) * batch_count / tot;
  }
  count_ += batch_count;
}

nlohmann::json RunningMean::state() const {
  return {{"mean", double_to_hex(mean_)}, {"count", double_to_hex(count_)}};
}

void RunningMean::load_state(const nlohmann::json& s, const std::string& context) {
  if (!s.is_object() || !s.contains("mean") || !s.contains("count"))
    throw Error(context, "running-mean state must hold 'mean' and 'count' (got " + s.dump() +
                             "); was the checkpoint written with another loss configuration?");
  double m = double_from_json(s.at("mean"), context + ".mean");
  double c = double_from_json(s.at("count"), context + ".count");
  if (!std::isfinite(m) || !(c > 0) || !std::isfinite(c))
    throw Error(context, "invalid running-mean state " + s.dump());
  mean_ = m;
  count_ = c;
}

}  // namespace prospect::loss
