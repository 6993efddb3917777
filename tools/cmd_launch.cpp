// `prospect launch --nproc-per-node N [--nnodes M --node-rank K --master-addr A --master-port P]
//  -- train CONFIG ...`: starts this node's ranks of a data-parallel job with the environment torchrun
// gives them (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...), prefixes
// every line a rank writes to stderr with "[rank K] ", forwards SIGINT/SIGTERM, and as soon as one
// rank fails ends the others and exits with that rank's status (torchrun's fail-fast policy).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>

#include "command.h"
#include "prospect/core/error.h"
#include "prospect/dist/env.h"

namespace {

struct LaunchArgs {
  int nproc_per_node = 1, nnodes = 1, node_rank = 0, master_port = 29500;
  std::string master_addr = "127.0.0.1";
  std::vector<std::string> command;
};

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

struct Rank {
  int global = 0;
  pid_t pid = -1;
  int err_fd = -1;      // read end of the rank's stderr
  std::string partial;  // an unfinished line
  bool running = true;
  int status = 0;
};

void emit(const Rank& r, const std::string& line) {
  std::string out = "[rank " + std::to_string(r.global) + "] " + line + "\n";
  ssize_t ignored = write(2, out.data(), out.size());
  (void)ignored;
}

// Moves what the rank wrote to stderr to ours, a line at a time. false at end of stream.
bool pump(Rank& r) {
  char buf[4096];
  ssize_t n = read(r.err_fd, buf, sizeof buf);
  if (n <= 0) {
    if (!r.partial.empty()) emit(r, r.partial), r.partial.clear();
    close(r.err_fd);
    r.err_fd = -1;
    return false;
  }
  r.partial.append(buf, (size_t)n);
  size_t nl;
  while ((nl = r.partial.find('\n')) != std::string::npos) {
    emit(r, r.partial.substr(0, nl));
    r.partial.erase(0, nl + 1);
  }
  return true;
}

pid_t spawn(const LaunchArgs& a, int local_rank, int& err_fd) {
  int fds[2];
  if (pipe(fds) != 0) throw prospect::Error("launch", std::string("pipe: ") + std::strerror(errno));
  const int world = a.nnodes * a.nproc_per_node;
  const int rank = a.node_rank * a.nproc_per_node + local_rank;
  pid_t pid = fork();
  if (pid < 0) throw prospect::Error("launch", std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);  // ignored in the launcher only
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    setenv("RANK", std::to_string(rank).c_str(), 1);
    setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
    setenv("LOCAL_RANK", std::to_string(local_rank).c_str(), 1);
    setenv("LOCAL_WORLD_SIZE", std::to_string(a.nproc_per_node).c_str(), 1);
    setenv("GROUP_RANK", std::to_string(a.node_rank).c_str(), 1);
    setenv("ROLE_RANK", std::to_string(rank).c_str(), 1);
    setenv("ROLE_WORLD_SIZE", std::to_string(world).c_str(), 1);
    setenv("MASTER_ADDR", a.master_addr.c_str(), 1);
    setenv("MASTER_PORT", std::to_string(a.master_port).c_str(), 1);
    unsetenv("TORCHELASTIC_USE_AGENT_STORE");  // rank 0 hosts the store itself
    // Share the cores among this node's ranks unless the user chose (torchrun would force 1).
    setenv("OMP_NUM_THREADS", std::to_string(prospect::dist::default_threads(a.nproc_per_node)).c_str(), 0);
    std::vector<char*> argv;
    std::string self = "/proc/self/exe";
    argv.push_back(const_cast<char*>("prospect"));
    for (const auto& s : a.command) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    std::fprintf(stderr, "exec failed: %s\n", std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  err_fd = fds[0];
  return pid;
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "exited with status " + std::to_string(exit_code(status));
}

void signal_all(std::vector<Rank>& ranks, int sig) {
  for (auto& r : ranks)
    if (r.running) kill(r.pid, sig);
}

int run_launch(const LaunchArgs& a) {
  using prospect::check;
  check(a.nproc_per_node >= 1, "launch --nproc-per-node", "must be >= 1");
  check(a.nnodes >= 1, "launch --nnodes", "must be >= 1");
  check(a.node_rank >= 0 && a.node_rank < a.nnodes, "launch --node-rank", "must be in [0, --nnodes)");
  check(a.master_port >= 1 && a.master_port <= 65535, "launch --master-port", "must be in [1, 65535]");
  check(!a.command.empty(), "launch", "give the prospect command to run after '--' (e.g. -- train config.json)");

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<Rank> ranks((size_t)a.nproc_per_node);
  for (int i = 0; i < a.nproc_per_node; ++i) {
    ranks[(size_t)i].global = a.node_rank * a.nproc_per_node + i;
    ranks[(size_t)i].pid = spawn(a, i, ranks[(size_t)i].err_fd);
  }
  int result = 0;
  bool stopping = false;
  std::chrono::steady_clock::time_point kill_deadline;
  int forwarded = 0;
  for (;;) {
    if (g_signal && g_signal != forwarded) {
      forwarded = g_signal;
      signal_all(ranks, forwarded);  // the ranks decide how to end; we wait for them
      if (!stopping) stopping = true, kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      if (result == 0) result = 128 + forwarded;
    }
    std::vector<pollfd> pf;
    std::vector<Rank*> owners;
    for (auto& r : ranks)
      if (r.err_fd >= 0) pf.push_back({r.err_fd, POLLIN, 0}), owners.push_back(&r);
    if (!pf.empty()) {
      int n = poll(pf.data(), pf.size(), 100);
      if (n > 0)
        for (size_t k = 0; k < pf.size(); ++k)
          if (pf[k].revents & (POLLIN | POLLHUP | POLLERR)) pump(*owners[k]);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    bool any_running = false;
    for (auto& r : ranks) {
      if (!r.running) continue;
      int st = 0;
      pid_t w = waitpid(r.pid, &st, WNOHANG);
      if (w == r.pid) {
        r.running = false;
        r.status = st;
        if (exit_code(st) != 0 && !stopping) {
          // Fail fast: the job cannot go on without this rank.
          std::cerr << "launch: rank " << r.global << " " << describe(st) << "; stopping the other ranks" << std::endl;
          result = exit_code(st);
          stopping = true;
          kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          signal_all(ranks, SIGTERM);
        }
      } else {
        any_running = true;
      }
    }
    if (stopping && any_running && std::chrono::steady_clock::now() > kill_deadline) signal_all(ranks, SIGKILL);
    bool any_output = false;
    for (auto& r : ranks) any_output |= r.err_fd >= 0;
    if (!any_running && !any_output) break;
    if (!any_running && any_output) {
      // Drain what the exited ranks left in their pipes (their children may hold them open).
      for (auto& r : ranks)
        if (r.err_fd >= 0) {
          fcntl(r.err_fd, F_SETFL, O_NONBLOCK);
          while (r.err_fd >= 0 && pump(r)) {
          }
        }
      break;
    }
  }
  return result;
}

prospect::cli::RunFn setup_launch(CLI::App& app) {
  auto a = std::make_shared<LaunchArgs>();
  app.add_option("--nproc-per-node", a->nproc_per_node, "ranks to start on this node")->required();
  app.add_option("--nnodes", a->nnodes, "nodes of the job (default 1)");
  app.add_option("--node-rank", a->node_rank, "this node's index in [0, nnodes) (default 0)");
  app.add_option("--master-addr", a->master_addr, "address of node 0, where rank 0 hosts the store (default 127.0.0.1)");
  app.add_option("--master-port", a->master_port, "port of the store on node 0 (default 29500)");
  app.add_option("command", a->command, "the prospect command every rank runs, after '--' (e.g. -- train cfg.json)")
      ->required();
  return [a] { return run_launch(*a); };
}

}  // namespace

PROSPECT_COMMAND("launch", "start this node's ranks of a data-parallel job (as torchrun does): launch -- train CONFIG",
                 setup_launch);
