// The dist layer: torchrun environment parsing, the one-process communicator, and real two-process
// Gloo jobs over 127.0.0.1 (this test binary re-runs itself as the two ranks: the DistWorker tests
// only run when PROSPECT_DIST_WORKER is set). The global-loss tests compare each rank's loss, metrics
// and gradient against the single-process computation on the whole micro-batch, done in the worker.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>

#include "prospect/core/error.h"
#include "prospect/dist/communicator.h"
#include "prospect/dist/env.h"
#include "prospect/dist/global_batch.h"
#include "prospect/dist/grad_sync.h"
#include "prospect/dist/process_group.h"
#include "test_util.h"

using namespace prospect;
using namespace prospect::dist;

namespace {

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, (sockaddr*)&a, sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, (sockaddr*)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return std::string(buf, (size_t)std::max<ssize_t>(n, 0));
}

// Runs `filter` of this binary as ranks 0 and 1 of a job; extra: more environment for both.
test::RunResult run_two_ranks(const std::string& filter, const std::string& extra = "") {
  const std::string port = std::to_string(free_port());
  auto rank = [&](int r) {
    return "env PROSPECT_DIST_WORKER=1 WORLD_SIZE=2 RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) +
           " LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " OMP_NUM_THREADS=1 " + extra + " '" +
           self_exe() + "' --gtest_filter=" + filter;
  };
  return test::run_command("sh -c \"(" + rank(0) + ") & p=\\$!; " + rank(1) + "; b=\\$?; wait \\$p; a=\\$?; exit \\$((a | b))\"");
}

bool is_worker() { return std::getenv("PROSPECT_DIST_WORKER") != nullptr; }

std::shared_ptr<Communicator> join(int timeout_s = 60) {
  return connect(read_env(), std::chrono::milliseconds(timeout_s * 1000), torch::kCPU);
}

std::optional<std::string> from(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? std::nullopt : std::optional<std::string>(it->second);
}

}  // namespace

TEST(DistEnv, ReadsTheTorchrunVariables) {
  auto e = read_env([](const std::string&) { return std::nullopt; });
  EXPECT_FALSE(e.distributed());
  std::map<std::string, std::string> m = {{"WORLD_SIZE", "4"},      {"RANK", "3"},         {"LOCAL_RANK", "1"},
                                          {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "n0"}, {"MASTER_PORT", "29511"},
                                          {"TORCHELASTIC_USE_AGENT_STORE", "True"}};
  e = read_env([&](const std::string& k) { return from(m, k); });
  EXPECT_TRUE(e.distributed());
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world, 2);
  EXPECT_EQ(e.master_addr, "n0");
  EXPECT_EQ(e.master_port, 29511);
  EXPECT_TRUE(e.agent_store);
  auto expect_error = [&](const std::string& key, const std::string& value, const std::string& needle) {
    auto bad = m;
    if (value.empty()) bad.erase(key);
    else bad[key] = value;
    try {
      read_env([&](const std::string& k) { return from(bad, k); });
      ADD_FAILURE() << key << "=" << value << " accepted";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(needle), std::string::npos) << err.what();
    }
  };
  expect_error("RANK", "4", "RANK");        // not below WORLD_SIZE
  expect_error("RANK", "one", "RANK");
  expect_error("RANK", "", "RANK");
  expect_error("MASTER_PORT", "70000", "MASTER_PORT");
  expect_error("MASTER_ADDR", "", "MASTER_ADDR");
  expect_error("LOCAL_RANK", "2", "LOCAL_RANK");  // not below LOCAL_WORLD_SIZE
  m["WORLD_SIZE"] = "1";
  EXPECT_FALSE(read_env([&](const std::string& k) { return from(m, k); }).distributed());
}

TEST(DistLocal, OneProcessCollectivesAreIdentities) {
  LocalCommunicator c;
  auto t = torch::tensor({1.0, 2.0});
  c.all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.0, 2.0})));
  EXPECT_EQ(c.all_gather(t).sizes(), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(torch::equal(all_gather_varlen(c, t), t));
  // A divisor still applies in one process (averaging over accumulated micro-batches).
  auto p = torch::ones({3}, torch::requires_grad());
  (p * 4.0).sum().backward();
  EXPECT_EQ(all_reduce_gradients(c, {p}, 2.0), 1);
  EXPECT_TRUE(torch::allclose(p.grad(), torch::full({3}, 2.0)));
}

TEST(DistJob, CollectivesGradientBucketsAndReducerOverGloo) {
  if (is_worker()) GTEST_SKIP();
  auto r = run_two_ranks("DistWorker.Collectives");
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASSED"), std::string::npos) << r.out;
}

