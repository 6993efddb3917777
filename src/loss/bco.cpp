#include "prospect/loss/bco.h"

#include "prospect/core/error.h"
#include "prospect/loss/metrics.h"
#include "prospect/loss/unpaired.h"

namespace prospect::loss {

LossOutput BcoLoss::compute(const LossInputs& in) {
  auto b = prepare_unpaired(in, "loss.bco");
  auto rewards = b.r * o_.beta;  // [n]
  if (in.training) {
    auto sums = torch::stack({reducer_->sum(rewards.detach().to(torch::kFloat64).sum()),
                              reducer_->sum(torch::full({}, double(b.n), rewards.options().dtype(torch::kFloat64).requires_grad(false)))})
                    .to(torch::kCPU, torch::kFloat64);
    delta_.update(sums[0].item<double>(), sums[1].item<double>());
  }
  const double delta = delta_.mean();
  auto shifted = rewards - delta;
  auto per_example = torch::where(b.desirable, -torch::log_sigmoid(shifted), -torch::log_sigmoid(-shifted));
  LossOutput out;
  out.loss = per_example.mean();

  MetricSet m(*reducer_);
  m.value("loss", out.loss);
  add_unpaired_metrics(m, b, rewards);
  m.value("delta", delta);
  out.metrics = m.finish();
  return out;
}

nlohmann::json BcoLoss::state() const { return {{"type", "bco"}, {"delta", delta_.state()}}; }

void BcoLoss::load_state(const nlohmann::json& s) {
  if (!s.is_object() || s.value("type", "") != "bco" || !s.contains("delta"))
    throw Error("loss state (bco)", "expected {\"type\": \"bco\", \"delta\": ...} (got " + s.dump() + ")");
  delta_.load_state(s.at("delta"), "loss state (bco).delta");
}

}  // namespace prospect::loss
