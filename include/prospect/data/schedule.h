#pragma once
// Example order, micro-batches, KL pairs, data-parallel sharding and the resume cursor.
// Everything is a pure function of (dataset size, pair ids, seed, epoch, batch size), with a
// hand-written Fisher-Yates over std::mt19937_64 (whose output the standard fixes), so that orders,
// and therefore KL pairs and precomputed reference log-probs, are identical on every platform.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "prospect/data/options.h"

namespace prospect::data {

// Uniform integer in [0, n) by rejection sampling (no std::uniform_int_distribution: its algorithm
// is implementation-defined). n >= 1.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n);
// In-place Fisher-Yates: for i = n-1 .. 1: swap(v[i], v[uniform_below(rng, i + 1)]).
void fisher_yates_shuffle(std::vector<int64_t>& v, std::mt19937_64& rng);
// The order of epoch `epoch`: 0..n-1 shuffled with an RNG seeded from (seed, epoch); identity when
// shuffle is false.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle = true);
// The unshuffled (evaluation) order of a BatchSchedule, as TRL's evaluation sees unpaired data:
// unpair_preference_dataset lays each block of 1000 preference rows out as their chosen
// completions, then their rejected ones, so that every KL completion is borrowed from a neighbour
// on the same side. (Pair-interleaved order would make a 4-row batch borrow only rejected
// completions: a one-sided, negative KL estimate that the clamp turns into exactly 0.) Examples
// of one pair are adjacent, chosen first (prepare_rows); unpaired rows keep their place.
std::vector<int64_t> evaluation_order(const std::vector<int64_t>& pair_ids);
// Consecutive chunks of batch_size (the last one smaller unless drop_last).
std::vector<std::vector<int64_t>> micro_batches(const std::vector<int64_t>& order, int64_t batch_size,
                                                bool drop_last);

// KL completions of one micro-batch. For row i the source is the first of (i-1, i-2, ... mod n) whose
// pair id differs (TRL's +1 rotation when there are no clashes). pair id -1 = unique. When no row of
// the batch qualifies, the epoch order is searched forward from the batch end (cyclically) for the
// first example with another pair id; when none exists at all the row borrows its own completion.
// Both fallbacks are counted in `fallbacks`. Returned sources are dataset indices.
struct KlAssignment {
  std::vector<int64_t> source;
  int64_t fallbacks = 0;
};
KlAssignment assign_kl(const std::vector<int64_t>& batch, const std::vector<int64_t>& pair_ids,
                       const std::vector<int64_t>& epoch_order);

// The rows [first, second) of a global micro-batch of m examples that rank `rank` of `world` takes:
// contiguous, in order, sizes differing by at most one.
std::pair<int64_t, int64_t> rank_slice(int64_t m, int64_t rank, int64_t world);

// Position in the stream of micro-batches of this rank: the next batch to produce.
struct Cursor {
  int64_t epoch = 0;
  int64_t batch = 0;
  nlohmann::json to_json() const;
  static Cursor from_json(const nlohmann::json& j);  // errors name the missing key
  bool operator==(const Cursor& o) const { return epoch == o.epoch && batch == o.batch; }
};

// One micro-batch to collate: dataset indices of its rows and of their KL completions.
struct BatchPlan {
  int64_t epoch = 0, batch = 0;
  std::vector<int64_t> rows;
  std::vector<int64_t> kl_source;  // empty unless need_kl
  int64_t kl_fallbacks = 0;
};

// The per-rank schedule of a dataset: plans for (epoch, batch), cached one epoch at a time. With
// world > 1 the schedule is that of one process with batch_size × world (same seeded order, same
// micro-batches, same KL partners) and every rank takes its rank_slice() of each global micro-batch,
// so that a data-parallel run computes exactly what the single process would.
class BatchSchedule {
 public:
  // pair_ids: one per dataset item (used for KL pairing; -1 = unique). Uses seed, batch_size,
  // shuffle, drop_last, need_kl, rank, world of the options. Errors: batch_size < 1, bad rank/world,
  // need_kl with batch_size < 2 (TRL's rule).
  BatchSchedule(std::vector<int64_t> pair_ids, const DataOptions& options);
  int64_t size() const { return (int64_t)pair_ids_.size(); }
  int64_t num_batches() const { return num_batches_; }  // per epoch (global micro-batches)
  BatchPlan plan(int64_t epoch, int64_t batch) const;   // batch in [0, num_batches())

 private:
  void ensure_epoch(int64_t epoch) const;
  std::vector<int64_t> pair_ids_;
  DataOptions opt_;
  int64_t num_batches_ = 0;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> order_;
  mutable std::vector<std::vector<int64_t>> batches_;  // global micro-batches
};

}  // namespace prospect::data
