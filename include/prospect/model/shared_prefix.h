#pragma once
// Prompt-prefix sharing: rows that begin with the same tokens (KTO's target row and KL row of example i
// both start with the prompt x_i; DPO's chosen and rejected rows too) have the same hidden states and
// keys/values over those positions (causal attention, absolute positions). The prefix is computed once
// and only the rest of each row runs through the model, attending to the prefix's keys/values. The
// log-probs equal those of sequence_logprobs on the whole rows (same positions, same masks, same
// scored tokens); tests compare the two.
#include <torch/torch.h>

#include "prospect/model/causal_lm.h"
#include "prospect/model/logprobs.h"

namespace prospect::model {

struct SharedPrefix {
  torch::Tensor lengths;         // [B] int64 on the CPU: s_i, the shared leading positions of row i
  int64_t S = 0;                 // max_i s_i
  torch::Tensor attention_mask;  // [B, S]: the rows' attention mask over positions < s_i, 0 beyond
  torch::Tensor hidden;          // [B, S, E] final hidden states (after the final norm), detached
  PrefixKV kv;                   // per layer [B, Hkv, S, D]
};

// Per row, how many leading positions two row sets agree on (token and attention mask both equal):
// [B] int64 on the CPU. Rows may have different lengths.
torch::Tensor common_prefix_lengths(const torch::Tensor& ids_a, const torch::Tensor& attn_a,
                                    const torch::Tensor& ids_b, const torch::Tensor& attn_b);

// Runs positions < S = max(lengths) of ids [B, T] (no grad) and returns the prefix for
// continuation_logprobs. attention_mask may be undefined (all real).
SharedPrefix encode_prefix(CausalLM& model, const torch::Tensor& ids, const torch::Tensor& attention_mask,
                           const torch::Tensor& lengths);

// sequence_logprobs of rows ids [B, T] whose first prefix.lengths[i] positions equal the prefix's rows,
// computing only the positions after the prefix (no grad). attention_mask may be undefined.
SequenceLogps continuation_logprobs(CausalLM& model, const SharedPrefix& prefix, const torch::Tensor& ids,
                                    const torch::Tensor& attention_mask, const torch::Tensor& completion_mask);

// Log-probs of two row sets that share their prompts (row i of a and of b), with one prefix pass
// (no grad): {sequence_logprobs(a), sequence_logprobs(b)}.
std::pair<SequenceLogps, SequenceLogps> shared_prefix_logprobs(CausalLM& model, const torch::Tensor& ids_a,
                                                               const torch::Tensor& attn_a,
                                                               const torch::Tensor& cmask_a,
                                                               const torch::Tensor& ids_b,
                                                               const torch::Tensor& attn_b,
                                                               const torch::Tensor& cmask_b);

}  // namespace prospect::model
