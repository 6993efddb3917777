#pragma once
// Log-probabilities of selected tokens without materialising [B, T, V]: the LM head runs on the
// requested positions only, in chunks, inside a custom autograd function whose backward recomputes
// each chunk's softmax (so peak memory is one [chunk, V] block).
#include <torch/torch.h>

#include "prospect/model/causal_lm.h"

namespace prospect::model {

struct SharedPrefix;  // shared_prefix.h

// hidden [N, E], head [V, E] (no grad needed), targets [N] int64 -> log p(target) [N] in fp32.
// Differentiable w.r.t. hidden. `chunk` rows per block.
torch::Tensor selected_logprobs(const torch::Tensor& hidden, const torch::Tensor& head,
                                const torch::Tensor& targets, int64_t chunk = 1024);
// Plain reference path (materialises [N, V]); tests compare the fast path against it.
torch::Tensor selected_logprobs_reference(const torch::Tensor& hidden, const torch::Tensor& head,
                                          const torch::Tensor& targets);

struct SequenceLogps {
  torch::Tensor sum;     // [B] fp32: Σ over completion tokens of log p(token | prefix)
  torch::Tensor count;   // [B] int64: number of completion tokens scored
};

// Runs the model on input_ids [B, T] (right padded, attention_mask [B, T]) and sums the log-probs of
// tokens t (1 <= t < T) where completion_mask[b, t] == 1 (and attention_mask[b, t-1..t] == 1), using
// the hidden state at t-1 (shift by one). Only the selected positions go through the LM head
// (chunked, see selected_logprobs). With gradient_checkpointing each decoder layer is recomputed in
// backward (reentrant scheme: gradients reach trainable leaves through .grad, so use backward(), not
// torch::autograd::grad).
// capture: when given (capture->lengths set, see shared_prefix.h), the keys/values and hidden states of
// positions < max(lengths) are kept (detached) for continuation_logprobs of rows sharing these prefixes.
SequenceLogps sequence_logprobs(CausalLM& model, const torch::Tensor& input_ids,
                                const torch::Tensor& attention_mask, const torch::Tensor& completion_mask,
                                bool gradient_checkpointing = false, SharedPrefix* capture = nullptr);

// Flat indices b*T + t of the positions whose next token sequence_logprobs scores: completion_mask[b, t+1]
// set and positions t, t+1 both real. attention_mask [B, T] or undefined, completion_mask [B, T]; [N] int64.
torch::Tensor scored_positions(const torch::Tensor& attention_mask, const torch::Tensor& completion_mask);

// Per-token log-probs for scoring: [B, T] fp32 with position 0 = 0 (no prediction) and padded
// positions = 0 (also the first real token of a left-padded row). Runs without grad. With left
// padding pass position ids yourself if you need HF generate's positions (plain forward semantics
// here, as transformers' model(input_ids, attention_mask)).
torch::Tensor token_logprobs(CausalLM& model, const torch::Tensor& input_ids,
                             const torch::Tensor& attention_mask = {}, const torch::Tensor& position_ids = {});

}  // namespace prospect::model
