#pragma once
// Supervised fine-tuning: the token-mean NLL over completion tokens, nll_sum / max(nll_count, 1).
#include "prospect/loss/loss.h"

namespace prospect::loss {

class SftLoss : public Loss {
 public:
  std::string name() const override { return "sft"; }
  LossOutput compute(const LossInputs& in) override;
  bool needs_reference() const override { return false; }
  bool needs_nll() const override { return true; }
};

}  // namespace prospect::loss
