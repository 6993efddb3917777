#pragma once
// BCO as TRL's BCOTrainer without UDM (preference_losses_and_lora.md §2):
//   r_i = β·(log πθ − log πref),  δ = running mean of every training reward (updated before the loss)
//   desirable −logσ(r − δ), undesirable −logσ(−(r − δ)),  L = mean over the micro-batch.
#include "prospect/loss/loss.h"
#include "prospect/loss/running_mean.h"

namespace prospect::loss {

struct BcoOptions {
  double beta = 0.1;
};

class BcoLoss : public Loss {
 public:
  explicit BcoLoss(BcoOptions o) : o_(o) {}
  std::string name() const override { return "bco"; }
  LossOutput compute(const LossInputs& in) override;
  nlohmann::json state() const override;  // {"type": "bco", "delta": {mean, count}}
  void load_state(const nlohmann::json& s) override;
  double delta() const { return delta_.mean(); }

 private:
  BcoOptions o_;
  RunningMean delta_;
};

}  // namespace prospect::loss
