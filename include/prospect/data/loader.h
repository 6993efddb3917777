#pragma once
// Iteration over prepared data for one rank: schedule (order, micro-batches, KL pairs, shard) +
// collation, with a cursor for exact resume. The loaders keep a reference to the prepared data,
// which must outlive them.
#include <cstdint>
#include <vector>

#include "prospect/data/batch.h"
#include "prospect/data/collate.h"
#include "prospect/data/options.h"
#include "prospect/data/prepare.h"
#include "prospect/data/schedule.h"

namespace prospect::data {

// Unpaired micro-batches (KTO family, SFT, BCO); KL rows when options.need_kl.
class DataLoader {
 public:
  DataLoader(const PreparedData& data, const DataOptions& options);
  int64_t num_batches() const { return schedule_.num_batches(); }  // per epoch, this rank
  BatchPlan plan(int64_t epoch, int64_t batch) const { return schedule_.plan(epoch, batch); }
  Batch get(int64_t epoch, int64_t batch) const;  // random access, cursor untouched
  Batch next();                                   // the batch at the cursor, then advance it
  const Cursor& cursor() const { return cursor_; }
  void set_cursor(const Cursor& c);               // resume: the same batches follow

 private:
  const std::vector<Example>& examples_;
  CollateOptions collate_;
  bool need_kl_;
  BatchSchedule schedule_;
  Cursor cursor_;
};

// Paired micro-batches (DPO, ORPO, SimPO, preference accuracy).
class PairLoader {
 public:
  PairLoader(const PreparedData& data, const DataOptions& options);
  int64_t num_batches() const { return schedule_.num_batches(); }
  BatchPlan plan(int64_t epoch, int64_t batch) const { return schedule_.plan(epoch, batch); }
  PairBatch get(int64_t epoch, int64_t batch) const;
  PairBatch next();
  const Cursor& cursor() const { return cursor_; }
  void set_cursor(const Cursor& c);

 private:
  const std::vector<PairExample>& pairs_;
  CollateOptions collate_;
  BatchSchedule schedule_;
  Cursor cursor_;
};

}  // namespace prospect::data
