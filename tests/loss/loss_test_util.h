#pragma once
// Helpers for the loss tests: building LossInputs from plain vectors or golden JSON.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>
#include <string>
#include <vector>

#include "prospect/loss/loss.h"
#include "test_util.h"

namespace prospect::loss::test {

inline torch::Tensor vec(const std::vector<double>& v, torch::ScalarType dtype = torch::kFloat64,
                         bool grad = false) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kFloat64)).to(dtype).requires_grad_(grad);
}

inline torch::Tensor bools(const std::vector<bool>& v) {
  std::vector<int64_t> i(v.begin(), v.end());
  return torch::tensor(i, torch::TensorOptions().dtype(torch::kInt64)).to(torch::kBool);
}

inline torch::Tensor ids(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kInt64));
}

inline torch::Tensor from_json(const nlohmann::json& j, torch::ScalarType dtype, bool grad = false) {
  if (j.is_number()) return torch::full({}, j.get<double>(), torch::TensorOptions().dtype(torch::kFloat64))
                                .to(dtype).requires_grad_(grad);
  return vec(j.get<std::vector<double>>(), dtype, grad);
}

// Inputs as written by tests/golden/loss/make_loss_golden.py; gradient-carrying tensors are leaves.
inline LossInputs inputs_from_json(const nlohmann::json& j, torch::ScalarType dtype) {
  LossInputs in;
  auto get = [&](const char* k, bool grad = false) {
    return j.contains(k) ? from_json(j.at(k), dtype, grad) : torch::Tensor();
  };
  in.policy_logps = get("policy_logps", true);
  in.ref_logps = get("ref_logps");
  in.lengths = get("lengths");
  if (j.contains("labels")) in.labels = bools(j.at("labels").get<std::vector<bool>>());
  in.kl_policy_logps = get("kl_policy_logps");
  in.kl_ref_logps = get("kl_ref_logps");
  in.kl_lengths = get("kl_lengths");
  if (j.contains("pair_ids")) in.pair_ids = ids(j.at("pair_ids").get<std::vector<int64_t>>());
  in.chosen_logps = get("chosen_logps", true);
  in.rejected_logps = get("rejected_logps", true);
  in.ref_chosen_logps = get("ref_chosen_logps");
  in.ref_rejected_logps = get("ref_rejected_logps");
  in.chosen_lengths = get("chosen_lengths");
  in.rejected_lengths = get("rejected_lengths");
  in.nll_sum = get("nll_sum", true);
  in.nll_count = get("nll_count");
  in.step = j.value("step", 0);
  in.training = j.value("training", true);
  return in;
}

inline nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  return nlohmann::json::parse(f);
}

inline std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// All leaf tensors of the inputs that carry gradient, by name.
inline std::vector<std::pair<std::string, torch::Tensor>> grad_leaves(const LossInputs& in) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [n, t] : std::vector<std::pair<std::string, torch::Tensor>>{
           {"policy_logps", in.policy_logps}, {"chosen_logps", in.chosen_logps},
           {"rejected_logps", in.rejected_logps}, {"nll_sum", in.nll_sum}})
    if (t.defined() && t.requires_grad()) out.push_back({n, t});
  return out;
}

inline bool all_finite(const torch::Tensor& t) { return torch::isfinite(t.detach()).all().item<bool>(); }

}  // namespace prospect::loss::test
