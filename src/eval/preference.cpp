#include "prospect/eval/preference.h"

#include "prospect/model/linear.h"

namespace prospect::eval {

PairLogps pair_logps(model::CausalLM& model, const std::vector<data::PairExample>& pairs, const ScoreOptions& opts,
                     int64_t max_length) {
  // Chosen and rejected share the prompt: one request group per pair, so the prompt runs once.
  std::vector<TokenRequest> reqs;
  reqs.reserve(pairs.size() * 2);
  for (const auto& p : pairs)
    for (const auto* completion : {&p.chosen_ids, &p.rejected_ids}) {
      TokenRequest r{p.prompt_ids, *completion};
      if (max_length > 0) {
        if ((int64_t)r.context.size() > max_length) r.context.resize((size_t)max_length);
        const int64_t room = max_length - (int64_t)r.context.size();
        if ((int64_t)r.continuation.size() > room) r.continuation.resize((size_t)room);
      }
      reqs.push_back(std::move(r));
    }
  PairLogps out;
  std::vector<double> pol = score_requests(model, reqs, opts), ref;
  {
    model::AdaptersDisabled off;  // the reference model is the base without its adapter
    ref = score_requests(model, reqs, opts);
  }
  for (size_t i = 0; i < pairs.size(); ++i) {
    out.policy_chosen.push_back(pol[2 * i]);
    out.policy_rejected.push_back(pol[2 * i + 1]);
    out.ref_chosen.push_back(ref[2 * i]);
    out.ref_rejected.push_back(ref[2 * i + 1]);
  }
  return out;
}

}  // namespace prospect::eval
