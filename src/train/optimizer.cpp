#include "prospect/train/optimizer.h"

#include <cmath>

#include "prospect/core/error.h"

namespace prospect::train {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions opts,
             std::vector<bool> decay)
    : params_(std::move(params)), decay_(std::move(decay)), opts_(opts) {
  if (decay_.empty()) decay_.assign(params_.size(), true);
  check(decay_.size() == params_.size(), "AdamW", "decay flags must match the parameters");
  for (auto& [name, p] : params_) {
    auto o = torch::TensorOptions().dtype(torch::kFloat32).device(p.device());
    exp_avg_.push_back(torch::zeros(p.sizes(), o));
    exp_avg_sq_.push_back(torch::zeros(p.sizes(), o));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard ng;
  ++step_;
  const double b1 = opts_.beta1, b2 = opts_.beta2;
  const double bc1 = 1.0 - std::pow(b1, (double)step_);
  const double bc2 = 1.0 - std::pow(b2, (double)step_);
  const double step_size = lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    // fp32 master arithmetic even when a parameter is stored in lower precision.
    torch::Tensor g = p.grad().to(torch::kFloat32);
    torch::Tensor w = p.scalar_type() == torch::kFloat32 ? p : p.to(torch::kFloat32);
    if (decay_[i] && opts_.weight_decay != 0.0) w.mul_(1.0 - lr * opts_.weight_decay);
    exp_avg_[i].lerp_(g, 1.0 - b1);
    exp_avg_sq_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    torch::Tensor denom = (exp_avg_sq_[i].sqrt() / bc2_sqrt).add_(opts_.eps);
    w.addcdiv_(exp_avg_[i], denom, -step_size);
    if (w.data_ptr() != p.data_ptr()) p.copy_(w);
  }
}

void AdamW::zero_grad() {
  for (auto& [n, p] : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

io::NamedTensors AdamW::state() const {
  io::NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + params_[i].first, exp_avg_[i]);
    out.emplace_back("exp_avg_sq." + params_[i].first, exp_avg_sq_[i]);
  }
  out.emplace_back("step", torch::tensor(step_, torch::kInt64));
  return out;
}

void AdamW::load_state(const std::function<torch::Tensor(const std::string&)>& get, const std::string& source) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto* which : {&exp_avg_, &exp_avg_sq_}) {
      std::string key = (which == &exp_avg_ ? "exp_avg." : "exp_avg_sq.") + params_[i].first;
      torch::Tensor t = get(key);
      if (!t.defined()) throw Error(source, "optimizer state lacks '" + key + "'");
      if (t.sizes() != (*which)[i].sizes())
        throw Error(source, "optimizer state '" + key + "' has a different shape than the parameter");
      (*which)[i].copy_(t.to(torch::kFloat32));
    }
  }
  torch::Tensor s = get("step");
  if (!s.defined()) throw Error(source, "optimizer state lacks 'step'");
  step_ = s.item<int64_t>();
}

double AdamW::grad_norm(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().to(torch::kFloat32).norm(2));
  if (norms.empty()) return 0.0;
  return torch::stack(norms).norm(2).item<double>();
}

double AdamW::clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().to(torch::kFloat32).norm(2));
  if (norms.empty()) return 0.0;
  torch::Tensor total = torch::stack(norms).norm(2);
  const double t = total.item<double>();
  if (max_norm > 0 && std::isfinite(t)) {
    torch::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(coef.to(p.grad().scalar_type()));
  }
  return t;
}

}  // namespace prospect::train
