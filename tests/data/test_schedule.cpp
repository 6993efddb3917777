// Order, micro-batches, KL pairs, sharding, collation and cursor resume.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/data/collate.h"
#include "prospect/data/loader.h"
#include "prospect/data/schedule.h"
#include "test_util.h"
#include "toy_tokenizer.h"

using namespace prospect::data;
using prospect::test::bytes;

namespace {

// n paired rows "p<i>" -> "c<i>" / "r<i>", i.e. 2n examples with pair ids 0..n-1.
PreparedData paired_data(int n) {
  std::vector<RawRow> rows;
  for (int i = 0; i < n; ++i)
    rows.push_back(parse_row({{"prompt", "p" + std::to_string(i)}, {"chosen", " c" + std::to_string(i)},
                              {"rejected", " r" + std::to_string(i) + "!"}},
                             "t:" + std::to_string(i + 1), i));
  static prospect::test::ToyTokenizer tok;
  return prepare_rows(rows, DataOptions{}, tok, nullptr);
}

bool tensors_equal(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.defined() != b.defined()) return false;
  return !a.defined() || (a.sizes() == b.sizes() && a.equal(b));
}

bool batches_equal(const Batch& a, const Batch& b) {
  return tensors_equal(a.input_ids, b.input_ids) && tensors_equal(a.attention_mask, b.attention_mask) &&
         tensors_equal(a.completion_mask, b.completion_mask) && tensors_equal(a.labels, b.labels) &&
         tensors_equal(a.kl_input_ids, b.kl_input_ids) && tensors_equal(a.kl_completion_mask, b.kl_completion_mask) &&
         a.indices == b.indices && a.kl_source == b.kl_source;
}

}  // namespace

TEST(DataSchedule, ShuffleMatchesIndependentGolden) {
  auto g = prospect::read_json_file(prospect::test::golden_dir() / "data" / "shuffle_golden.json");
  std::mt19937_64 rng;  // default seed 5489: the standard's check value
  rng.discard(9999);
  EXPECT_EQ(rng(), g["mt19937_64_seed5489_10000th"].get<uint64_t>());
  for (const auto& c : g["cases"]) {
    auto order = epoch_order(c["n"].get<int64_t>(), c["seed"].get<uint64_t>(), c["epoch"].get<int64_t>());
    EXPECT_EQ(order, c["order"].get<std::vector<int64_t>>()) << c["n"] << " " << c["seed"] << " " << c["epoch"];
  }
}

TEST(DataSchedule, ShuffleIsSeededPerEpoch) {
  auto a = epoch_order(200, 42, 0), b = epoch_order(200, 42, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, epoch_order(200, 42, 1));
  EXPECT_NE(a, epoch_order(200, 43, 0));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 200; ++i) EXPECT_EQ(sorted[(size_t)i], i);
  auto id = epoch_order(5, 42, 3, /*shuffle=*/false);
  EXPECT_EQ(id, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // Micro-batches are consecutive chunks of the order.
  auto mb = micro_batches({4, 1, 3, 0, 2}, 2, false);
  ASSERT_EQ(mb.size(), 3u);
  EXPECT_EQ(mb[2], (std::vector<int64_t>{2}));
  EXPECT_EQ(micro_batches({4, 1, 3, 0, 2}, 2, true).size(), 2u);
}

