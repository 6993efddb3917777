#include "prospect/dist/env.h"

#include <cerrno>
#include <cstdlib>
#include <thread>

#include "prospect/core/error.h"

namespace prospect::dist {

namespace {

int parse_int(const std::string& name, const std::string& s, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    throw Error("environment " + name, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                           "], got '" + s + "'");
  return (int)v;
}

bool truthy(const std::string& s) { return s == "1" || s == "True" || s == "true" || s == "TRUE" || s == "yes"; }

}  // namespace

DistEnv read_env(const std::function<std::optional<std::string>(const std::string&)>& get_fn) {
  auto get = [&](const std::string& k) -> std::optional<std::string> {
    if (get_fn) return get_fn(k);
    const char* v = std::getenv(k.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  DistEnv e;
  auto world = get("WORLD_SIZE");
  if (!world) return e;
  e.world = parse_int("WORLD_SIZE", *world, 1, 1 << 20);
  if (e.world == 1) return e;
  auto rank = get("RANK");
  if (!rank) throw Error("environment RANK", "WORLD_SIZE is " + *world + " but RANK is not set");
  e.rank = parse_int("RANK", *rank, 0, e.world - 1);
  e.local_rank = get("LOCAL_RANK") ? parse_int("LOCAL_RANK", *get("LOCAL_RANK"), 0, e.world - 1) : e.rank;
  e.local_world = get("LOCAL_WORLD_SIZE") ? parse_int("LOCAL_WORLD_SIZE", *get("LOCAL_WORLD_SIZE"), 1, e.world) : e.world;
  if (e.local_rank >= e.local_world)
    throw Error("environment LOCAL_RANK", "LOCAL_RANK " + std::to_string(e.local_rank) + " is not below LOCAL_WORLD_SIZE " +
                                              std::to_string(e.local_world));
  auto addr = get("MASTER_ADDR");
  if (!addr || addr->empty()) throw Error("environment MASTER_ADDR", "required when WORLD_SIZE > 1");
  e.master_addr = *addr;
  auto port = get("MASTER_PORT");
  if (!port) throw Error("environment MASTER_PORT", "required when WORLD_SIZE > 1");
  e.master_port = parse_int("MASTER_PORT", *port, 1, 65535);
  auto agent = get("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && truthy(*agent);
  return e;
}

int default_threads(int local_world) {
  if (const char* omp = std::getenv("OMP_NUM_THREADS"); omp && *omp)
    return parse_int("OMP_NUM_THREADS", omp, 1, 1 << 16);
  const int cores = (int)std::max(1u, std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, local_world));
}

}  // namespace prospect::dist
