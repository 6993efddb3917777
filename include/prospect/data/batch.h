#pragma once
// Tokenized examples and collated micro-batches: the contract between data/ and train/, eval/.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace prospect::data {

// One tokenized (prompt, completion) sequence: the unpaired view used by the KTO family and SFT.
struct Example {
  std::vector<int64_t> prompt_ids;      // rendered prompt (chat template with generation prompt)
  std::vector<int64_t> completion_ids;  // full rendering minus the prompt
  bool label = true;                    // desirable (chosen) / undesirable (rejected)
  int64_t pair_id = -1;                 // examples unpaired from one preference row share it; -1: none
  int64_t index = 0;                    // position in the prepared dataset (stable; keys caches)
  std::string source;                   // "file:line" for messages
};

// One tokenized preference pair: the paired view used by DPO, ORPO, SimPO and preference accuracy.
struct PairExample {
  std::vector<int64_t> prompt_ids, chosen_ids, rejected_ids;
  int64_t pair_id = 0;
  int64_t index = 0;
  std::string source;
};

// A collated unpaired micro-batch. Sequences are prompt+completion truncated to max_length (keep
// start, as current TRL), right padded with pad_id. completion_mask marks completion tokens.
struct Batch {
  torch::Tensor input_ids;         // [B, T] int64
  torch::Tensor attention_mask;    // [B, T] int64 (1 real, 0 pad)
  torch::Tensor completion_mask;   // [B, T] int64
  torch::Tensor labels;            // [B] bool
  torch::Tensor pair_ids;          // [B] int64
  torch::Tensor lengths;           // [B] int64 completion tokens after truncation
  // KL pass: each example's prompt with the completion of another pair of the same micro-batch
  // (undefined when the loss needs no KL pass).
  torch::Tensor kl_input_ids, kl_attention_mask, kl_completion_mask;  // [B, Tkl]
  torch::Tensor kl_lengths;        // [B]
  std::vector<int64_t> indices;    // dataset index per row (Example::index)
  std::vector<int64_t> kl_source;  // per row: dataset index whose completion the KL row borrows
  int64_t kl_fallbacks = 0;        // KL rows that could not borrow from their own micro-batch (schedule.h)
  int64_t epoch = 0, batch = 0;    // position in the schedule (loader.h)
  int64_t num_tokens() const { return attention_mask.defined() ? attention_mask.sum().item<int64_t>() : 0; }
};

// A collated paired micro-batch: chosen rows then rejected rows share the prompt.
struct PairBatch {
  torch::Tensor chosen_input_ids, chosen_attention_mask, chosen_completion_mask;        // [B, Tc]
  torch::Tensor rejected_input_ids, rejected_attention_mask, rejected_completion_mask;  // [B, Tr]
  torch::Tensor chosen_lengths, rejected_lengths;  // [B] completion tokens after truncation
  torch::Tensor pair_ids;                          // [B] int64
  std::vector<int64_t> indices;                    // dataset index per row (PairExample::index)
  int64_t epoch = 0, batch = 0;                    // position in the schedule (loader.h)
  int64_t num_tokens() const {
    return chosen_attention_mask.defined()
               ? chosen_attention_mask.sum().item<int64_t>() + rejected_attention_mask.sum().item<int64_t>()
               : 0;
  }
};

}  // namespace prospect::data
