#pragma once
// Preference accuracy of a policy (model + adapter) against its reference (the same model with
// adapters disabled): sequence log-probs of the chosen and rejected completions given the prompt.
#include <vector>

#include "prospect/data/batch.h"
#include "prospect/eval/scorer.h"

namespace prospect::eval {

struct PairLogps {
  std::vector<double> policy_chosen, policy_rejected, ref_chosen, ref_rejected;  // [pairs] each
};

// max_length > 0 keeps the first max_length tokens of prompt + completion (as the training collator).
PairLogps pair_logps(model::CausalLM& model, const std::vector<data::PairExample>& pairs, const ScoreOptions& opts,
                     int64_t max_length = 0);

}  // namespace prospect::eval
