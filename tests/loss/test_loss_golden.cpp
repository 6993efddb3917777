// Every loss against the independent float64 PyTorch implementation in
// tests/golden/loss/make_loss_golden.py (loss, every metric, gradients, running state over steps).
#include <cmath>

#include "loss_test_util.h"
#include "prospect/loss/loss.h"

namespace prospect::loss::test {
namespace {

const nlohmann::json& golden() {
  static const nlohmann::json j = read_json(prospect::test::golden_dir() / "loss" / "losses.json");
  return j;
}

void check_case(const nlohmann::json& c, torch::ScalarType dtype, double tol) {
  SCOPED_TRACE(c.at("name").get<std::string>() + (dtype == torch::kFloat64 ? " f64" : " f32"));
  auto loss = make_loss(c.at("config"));
  int step = 0;
  for (const auto& s : c.at("steps")) {
    SCOPED_TRACE("step " + std::to_string(step++));
    auto in = inputs_from_json(s.at("inputs"), dtype);
    auto out = loss->compute(in);
    EXPECT_EQ(out.loss.scalar_type(), dtype);
    const double want = s.at("loss").get<double>();
    EXPECT_NEAR(out.loss.item<double>(), want, tol * std::max(1.0, std::abs(want)));
    // Same metric names (absent keys included) and values.
    std::set<std::string> got_keys, want_keys;
    for (const auto& [k, v] : out.metrics) got_keys.insert(k);
    for (const auto& [k, v] : s.at("metrics").items()) {
      want_keys.insert(k);
      auto it = out.metrics.find(k);
      if (it == out.metrics.end()) continue;
      const double w = v.get<double>();
      EXPECT_NEAR(it->second, w, tol * std::max(1.0, std::abs(w))) << k;
    }
    EXPECT_EQ(got_keys, want_keys);
    // Gradients of the loss with respect to every gradient-carrying input.
    auto leaves = grad_leaves(in);
    std::vector<torch::Tensor> ts;
    for (auto& [n, t] : leaves) ts.push_back(t);
    std::vector<torch::Tensor> grads = torch::autograd::grad({out.loss}, ts, {}, false, false, true);
    size_t checked = 0;
    for (size_t i = 0; i < leaves.size(); ++i) {
      const auto& name = leaves[i].first;
      if (!s.at("grads").contains(name)) continue;
      ASSERT_TRUE(grads[i].defined()) << name;
      auto got = to_vector(grads[i]);
      auto want_g = s.at("grads").at(name).get<std::vector<double>>();
      ASSERT_EQ(got.size(), want_g.size()) << name;
      for (size_t k = 0; k < got.size(); ++k)
        EXPECT_NEAR(got[k], want_g[k], tol * std::max(1.0, std::abs(want_g[k]))) << name << "[" << k << "]";
      ++checked;
    }
    EXPECT_EQ(checked, s.at("grads").size());
  }
}

TEST(LossGolden, EveryCaseMatchesIndependentFloat64Reference) {
  const auto& j = golden();
  ASSERT_GE(j.at("cases").size(), 20u);
  for (const auto& c : j.at("cases")) check_case(c, torch::kFloat64, 1e-10);
}

TEST(LossGolden, Float32InputsMatchToSinglePrecision) {
  for (const auto& c : golden().at("cases")) check_case(c, torch::kFloat32, 2e-5);
}

TEST(LossGolden, BFloat16InputsComputeInFloat32) {
  // bf16 log-probs are upcast: the loss must equal the f32 computation on the same (rounded) values.
  auto c = golden().at("cases").at(4);  // enhanced_kto_default
  ASSERT_EQ(c.at("name"), "enhanced_kto_default");
  auto in16 = inputs_from_json(c.at("steps").at(0).at("inputs"), torch::kBFloat16);
  LossInputs in32 = in16;
  in32.policy_logps = in16.policy_logps.detach().to(torch::kFloat32);
  in32.ref_logps = in16.ref_logps.to(torch::kFloat32);
  auto a = make_loss(c.at("config"))->compute(in16);
  auto b = make_loss(c.at("config"))->compute(in32);
  EXPECT_EQ(a.loss.scalar_type(), torch::kFloat32);
  EXPECT_EQ(a.loss.item<float>(), b.loss.item<float>());
  a.loss.backward();
  ASSERT_TRUE(in16.policy_logps.grad().defined());
  EXPECT_EQ(in16.policy_logps.grad().scalar_type(), torch::kBFloat16);
}

}  // namespace
}  // namespace prospect::loss::test