TEST(DistWorker, Collectives) {
  if (!is_worker()) GTEST_SKIP() << "runs as a rank of DistJob tests";
  auto c = join();
  const int me = c->rank();
  ASSERT_EQ(c->world(), 2);
  EXPECT_EQ(c->backend(), "gloo");
  auto t = torch::tensor({1.0 + me, 10.0 * (me + 1)});
  c->all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t, torch::tensor({3.0, 30.0})));
  auto g = c->all_gather(torch::tensor({(int64_t)me * 7}));
  EXPECT_TRUE(torch::equal(g.reshape({-1}), torch::tensor({(int64_t)0, (int64_t)7})));
  // Ranks of different lengths, bools included.
  auto v = all_gather_varlen(*c, me == 0 ? torch::tensor({true}) : torch::tensor({false, true}));
  EXPECT_TRUE(torch::equal(v, torch::tensor({true, false, true})));
  auto b = torch::full({2}, (double)me);
  c->broadcast(b, 1);
  EXPECT_TRUE(torch::equal(b, torch::full({2}, 1.0)));
  c->barrier();
  // Gradients in several small buckets of mixed dtypes; a parameter without a gradient on one rank.
  auto p1 = torch::arange(5, torch::kFloat32).requires_grad_();
  auto p2 = torch::arange(3, torch::kFloat64).requires_grad_();
  auto p3 = torch::ones({4}, torch::kFloat32).requires_grad_();
  ((p1 * (me + 1.0)).sum() + (p2 * p2).sum() * (me + 1.0)).backward();
  if (me == 1) (p3 * 3.0).sum().backward();
  const int64_t calls = all_reduce_gradients(*c, {p1, p2, p3}, 2.0, 16);
  EXPECT_GE(calls, 3);
  EXPECT_TRUE(torch::allclose(p1.grad(), torch::full({5}, 1.5)));                       // (1 + 2) / 2
  EXPECT_TRUE(torch::allclose(p2.grad(), 2 * torch::arange(3, torch::kFloat64) * 1.5));  // 2x (1 + 2) / 2
  EXPECT_TRUE(torch::allclose(p3.grad(), torch::full({4}, 1.5)));                       // (0 + 3) / 2
  // The Reducer: KTO's z0 is the mean of per-rank means, BCO's δ uses global sums.
  CommReducer red(c);
  EXPECT_DOUBLE_EQ(red.mean_of_means(torch::tensor(me == 0 ? 1.0 : 4.0)).item<double>(), 2.5);
  EXPECT_DOUBLE_EQ(red.sum(torch::tensor(me == 0 ? 1.0 : 4.0)).item<double>(), 5.0);
  EXPECT_EQ(red.world_size(), 2);
  EXPECT_EQ(all_reduce_sum(*c, (int64_t)me + 1), 3);
  // A value that differs across ranks is named.
  EXPECT_NO_THROW(check_same_on_all_ranks(*c, 42, "ddp", "the config hash"));
  try {
    check_same_on_all_ranks(*c, 42 + me, "ddp", "the config hash");
    ADD_FAILURE() << "differing values accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the config hash differs between rank 0 and rank(s) 1"), std::string::npos)
        << e.what();
  }
}

TEST(DistJob, GlobalLossMatchesOneProcessForEveryFamily) {
  if (is_worker()) GTEST_SKIP();
  auto r = run_two_ranks("DistWorker.GlobalLoss");
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("PASSED"), std::string::npos) << r.out;
}

