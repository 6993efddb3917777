#include "prospect/eval/metrics.h"

#include <cmath>
#include <limits>

#include "prospect/core/error.h"
#include "prospect/eval/pytext.h"

namespace prospect::eval {

int64_t argmax_first(const std::vector<double>& v) {
  check(!v.empty(), "argmax", "empty input");
  int64_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    // NaN compares false here but np.argmax returns the first NaN; treat NaN as the maximum as numpy.
    if (v[i] > v[(size_t)best] || (std::isnan(v[i]) && !std::isnan(v[(size_t)best]))) best = (int64_t)i;
  return best;
}

McMetrics mc_metrics(const std::vector<double>& lls, const std::vector<std::string>& choices, int64_t gold,
                     const std::vector<bool>& mc2_true) {
  check(lls.size() == choices.size() && !lls.empty(), "mc_metrics", "one log-likelihood per choice needed");
  McMetrics m;
  m.acc = argmax_first(lls) == gold ? 1.0 : 0.0;
  std::vector<double> norm(lls.size());
  // ConfigurableTask.process_results: completion_len = len(choice) (Python str: code points, without
  // the target delimiter).
  for (size_t i = 0; i < lls.size(); ++i) norm[i] = lls[i] / (double)pytext::len(choices[i]);
  m.acc_norm = argmax_first(norm) == gold ? 1.0 : 0.0;
  m.mc2 = std::numeric_limits<double>::quiet_NaN();
  if (!mc2_true.empty()) {
    check(mc2_true.size() == lls.size(), "mc_metrics", "one mc2 label per choice needed");
    // exp(ll − max ll): the same ratio as the harness's exp(ll) without underflowing to 0/0 when
    // every answer is long.
    double top = lls[0];
    for (double x : lls) top = std::max(top, x);
    double p_true = 0, p_all = 0;
    for (size_t i = 0; i < lls.size(); ++i) {
      const double p = std::exp(lls[i] - top);
      p_all += p;
      if (mc2_true[i]) p_true += p;
    }
    m.mc2 = p_true / p_all;
  }
  return m;
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  double s = 0;
  for (double x : v) s += x;
  return s / (double)v.size();
}

std::optional<double> mean_stderr(const std::vector<double>& v) {
  if (v.size() < 2) return std::nullopt;
  const double mu = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - mu) * (x - mu);
  return std::sqrt(ss / (double)(v.size() - 1)) / std::sqrt((double)v.size());
}

double weighted_mean(const std::vector<double>& values, const std::vector<int64_t>& sizes) {
  check(values.size() == sizes.size() && !values.empty(), "weighted_mean", "one size per value needed");
  double num = 0, den = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    num += values[i] * (double)sizes[i];
    den += (double)sizes[i];
  }
  return num / den;
}

double pooled_sample_stderr(const std::vector<double>& stderrs, const std::vector<int64_t>& sizes) {
  check(stderrs.size() == sizes.size() && !stderrs.empty(), "pooled_sample_stderr", "one size per stderr needed");
  double num = 0, total = 0;
  for (size_t i = 0; i < stderrs.size(); ++i) {
    num += (double)(sizes[i] - 1) * stderrs[i] * stderrs[i] * (double)sizes[i];
    total += (double)sizes[i];
  }
  const double pooled_var = num / (total - (double)sizes.size());
  return std::sqrt(pooled_var / total);
}

void put_metric(nlohmann::json& out, const std::string& name, const std::vector<double>& per_item) {
  out[name] = mean(per_item);
  auto se = mean_stderr(per_item);
  out[name + "_stderr"] = se ? nlohmann::json(*se) : nlohmann::json(nullptr);
}

}  // namespace prospect::eval
