#include "prospect/data/schedule.h"

#include <algorithm>
#include <numeric>

#include "prospect/core/error.h"

namespace prospect::data {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

bool same_pair(const std::vector<int64_t>& pair_ids, int64_t a, int64_t b) {
  if (a == b) return true;
  const int64_t pa = pair_ids[(size_t)a], pb = pair_ids[(size_t)b];
  return pa >= 0 && pa == pb;
}

}  // namespace

uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  // Reject the top partial block of the 2^64 range so that every residue is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;  // largest multiple of n, minus 1
  uint64_t x;
  do {
    x = rng();
  } while (x > limit);
  return x % n;
}

void fisher_yates_shuffle(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = (size_t)uniform_below(rng, (uint64_t)i);
    std::swap(v[i - 1], v[j]);
  }
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order((size_t)n);
  std::iota(order.begin(), order.end(), (int64_t)0);
  if (shuffle) {
    std::mt19937_64 rng(splitmix64(splitmix64(seed) ^ (uint64_t)epoch));
    fisher_yates_shuffle(order, rng);
  }
  return order;
}

std::vector<int64_t> evaluation_order(const std::vector<int64_t>& pair_ids) {
  constexpr size_t kBlock = 1000;  // datasets.map's default batch size, which unpairing runs under
  std::vector<int64_t> order, first, second;
  auto flush = [&] {
    order.insert(order.end(), first.begin(), first.end());
    order.insert(order.end(), second.begin(), second.end());
    first.clear(), second.clear();
  };
  const size_t n = pair_ids.size();
  size_t pairs = 0;
  for (size_t i = 0; i < n; ++i) {
    if (pair_ids[i] < 0) {  // an unpaired row keeps its place
      flush();
      pairs = 0;
      order.push_back((int64_t)i);
      continue;
    }
    first.push_back((int64_t)i);  // prepare_rows emits the chosen half of a pair first
    if (i + 1 < n && pair_ids[i + 1] == pair_ids[i]) second.push_back((int64_t)++i);
    if (++pairs == kBlock) flush(), pairs = 0;
  }
  flush();
  return order;
}

std::vector<std::vector<int64_t>> micro_batches(const std::vector<int64_t>& order, int64_t batch_size,
                                                bool drop_last) {
  check(batch_size >= 1, "data", "batch_size must be >= 1");
  std::vector<std::vector<int64_t>> out;
  for (size_t s = 0; s < order.size(); s += (size_t)batch_size) {
    const size_t e = std::min(order.size(), s + (size_t)batch_size);
    if (drop_last && e - s < (size_t)batch_size) break;
    out.emplace_back(order.begin() + (std::ptrdiff_t)s, order.begin() + (std::ptrdiff_t)e);
  }
  return out;
}

KlAssignment assign_kl(const std::vector<int64_t>& batch, const std::vector<int64_t>& pair_ids,
                       const std::vector<int64_t>& order) {
  KlAssignment out;
  const size_t n = batch.size();
  out.source.resize(n);
  for (size_t i = 0; i < n; ++i) {
    bool found = false;
    // TRL: KL_completion[i] = completion[(i - 1) mod n]; skip rows of the same pair.
    for (size_t k = 1; k < n && !found; ++k) {
      const int64_t cand = batch[(i + n - k) % n];
      if (!same_pair(pair_ids, batch[i], cand)) {
        out.source[i] = cand;
        found = true;
      }
    }
    if (found) continue;
    ++out.fallbacks;
    // Outside the micro-batch: the first example after the batch in the epoch order (cyclic).
    const int64_t last = batch.back();
    size_t pos = 0;
    while (pos < order.size() && order[pos] != last) ++pos;
    for (size_t k = 1; k < order.size() && !found; ++k) {
      const int64_t cand = order[(pos + k) % order.size()];
      if (!same_pair(pair_ids, batch[i], cand)) {
        out.source[i] = cand;
        found = true;
      }
    }
    if (!found) out.source[i] = batch[i];  // the whole dataset is one pair: its own completion
  }
  return out;
}

nlohmann::json Cursor::to_json() const { return {{"epoch", epoch}, {"batch", batch}}; }

Cursor Cursor::from_json(const nlohmann::json& j) {
  Cursor c;
  check(j.is_object() && j.contains("epoch") && j["epoch"].is_number_integer(), "data cursor",
        "missing integer 'epoch'");
  check(j.contains("batch") && j["batch"].is_number_integer(), "data cursor", "missing integer 'batch'");
  c.epoch = j["epoch"].get<int64_t>();
  c.batch = j["batch"].get<int64_t>();
  check(c.epoch >= 0 && c.batch >= 0, "data cursor", "negative epoch or batch");
  return c;
}

BatchSchedule::BatchSchedule(std::vector<int64_t> pair_ids, const DataOptions& options)
    : pair_ids_(std::move(pair_ids)), opt_(options) {
  check(opt_.batch_size >= 1, "data", "batch_size must be >= 1");
  check(opt_.world >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world, "data",
        "invalid rank " + std::to_string(opt_.rank) + " of world " + std::to_string(opt_.world));
  const int64_t gb = opt_.batch_size * opt_.world;
  check(!opt_.need_kl || gb >= 2, "data",
        "the KL estimate needs a micro-batch of at least 2 examples (batch_size = " + std::to_string(opt_.batch_size) +
            ")");
  const int64_t n = size();
  num_batches_ = opt_.drop_last ? n / gb : (n + gb - 1) / gb;
  const int64_t tail = n % gb;
  check(opt_.world == 1 || opt_.drop_last || tail == 0 || tail >= opt_.world, "data",
        "the last global micro-batch of an epoch holds " + std::to_string(tail) + " example(s), fewer than the " +
            std::to_string(opt_.world) + " ranks: set data.drop_last or choose a batch size that leaves each rank one");
}

void BatchSchedule::ensure_epoch(int64_t epoch) const {
  if (epoch == cached_epoch_) return;
  order_ = opt_.shuffle ? epoch_order(size(), opt_.seed, epoch, true) : evaluation_order(pair_ids_);
  // The global micro-batch (world x per-device batch, in the single-process order); each rank takes its slice.
  batches_ = micro_batches(order_, opt_.batch_size * opt_.world, opt_.drop_last);
  cached_epoch_ = epoch;
}

std::pair<int64_t, int64_t> rank_slice(int64_t m, int64_t rank, int64_t world) {
  return {rank * m / world, (rank + 1) * m / world};
}

BatchPlan BatchSchedule::plan(int64_t epoch, int64_t batch) const {
  check(epoch >= 0, "data", "negative epoch");
  check(batch >= 0 && batch < num_batches_, "data",
        "batch " + std::to_string(batch) + " out of range [0, " + std::to_string(num_batches_) + ")");
  ensure_epoch(epoch);
  BatchPlan p;
  p.epoch = epoch;
  p.batch = batch;
  const auto& global = batches_[(size_t)batch];
  // KL partners are assigned over the global micro-batch, then every rank takes its slice.
  std::vector<int64_t> kl_source;
  if (opt_.need_kl) {
    KlAssignment kl = assign_kl(global, pair_ids_, order_);
    kl_source = std::move(kl.source);
    p.kl_fallbacks = kl.fallbacks;
  }
  auto [lo, hi] = rank_slice((int64_t)global.size(), opt_.rank, opt_.world);
  p.rows.assign(global.begin() + lo, global.begin() + hi);
  if (opt_.need_kl) p.kl_source.assign(kl_source.begin() + lo, kl_source.begin() + hi);
  return p;
}

}  // namespace prospect::data