TEST(DistWorker, GlobalLoss) {
  if (!is_worker()) GTEST_SKIP() << "runs as a rank of DistJob tests";
  auto c = join();
  const int me = c->rank();
  // Uneven slices: rank 0 holds 3 of the 7 examples, rank 1 holds 4.
  const int64_t n = 7, lo = me == 0 ? 0 : 3, hi = me == 0 ? 3 : 7;
  torch::manual_seed(5);
  auto f64 = torch::kFloat64;
  auto policy = -torch::rand({n}, f64) * 20 - 5, ref = policy + torch::randn({n}, f64) * 0.5;
  auto klp = -torch::rand({n}, f64) * 20 - 5, klr = klp + torch::randn({n}, f64) * 0.3 + 0.2;
  auto lengths = torch::randint(3, 12, {n}, torch::kInt64), kl_lengths = torch::randint(3, 12, {n}, torch::kInt64);
  auto labels = torch::tensor({1, 0, 1, 1, 0, 0, 1}).to(torch::kBool);
  auto pairs = torch::tensor({0, 0, 1, 2, 2, 3, -1}, torch::kInt64);
  auto chosen = -torch::rand({n}, f64) * 20 - 5, rejected = -torch::rand({n}, f64) * 20 - 5;
  auto rc = chosen + torch::randn({n}, f64) * 0.4, rr = rejected + torch::randn({n}, f64) * 0.4;

  struct Case {
    nlohmann::json cfg;
    bool paired;
  };
  std::vector<Case> cases = {
      {{{"type", "enhanced_kto"},
        {"bco_shift", {{"enabled", true}, {"ramp_steps", 0}}},
        {"component_grad_clip", {{"kto", 0.05}, {"odds_ratio", 0.05}}}},
       false},
      {{{"type", "kto"}}, false},
      {{{"type", "bco"}}, false},
      {{{"type", "sft"}}, false},
      {{{"type", "dpo"}}, true},
      {{{"type", "orpo"}}, true},
  };
  for (const auto& cs : cases) {
    SCOPED_TRACE(cs.cfg.dump());
    auto one = loss::make_loss(cs.cfg), many = loss::make_loss(cs.cfg);
    // The single-process reference: the whole micro-batch in one process.
    auto make = [&](bool slice, std::vector<torch::Tensor>& leaves) {
      auto cut = [&](const torch::Tensor& t) { return slice ? t.narrow(0, lo, hi - lo).clone() : t.clone(); };
      loss::LossInputs in;
      if (cs.paired) {
        in.chosen_logps = cut(chosen).requires_grad_();
        in.rejected_logps = cut(rejected).requires_grad_();
        leaves = {in.chosen_logps, in.rejected_logps};
        in.ref_chosen_logps = cut(rc);
        in.ref_rejected_logps = cut(rr);
        in.chosen_lengths = cut(lengths);
        in.rejected_lengths = cut(kl_lengths);
        auto nll = cut(chosen) * 0 + in.chosen_logps;
        in.nll_sum = -nll.sum();
        in.nll_count = cut(lengths).sum().to(f64);
      } else {
        in.policy_logps = cut(policy).requires_grad_();
        leaves = {in.policy_logps};
        in.ref_logps = cut(ref);
        in.lengths = cut(lengths);
        in.labels = cut(labels);
        in.pair_ids = cut(pairs);
        in.kl_policy_logps = cut(klp);
        in.kl_ref_logps = cut(klr);
        in.kl_lengths = cut(kl_lengths);
        auto w = in.labels.to(f64);
        in.nll_sum = -(in.policy_logps * w).sum();
        in.nll_count = (in.lengths.to(f64) * w).sum();
      }
      in.loss_scale = 0.5;
      return in;
    };
    for (int step = 0; step < 2; ++step) {  // twice: BCO's running δ must advance alike
      std::vector<torch::Tensor> full_leaves, local_leaves;
      auto full = make(false, full_leaves), local = make(true, local_leaves);
      full.step = local.step = step;
      auto ref_out = one->compute(full);
      auto out = compute_global_loss(*c, *many, local);
      EXPECT_NEAR(out.loss.item<double>(), ref_out.loss.item<double>(), 1e-12);
      for (const auto& [k, v] : ref_out.metrics) {
        ASSERT_TRUE(out.metrics.count(k)) << k;
        EXPECT_NEAR(out.metrics.at(k), v, 1e-12 * std::max(1.0, std::abs(v))) << k;
      }
      ref_out.loss.backward();
      out.loss.backward();
      // Each rank's gradient is the single-process gradient restricted to its examples.
      for (size_t k = 0; k < full_leaves.size(); ++k)
        EXPECT_TRUE(torch::allclose(local_leaves[k].grad(), full_leaves[k].grad().narrow(0, lo, hi - lo), 1e-12, 1e-14))
            << local_leaves[k].grad() << full_leaves[k].grad();
    }
    EXPECT_EQ(many->state().dump(), one->state().dump());
  }
}

TEST(DistJob, RendezvousTimeoutNamesTheMissingRanks) {
  if (is_worker()) GTEST_SKIP();
  // Only rank 0 of a 2-rank job starts: it must give up after the timeout with a clear error.
  setenv("WORLD_SIZE", "2", 1);
  setenv("RANK", "0", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", std::to_string(free_port()).c_str(), 1);
  auto t0 = std::chrono::steady_clock::now();
  try {
    join(2);
    ADD_FAILURE() << "rendezvous without rank 1 succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not all 2 ranks arrived within 2 s"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  // A port that is taken: rank 0 cannot host the store.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, (sockaddr*)&a, sizeof a), 0);
  listen(fd, 1);
  socklen_t len = sizeof a;
  getsockname(fd, (sockaddr*)&a, &len);
  setenv("MASTER_PORT", std::to_string(ntohs(a.sin_port)).c_str(), 1);
  try {
    join(2);
    ADD_FAILURE() << "a busy port was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("port is in use"), std::string::npos) << e.what();
  }
  close(fd);
  for (const char* k : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(k);
}
