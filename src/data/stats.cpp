#include "prospect/data/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>

namespace prospect::data {

namespace {

double percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q / 100.0 * (double)(sorted.size() - 1);
  const size_t lo = (size_t)std::floor(pos), hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - (double)lo;
  return (double)sorted[lo] + ((double)sorted[hi] - (double)sorted[lo]) * frac;
}

// Python's round(x, 2): glibc's printf rounds the exact binary value correctly (ties to even), as
// CPython's float rounding does.
std::string round2_text(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return buf;
}
double round2(double x) { return std::strtod(round2_text(x).c_str(), nullptr); }

// Python's repr of a float rounded to 2 decimals: "0.33", "3.0", "0.4".
std::string py_repr2(double x) {
  std::string s = round2_text(x);
  if (s == "-0.00") s = "0.00";
  while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
  return s;
}

}  // namespace

LengthSummary summarize_lengths(std::vector<int64_t> v) {
  LengthSummary s;
  s.count = (int64_t)v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.mean = (double)std::accumulate(v.begin(), v.end(), (int64_t)0) / (double)v.size();
  s.p50 = percentile(v, 50);
  s.p90 = percentile(v, 90);
  s.p99 = percentile(v, 99);
  s.max = v.back();
  return s;
}

nlohmann::ordered_json LengthSummary::to_json() const {
  return {{"count", count}, {"mean", mean}, {"p50", p50}, {"p90", p90}, {"p99", p99}, {"max", max}};
}

std::string class_weight_warning(int64_t num_desirable, int64_t total, double dw, double uw) {
  const int64_t n_d = std::max<int64_t>(num_desirable, 1);
  const int64_t n_u = std::max<int64_t>(total - n_d, 1);
  if (n_d == n_u) return "";
  const double des_lo = round2((double)n_u * uw / (double)n_d * 1);
  const double des_hi = round2((double)n_u * uw / (double)n_d * 1.33);
  const double und_lo = round2((double)n_d * dw / (double)n_u / 1.33);
  const double und_hi = round2((double)n_d * dw / (double)n_u / 1);
  const bool des_ok = des_lo <= dw && dw <= des_hi;
  const bool und_ok = und_lo <= uw && uw <= und_hi;
  if (des_ok || und_ok) return "";
  return "You have different amounts of desirable/positive and undesirable/negative examples but the weights on "
         "the desirable and undesirable losses don't seem to be in an ideal range. Based on your data, we "
         "recommend EITHER desirable_weight in [" +
         py_repr2(des_lo) + ", " + py_repr2(des_hi) + "] or undesirable_weight in [" + py_repr2(und_lo) + ", " +
         py_repr2(und_hi) + "] (but NOT BOTH). See the documentation on how to optimally set these weights.";
}

nlohmann::ordered_json DataStats::to_json() const {
  nlohmann::ordered_json j;
  j["rows"] = rows;
  j["bad_rows"] = bad_rows;
  if (!bad_row_messages.empty()) j["bad_row_messages"] = bad_row_messages;
  j["paired_rows"] = paired_rows;
  j["unpaired_rows"] = unpaired_rows;
  j["conversational_rows"] = conversational_rows;
  j["examples"] = examples;
  j["desirable"] = desirable;
  j["undesirable"] = undesirable;
  j["pairs"] = pairs;
  j["dropped"] = {{"prompt_too_long", dropped_prompt_too_long},
                  {"not_prefix", dropped_not_prefix},
                  {"pairs", dropped_pairs},
                  {"bad_rows", bad_rows}};
  if (!not_prefix_sources.empty()) j["not_prefix_sources"] = not_prefix_sources;
  j["boundary_adjusted"] = boundary_adjusted;
  if (!boundary_adjusted_sources.empty()) j["boundary_adjusted_sources"] = boundary_adjusted_sources;
  j["truncated_prompts"] = truncated_prompts;
  j["truncated_sequences"] = truncated_sequences;
  j["lengths"] = {{"prompt", prompt_len.to_json()},
                  {"completion", completion_len.to_json()},
                  {"total", total_len.to_json()}};
  j["class_weight_warning"] = class_weight_warning.empty() ? nlohmann::ordered_json(nullptr)
                                                           : nlohmann::ordered_json(class_weight_warning);
  return j;
}

}  // namespace prospect::data