TEST(DataSchedule, KlPairsAvoidSamePairId) {
  // All pair ids distinct: TRL's rotation, source[i] = batch[i-1 mod n].
  std::vector<int64_t> pid = {10, 11, 12, 13};
  auto kl = assign_kl({0, 1, 2, 3}, pid, {0, 1, 2, 3});
  EXPECT_EQ(kl.source, (std::vector<int64_t>{3, 0, 1, 2}));
  EXPECT_EQ(kl.fallbacks, 0);
  // [A, A, B, B]: the rotation would pair row 1 with row 0 (same pair) -> the next one back.
  pid = {0, 0, 1, 1};
  kl = assign_kl({0, 1, 2, 3}, pid, {0, 1, 2, 3});
  EXPECT_EQ(kl.source, (std::vector<int64_t>{3, 3, 1, 1}));
  EXPECT_EQ(kl.fallbacks, 0);
  // A micro-batch holding one pair only: borrow from the next example after it in the epoch order.
  pid = {0, 0, 1, 1, 2, 2};
  std::vector<int64_t> order = {2, 3, 0, 1, 4, 5};
  kl = assign_kl({2, 3}, pid, order);
  EXPECT_EQ(kl.source, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(kl.fallbacks, 2);
  kl = assign_kl({4, 5}, pid, order);  // wraps around to the start of the epoch
  EXPECT_EQ(kl.source, (std::vector<int64_t>{2, 2}));
  // The whole dataset is one pair: its own completion, recorded.
  kl = assign_kl({0, 1}, {7, 7}, {0, 1});
  EXPECT_EQ(kl.source, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(kl.fallbacks, 2);
  // pair id -1 (unpaired rows) never clashes.
  kl = assign_kl({0, 1}, {-1, -1}, {0, 1});
  EXPECT_EQ(kl.source, (std::vector<int64_t>{1, 0}));
}

TEST(DataSchedule, KlPairsOverAWholeEpochAreSeedStable) {
  PreparedData d = paired_data(50);  // 100 examples
  DataOptions opt;
  opt.batch_size = 4;
  opt.need_kl = true;
  opt.seed = 7;
  std::vector<int64_t> pid;
  for (const auto& e : d.examples) pid.push_back(e.pair_id);
  BatchSchedule a(pid, opt), b(pid, opt);
  EXPECT_EQ(a.num_batches(), 25);
  int64_t fallbacks = 0;
  std::set<int64_t> seen;
  for (int64_t epoch = 0; epoch < 2; ++epoch)
    for (int64_t k = 0; k < a.num_batches(); ++k) {
      BatchPlan p = a.plan(epoch, k), q = b.plan(epoch, k);
      EXPECT_EQ(p.rows, q.rows);
      EXPECT_EQ(p.kl_source, q.kl_source);
      for (size_t i = 0; i < p.rows.size(); ++i) {
        EXPECT_NE(pid[(size_t)p.rows[i]], pid[(size_t)p.kl_source[i]]);
        if (epoch == 0) seen.insert(p.rows[i]);
      }
      fallbacks += p.kl_fallbacks;
    }
  EXPECT_EQ(seen.size(), 100u);  // every example exactly once per epoch
  // Random access in any order gives the same plans (reference log-probs can be precomputed).
  EXPECT_EQ(a.plan(0, 3).kl_source, b.plan(0, 3).kl_source);
  EXPECT_NE(a.plan(0, 0).rows, a.plan(1, 0).rows);
  // A full batch of 4 holds at least 2 pairs, so no row ever needs a fallback.
  EXPECT_EQ(fallbacks, 0);
  opt.batch_size = 1;
  EXPECT_THROW(BatchSchedule(pid, opt), prospect::Error);  // KL needs micro-batches of >= 2
}

TEST(DataSchedule, RanksSliceTheSingleProcessMicroBatches) {
  EXPECT_EQ(rank_slice(8, 0, 2), (std::pair<int64_t, int64_t>(0, 4)));
  EXPECT_EQ(rank_slice(8, 1, 2), (std::pair<int64_t, int64_t>(4, 8)));
  EXPECT_EQ(rank_slice(5, 0, 2), (std::pair<int64_t, int64_t>(0, 2)));
  EXPECT_EQ(rank_slice(5, 1, 2), (std::pair<int64_t, int64_t>(2, 5)));

  // Two ranks with batch 2 see, together and in order, the micro-batches (and KL partners) of one
  // process with batch 4: KL partners come from the whole global micro-batch, not the rank's half.
  PreparedData d = paired_data(10);  // 20 examples, pairs of 2
  DataOptions opt;
  opt.batch_size = 4;
  opt.need_kl = true;
  DataLoader all(d, opt);
  opt.batch_size = 2;
  opt.world = 2;
  DataLoader r0(d, opt);
  opt.rank = 1;
  DataLoader r1(d, opt);
  ASSERT_EQ(r0.num_batches(), all.num_batches());
  int64_t crossing = 0;
  for (int64_t e = 0; e < 2; ++e)
    for (int64_t i = 0; i < all.num_batches(); ++i) {
      auto g = all.plan(e, i), a = r0.plan(e, i), b = r1.plan(e, i);
      std::vector<int64_t> rows = a.rows, kl = a.kl_source;
      rows.insert(rows.end(), b.rows.begin(), b.rows.end());
      kl.insert(kl.end(), b.kl_source.begin(), b.kl_source.end());
      EXPECT_EQ(rows, g.rows);
      EXPECT_EQ(kl, g.kl_source);
      for (size_t k = 0; k < b.rows.size(); ++k)
        crossing += std::find(b.rows.begin(), b.rows.end(), b.kl_source[k]) == b.rows.end();
    }
  EXPECT_GT(crossing, 0);  // some of rank 1's KL rows borrow from rank 0's slice
  // A last global micro-batch too small to give every rank a row is refused, unless dropped.
  PreparedData odd = paired_data(5);  // 10 examples: batches of 3 x 3 leave 1
  opt.batch_size = 3;
  opt.world = 3;
  opt.rank = 0;
  EXPECT_THROW(DataLoader(odd, opt), prospect::Error);
  opt.drop_last = true;
  EXPECT_EQ(DataLoader(odd, opt).num_batches(), 1);
}

TEST(DataCollate, PaddingMasksAndKlRows) {
  PreparedData d = paired_data(3);  // pad = eos = 256
  // Examples: 0 = p0+" c0<eos>", 1 = p0+" r0!<eos>", ...
  Batch b = collate_examples(d.examples, {1, 2}, nullptr, CollateOptions{0, d.pad_id});
  ASSERT_EQ(b.input_ids.sizes(), (std::vector<int64_t>{2, 7}));  // "p0" + " r0!" + eos = 7
  auto row0 = bytes("p0 r0!");
  row0.push_back(256);
  for (int64_t t = 0; t < 7; ++t) EXPECT_EQ(b.input_ids[0][t].item<int64_t>(), row0[(size_t)t]);
  EXPECT_EQ(b.input_ids[1][6].item<int64_t>(), 256);  // right padding with the pad id
  EXPECT_EQ(b.attention_mask[1].sum().item<int64_t>(), 6);
  EXPECT_EQ(b.attention_mask[1][6].item<int64_t>(), 0);
  EXPECT_EQ(b.completion_mask[0].sum().item<int64_t>(), 5);
  EXPECT_EQ(b.completion_mask[0][1].item<int64_t>(), 0);
  EXPECT_EQ(b.completion_mask[0][2].item<int64_t>(), 1);
  EXPECT_EQ(b.lengths[1].item<int64_t>(), 4);
  EXPECT_FALSE(b.labels[0].item<bool>());
  EXPECT_TRUE(b.labels[1].item<bool>());
  EXPECT_EQ(b.pair_ids[1].item<int64_t>(), 1);
  EXPECT_EQ(b.indices, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(b.kl_input_ids.defined());
  EXPECT_EQ(b.num_tokens(), 13);

  // KL rows: own prompt + the borrowed completion.
  std::vector<int64_t> kl = {4, 0};
  b = collate_examples(d.examples, {1, 2}, &kl, CollateOptions{0, d.pad_id});
  EXPECT_EQ(b.kl_source, kl);
  auto kl0 = bytes("p0 c2");
  kl0.push_back(256);
  ASSERT_EQ(b.kl_input_ids.size(1), 6);
  for (int64_t t = 0; t < 6; ++t) EXPECT_EQ(b.kl_input_ids[0][t].item<int64_t>(), kl0[(size_t)t]);
  EXPECT_EQ(b.kl_lengths[1].item<int64_t>(), 4);  // " c0" + eos after prompt "p1"
  EXPECT_EQ(b.kl_completion_mask[1].sum().item<int64_t>(), 4);

  PairBatch pb = collate_pairs(d.pairs, {2, 0}, CollateOptions{0, d.pad_id});
  EXPECT_EQ(pb.chosen_input_ids.sizes(), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(pb.rejected_input_ids.sizes(), (std::vector<int64_t>{2, 7}));
  EXPECT_EQ(pb.rejected_lengths[0].item<int64_t>(), 5);
  EXPECT_EQ(pb.pair_ids[0].item<int64_t>(), 2);
  EXPECT_EQ(pb.indices, (std::vector<int64_t>{2, 0}));
}

TEST(DataLoader, CursorResumeGivesIdenticalBatches) {
  PreparedData d = paired_data(7);  // 14 examples, batch 4 -> 4 batches per epoch (last has 2)
  DataOptions opt;
  opt.batch_size = 4;
  opt.need_kl = true;
  opt.seed = 3;
  DataLoader full(d, opt);
  ASSERT_EQ(full.num_batches(), 4);
  std::vector<Batch> ref;
  for (int i = 0; i < 10; ++i) ref.push_back(full.next());
  EXPECT_EQ(full.cursor(), (Cursor{2, 2}));
  EXPECT_EQ(ref[3].input_ids.size(0), 2);
  EXPECT_EQ(ref[5].epoch, 1);
  EXPECT_EQ(ref[5].batch, 1);

  // A fresh loader (as after a restart) resumed from a saved cursor continues identically.
  Cursor saved = Cursor::from_json(nlohmann::json::parse(Cursor{1, 1}.to_json().dump()));
  DataLoader resumed(d, opt);
  resumed.set_cursor(saved);
  for (int i = 5; i < 10; ++i) EXPECT_TRUE(batches_equal(resumed.next(), ref[(size_t)i])) << i;
  // Different epochs see different orders.
  EXPECT_NE(ref[0].indices, ref[4].indices);
  EXPECT_THROW(resumed.set_cursor(Cursor{0, 4}), prospect::Error);
  EXPECT_THROW(Cursor::from_json({{"epoch", 1}}), prospect::Error);

  PairLoader pl(d, opt), pl2(d, opt);
  EXPECT_EQ(pl.num_batches(), 2);
  pl.next();
  pl.next();
  PairBatch x = pl.next();  // epoch 1, batch 0
  pl2.set_cursor({1, 0});
  PairBatch y = pl2.next();
  EXPECT_EQ(x.indices, y.indices);
  EXPECT_TRUE(x.chosen_input_ids.equal(y.chosen_input_ids));
}

// Unshuffled (evaluation) order as TRL's unpaired evaluation data: per block of pairs, the chosen
// halves then the rejected ones; unpaired rows keep their place; a pair that lost a half is alone.
TEST(Schedule, EvaluationOrderGroupsChosenThenRejected) {
  // examples: pair 0 (0,1), pair 1 (2,3), unpaired 4, pair 2 (5, its rejected half dropped), pair 3 (6,7)
  std::vector<int64_t> pid = {0, 0, 1, 1, -1, 2, 3, 3};
  EXPECT_EQ(evaluation_order(pid), (std::vector<int64_t>{0, 2, 1, 3, 4, 5, 6, 7}));
  // A 4-row batch [c0 c1 r0 r1] now borrows r1, c0, c1, r0: both sides. The interleaved order
  // [c0 r0 c1 r1] borrowed r1, r1, r0, r0: rejected completions only.
  auto kl = assign_kl({0, 2, 1, 3}, pid, evaluation_order(pid));
  EXPECT_EQ(kl.source, (std::vector<int64_t>{3, 0, 2, 1}));
}
