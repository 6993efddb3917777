#pragma once
// The torchrun environment contract (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE), read once at start. `prospect launch`, torchrun,
// Slurm wrappers and PyTorchJob all start ranks with these variables.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace prospect::dist {

struct DistEnv {
  int rank = 0, world = 1;
  int local_rank = 0, local_world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Under torchrun the elastic agent already hosts the TCPStore on MASTER_PORT: rank 0 connects as
  // a client instead of listening.
  bool agent_store = false;
  bool distributed() const { return world > 1; }
};

// Reads the variables through `get` (default: std::getenv). WORLD_SIZE unset or 1: a single process.
// Malformed or inconsistent values -> prospect::Error naming the variable.
DistEnv read_env(const std::function<std::optional<std::string>(const std::string&)>& get = {});

// Intra-op threads for one of `local_world` ranks on this machine: OMP_NUM_THREADS when set, else
// cores / local_world (at least 1).
int default_threads(int local_world);

}  // namespace prospect::dist
