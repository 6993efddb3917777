#pragma once
// Log-likelihood of continuations given contexts, as lm-evaluation-harness's HFLM computes it:
//  * encode_pair: trailing whitespace of the context moves to the continuation; whole = encode(ctx +
//    cont), context_enc = encode(ctx), continuation_enc = whole[len(context_enc):] (an empty context
//    is replaced by the prefix token: BOS, else EOS);
//  * the model input is (context_enc + continuation_enc)[-(max_length+1):][:-1] and the result is the
//    sum of log p(continuation token) over the continuation positions.
// The fast path groups requests that share their context tokens (the choices of one question), runs
// each shared context once into a KV cache (several questions per batch, right padded, sorted by
// length), then all continuations of the batch against the cache. Identical requests are scored once.
// score_requests_reference is the plain path (one full sequence per request) that tests compare with.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "prospect/model/causal_lm.h"
#include "prospect/tokenizer/tokenizer.h"

namespace prospect::eval {

struct TokenRequest {
  std::vector<int64_t> context, continuation;
};

// HFLM._encode_pair / loglikelihood(). prefix_token: used as the context when it is empty.
TokenRequest encode_pair(const tokenizer::Tokenizer& tok, const std::string& context, const std::string& continuation,
                         std::optional<int64_t> prefix_token, bool add_special_tokens = false);
// encode_pair over many (context, continuation) pairs: each distinct context is encoded once and
// the whole strings are encoded in parallel (Tokenizer::encode_batch). Same results as encode_pair.
std::vector<TokenRequest> encode_requests(const tokenizer::Tokenizer& tok,
                                          const std::vector<std::pair<std::string, std::string>>& pairs,
                                          std::optional<int64_t> prefix_token, bool add_special_tokens = false);
// BOS if the tokenizer has one, else EOS (HFLM.prefix_token_id).
std::optional<int64_t> prefix_token_id(const tokenizer::Tokenizer& tok);

struct ScoreOptions {
  int64_t batch_size = 16;  // sequences (continuations) per forward pass
  int64_t max_length = 0;   // 0: the model's max_position_embeddings (HFLM.max_length)
};

// Σ log p(continuation | context) per request (fp64 accumulation of fp32 log-probs).
std::vector<double> score_requests(model::CausalLM& model, const std::vector<TokenRequest>& reqs,
                                   const ScoreOptions& opts = {});
std::vector<double> score_requests_reference(model::CausalLM& model, const std::vector<TokenRequest>& reqs,
                                             const ScoreOptions& opts = {});

}  // namespace prospect::eval
