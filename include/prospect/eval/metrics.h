#pragma once
// Metrics and their aggregation as lm-evaluation-harness computes them (lm_eval/api/metrics.py,
// ConfigurableTask.process_results, truthfulqa utils.process_results_mc2, group aggregation).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace prospect::eval {

// np.argmax: the first index of the maximum.
int64_t argmax_first(const std::vector<double>& v);

// Per-question multiple-choice metrics from the choices' log-likelihoods.
struct McMetrics {
  double acc = 0;       // argmax(lls) == gold
  double acc_norm = 0;  // argmax(lls / len(choice)) == gold, len in code points of the choice string
  double mc2 = 0;       // truthfulqa_mc2: Σ p(true) / Σ p(all); NaN when mc2_true is empty
};
McMetrics mc_metrics(const std::vector<double>& lls, const std::vector<std::string>& choices, int64_t gold,
                     const std::vector<bool>& mc2_true = {});

double mean(const std::vector<double>& v);
// metrics.mean_stderr: sample standard deviation (ddof 1) / sqrt(n); nullopt for n < 2 ("N/A").
std::optional<double> mean_stderr(const std::vector<double>& v);
// metrics.aggregate_subtask_metrics with weight_by_size: Σ m_i n_i / Σ n_i.
double weighted_mean(const std::vector<double>& values, const std::vector<int64_t>& sizes);
// metrics.pooled_sample_stderr: the group stderr from subtask stderrs and sizes.
double pooled_sample_stderr(const std::vector<double>& stderrs, const std::vector<int64_t>& sizes);

// {"name": value, "name_stderr": stderr or null}
void put_metric(nlohmann::json& out, const std::string& name, const std::vector<double>& per_item);

}  // namespace prospect::eval
