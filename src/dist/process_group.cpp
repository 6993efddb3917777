#include "prospect/dist/process_group.h"

#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if PROSPECT_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if PROSPECT_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

#include "prospect/core/compat.h"
#include "prospect/core/error.h"

namespace prospect::dist {

namespace {

// c10d messages carry a C++ backtrace after the first line; the user needs the first line.
std::string first_line(const std::string& s) {
  auto p = s.find('\n');
  return p == std::string::npos ? s : s.substr(0, p);
}

// The process-group type differs across LibTorch versions (a ProcessGroup in 1.13, a Backend in
// 2.x) but both expose the same collective methods: hold the concrete class.
template <class PG>
class C10dCommunicator final : public Communicator {
 public:
  C10dCommunicator(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<PG> pg, int rank, int world,
                   torch::Device device, std::string backend, std::chrono::milliseconds timeout)
      : store_(std::move(store)), pg_(std::move(pg)), rank_(rank), world_(world), device_(device),
        backend_(std::move(backend)), timeout_(timeout) {}

  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string backend() const override { return backend_; }
  using Communicator::all_reduce_sum;

  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override {
    for (auto& t : tensors) {
      auto buf = t.to(device_).contiguous();
      std::vector<at::Tensor> v{buf};
      run("all_reduce", [&] { return pg_->allreduce(v); });
      if (!buf.is_same(t)) t.copy_(buf);
    }
  }

  torch::Tensor all_gather(const torch::Tensor& t) override {
    // Gloo has no bool kernels: bools travel as bytes.
    auto in = (t.scalar_type() == torch::kBool ? t.to(torch::kUInt8) : t).to(device_).contiguous();
    std::vector<at::Tensor> inputs{in};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < world_; ++r) outputs[0].push_back(torch::empty_like(in));
    run("all_gather", [&] { return pg_->allgather(outputs, inputs); });
    return torch::stack(outputs[0], 0).to(t.device(), t.scalar_type());
  }

  void broadcast(torch::Tensor& t, int root) override {
    auto buf = t.to(device_).contiguous();
    std::vector<at::Tensor> v{buf};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    run("broadcast", [&] { return pg_->broadcast(v, o); });
    if (!buf.is_same(t)) t.copy_(buf);
  }

  void barrier() override {
    run("barrier", [&] { return pg_->barrier(); });
  }

 private:
  template <class F>
  void run(const char* op, F&& start) {
    try {
      auto work = start();
      work->wait(timeout_);
    } catch (const std::exception& e) {
      throw Error("ddp", std::string(op) + " failed on rank " + std::to_string(rank_) + " of " + std::to_string(world_) +
                             " (a peer rank exited or did not answer within train.ddp_timeout = " +
                             std::to_string(timeout_.count() / 1000) + " s): " + first_line(e.what()));
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<PG> pg_;
  int rank_, world_;
  torch::Device device_;
  std::string backend_;
  std::chrono::milliseconds timeout_;
};

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

std::vector<std::string> available_backends() {
  std::vector<std::string> out;
#if PROSPECT_HAVE_GLOO
  out.push_back("gloo");
#endif
#if PROSPECT_HAVE_NCCL
  out.push_back("nccl");
#endif
  return out;
}

std::shared_ptr<Communicator> connect(const DistEnv& env, std::chrono::milliseconds timeout,
                                      const torch::Device& device) {
  check(env.world >= 1 && env.rank >= 0 && env.rank < env.world, "ddp",
        "invalid rank " + std::to_string(env.rank) + " of world " + std::to_string(env.world));
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  const std::string secs = std::to_string(timeout.count() / 1000);
  c10::intrusive_ptr<c10d::Store> store;
  const bool server = env.rank == 0 && !env.agent_store;
  try {
    c10d::TCPStoreOptions o;
    o.port = (std::uint16_t)env.master_port;
    o.isServer = server;
    o.numWorkers = (std::size_t)env.world;
    o.waitWorkers = true;
    o.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
  } catch (const std::exception& e) {
    const std::string m = first_line(e.what());
    if (server && (m.find("in use") != std::string::npos || m.find("EADDRINUSE") != std::string::npos))
      throw Error("ddp", "rank 0 cannot listen on " + where + ": the port is in use (pick another MASTER_PORT) — " + m);
    if (server)
      throw Error("ddp", "rendezvous on " + where + " failed: not all " + std::to_string(env.world) +
                             " ranks arrived within " + secs + " s (train.ddp_timeout) — " + m);
    throw Error("ddp", "rank " + std::to_string(env.rank) + " could not join the job at " + where + " within " + secs +
                           " s (train.ddp_timeout; is rank 0 running and the address reachable?) — " + m);
  }
  // Keys of this attempt only (torchrun's agent store outlives restarts, as torch's own prefix does).
  const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(
      std::string("prospect/attempt_") + (attempt && *attempt ? attempt : "0"), store);
  try {
#if PROSPECT_HAVE_NCCL
    if (device.is_cuda()) {
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.world, o);
      return std::make_shared<C10dCommunicator<c10d::ProcessGroupNCCL>>(store, pg, env.rank, env.world, device, "nccl",
                                                                        timeout);
    }
#endif
#if PROSPECT_HAVE_GLOO
    auto o = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (is_loopback(env.master_addr))
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    o->threads = 2;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env.rank, env.world, o);
    return std::make_shared<C10dCommunicator<c10d::ProcessGroupGloo>>(store, pg, env.rank, env.world, device, "gloo",
                                                                      timeout);
#else
    throw Error("ddp", "this build of prospect has no c10d backend for " + device.str() +
                           " (Gloo headers were not found at build time; see the README's data-parallel section)");
#endif
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // The process group connects every pair of ranks: a rank that never started (or crashed before
    // joining) surfaces here as a timeout.
    throw Error("ddp", "rendezvous on " + where + " failed on rank " + std::to_string(env.rank) + ": not all " +
                           std::to_string(env.world) + " ranks arrived within " + secs +
                           " s (train.ddp_timeout) — " + first_line(e.what()));
  }
}

}  // namespace prospect::dist
