#pragma once
// Collation of tokenized examples into padded tensors (TRL's DataCollatorForUnpairedPreference):
// input = prompt_ids + completion_ids cut to the first max_length tokens (keep start), right padded
// with pad_id; attention_mask marks real tokens; completion_mask the completion tokens that survive.
#include <cstdint>
#include <vector>

#include "prospect/data/batch.h"

namespace prospect::data {

struct CollateOptions {
  int64_t max_length = 0;  // 0 = no truncation
  int64_t pad_id = 0;
};

// rows: dataset indices into `examples`. kl_source (optional, same length as rows): dataset indices
// whose completion each KL row borrows; the KL row is the row's own prompt + that completion.
Batch collate_examples(const std::vector<Example>& examples, const std::vector<int64_t>& rows,
                       const std::vector<int64_t>* kl_source, const CollateOptions& opt);

PairBatch collate_pairs(const std::vector<PairExample>& pairs, const std::vector<int64_t>& rows,
                        const CollateOptions& opt);

}  // namespace prospect::data
