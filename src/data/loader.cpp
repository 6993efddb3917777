#include "prospect/data/loader.h"

#include "prospect/core/error.h"

namespace prospect::data {

namespace {

std::vector<int64_t> example_pair_ids(const std::vector<Example>& v) {
  std::vector<int64_t> ids;
  ids.reserve(v.size());
  for (const auto& e : v) ids.push_back(e.pair_id);
  return ids;
}

DataOptions pair_options(DataOptions o) {
  o.need_kl = false;  // paired losses have no KL pass
  return o;
}

void check_cursor(const Cursor& c, int64_t num_batches) {
  check(c.epoch >= 0 && c.batch >= 0 && (c.batch < num_batches || (num_batches == 0 && c.batch == 0)),
        "data cursor",
        "batch " + std::to_string(c.batch) + " out of range for " + std::to_string(num_batches) + " batches per epoch");
}

// Advance past the batch just produced, rolling over to the next epoch.
Cursor advanced(Cursor c, int64_t num_batches) {
  if (++c.batch >= num_batches) {
    c.batch = 0;
    ++c.epoch;
  }
  return c;
}

}  // namespace

DataLoader::DataLoader(const PreparedData& data, const DataOptions& options)
    : examples_(data.examples),
      collate_{options.max_length, data.pad_id},
      need_kl_(options.need_kl),
      schedule_(example_pair_ids(data.examples), options) {}

Batch DataLoader::get(int64_t epoch, int64_t batch) const {
  BatchPlan p = schedule_.plan(epoch, batch);
  Batch b = collate_examples(examples_, p.rows, need_kl_ ? &p.kl_source : nullptr, collate_);
  b.kl_fallbacks = p.kl_fallbacks;
  b.epoch = epoch;
  b.batch = batch;
  return b;
}

Batch DataLoader::next() {
  check(num_batches() > 0, "data", "no micro-batches (dataset smaller than one batch with drop_last?)");
  Batch b = get(cursor_.epoch, cursor_.batch);
  cursor_ = advanced(cursor_, num_batches());
  return b;
}

void DataLoader::set_cursor(const Cursor& c) {
  check_cursor(c, num_batches());
  cursor_ = c;
}

PairLoader::PairLoader(const PreparedData& data, const DataOptions& options)
    : pairs_(data.pairs),
      collate_{options.max_length, data.pad_id},
      schedule_(std::vector<int64_t>(data.pairs.size(), -1), pair_options(options)) {}

PairBatch PairLoader::get(int64_t epoch, int64_t batch) const {
  BatchPlan p = schedule_.plan(epoch, batch);
  PairBatch b = collate_pairs(pairs_, p.rows, collate_);
  b.epoch = epoch;
  b.batch = batch;
  return b;
}

PairBatch PairLoader::next() {
  check(num_batches() > 0, "data", "no micro-batches (dataset smaller than one batch with drop_last?)");
  PairBatch b = get(cursor_.epoch, cursor_.batch);
  cursor_ = advanced(cursor_, num_batches());
  return b;
}

void PairLoader::set_cursor(const Cursor& c) {
  check_cursor(c, num_batches());
  cursor_ = c;
}

}  // namespace prospect::data
