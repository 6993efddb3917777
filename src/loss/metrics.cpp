#include "prospect/loss/metrics.h"

namespace prospect::loss {

void MetricSet::value(const std::string& name, const torch::Tensor& v) {
  names_.push_back(name);
  nums_.push_back(v.detach().reshape({}));
  dens_.emplace_back();
}

void MetricSet::ratio(const std::string& name, const torch::Tensor& num, const torch::Tensor& den) {
  names_.push_back(name);
  nums_.push_back(reducer_.sum(num.detach().reshape({})));
  dens_.push_back(reducer_.sum(den.detach().reshape({})));
}

void MetricSet::masked_mean(const std::string& name, const torch::Tensor& x, const torch::Tensor& mask) {
  auto m = mask.to(x.scalar_type());
  ratio(name, (x.detach() * m).sum(), m.sum());
}

void MetricSet::mean(const std::string& name, const torch::Tensor& x) {
  ratio(name, x.detach().sum(), torch::full({}, (double)x.numel(), x.options().requires_grad(false)));
}

void MetricSet::difference(const std::string& name, const std::string& a, const std::string& b) {
  diffs_.push_back({name, {a, b}});
}

std::map<std::string, double> MetricSet::finish() {
  std::map<std::string, double> out = host_;
  if (!names_.empty()) {
    std::vector<torch::Tensor> all;
    for (size_t i = 0; i < names_.size(); ++i) {
      all.push_back(nums_[i].to(torch::kFloat64));
      all.push_back(dens_[i].defined() ? dens_[i].to(torch::kFloat64).to(nums_[i].device())
                                       : torch::ones({}, nums_[i].options().dtype(torch::kFloat64)));
    }
    // One device→host copy for the whole step.
    auto host = torch::stack(all).to(torch::kCPU).contiguous();
    const double* p = host.data_ptr<double>();
    for (size_t i = 0; i < names_.size(); ++i) {
      double num = p[2 * i], den = p[2 * i + 1];
      if (!dens_[i].defined()) {
        out[names_[i]] = num;
      } else if (den > 0) {
        out[names_[i]] = num / den;
      }
    }
  }
  for (const auto& [name, ab] : diffs_) {
    auto a = out.find(ab.first), b = out.find(ab.second);
    if (a != out.end() && b != out.end()) out[name] = a->second - b->second;
  }
  return out;
}

}  // namespace prospect::loss
