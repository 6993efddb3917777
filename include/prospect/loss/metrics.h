#pragma once
// Collects a step's metrics as device tensors and brings them to the host in one copy. Ratios are
// reduced across ranks (Σ numerator / Σ denominator, TRL's gathered means) and left out when the
// global denominator is 0, so that "no desirable example this step" is an absent key, not 0 or NaN.
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "prospect/loss/loss.h"

namespace prospect::loss {

class MetricSet {
 public:
  explicit MetricSet(const Reducer& reducer) : reducer_(reducer) {}
  // A value already global (z0 after the rank mean, the loss of this rank, δ).
  void value(const std::string& name, const torch::Tensor& v);
  void value(const std::string& name, double v) { host_[name] = v; }
  // Σ_ranks num / Σ_ranks den, absent when the denominator is 0.
  void ratio(const std::string& name, const torch::Tensor& num, const torch::Tensor& den);
  // Mean over the masked elements of x (mask bool [n]), gathered over ranks.
  void masked_mean(const std::string& name, const torch::Tensor& x, const torch::Tensor& mask);
  // Mean over all elements of x, gathered over ranks.
  void mean(const std::string& name, const torch::Tensor& x);
  // a − b, computed on the host when both are present (TRL's rewards/margins).
  void difference(const std::string& name, const std::string& a, const std::string& b);
  std::map<std::string, double> finish();

 private:
  const Reducer& reducer_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> nums_, dens_;  // dens_[i] undefined for plain values
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> diffs_;
  std::map<std::string, double> host_;
};

}  // namespace prospect::loss
