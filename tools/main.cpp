// `prospect`: train, merge, export, evaluate, generate, score and tokenize from one binary.
// Errors are one line on stderr and a non-zero exit code; results go to stdout.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "command.h"
#include "prospect/core/error.h"

#ifdef PROSPECT_HAVE_MIMALLOC
#include <mimalloc.h>
#include <unistd.h>
#endif

namespace prospect::cli {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> r;
  return r;
}
}  // namespace prospect::cli

int main(int argc, char** argv) {
  using namespace prospect::cli;
#ifdef PROSPECT_HAVE_MIMALLOC
  // Tensors above mimalloc's huge-object size live in their own OS mapping outside an arena, and are
  // unmapped on free: every training step page-faulted its large buffers in again (sys time above
  // user time). A committed arena (as MIMALLOC_RESERVE_OS_MEMORY does; pages become resident only
  // when first touched, so RSS is the high-water mark as before) keeps freed blocks for reuse.
  // Half the RAM, at most 16 GiB; larger allocations fall back to the OS.
  if (!std::getenv("MIMALLOC_RESERVE_OS_MEMORY")) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0)
      mi_reserve_os_memory(std::min<size_t>((size_t)pages * (size_t)page / 2, (size_t)16 << 30), /*commit=*/true,
                           /*allow_large=*/false);
  }
#endif
  // Logs go to stderr so that stdout stays machine-readable JSON.
  auto logger = spdlog::stderr_color_mt("prospect");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S] [%^%l%$] %v");
  if (const char* lvl = std::getenv("PROSPECT_LOG")) spdlog::set_level(spdlog::level::from_str(lvl));

  CLI::App app{"prospect: preference optimisation (Enhanced KTO, KTO, DPO, ORPO, BCO, SimPO, SFT) for "
               "Hugging Face causal language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("prospect 0.1.0 (LibTorch ") + TORCH_VERSION + ")");
  int threads = 0;
  app.add_option("--threads", threads, "intra-op CPU threads (default: all cores)");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");

  auto& reg = command_registry();
  std::sort(reg.begin(), reg.end(), [](const CommandSpec& a, const CommandSpec& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, RunFn>> subs;
  for (auto& spec : reg) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.description);
    subs.emplace_back(sub, spec.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) spdlog::set_level(spdlog::level::debug);
  if (threads > 0) {
    torch::set_num_threads(threads);
    setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);  // so a data-parallel rank keeps it
  }
  for (auto& [sub, run] : subs) {
    if (!sub->parsed()) continue;
    try {
      return run();
    } catch (const prospect::Error& e) {
      std::cerr << "error: " << e.what() << std::endl;
      return 1;
    } catch (const c10::Error& e) {
      std::cerr << "error: " << e.what_without_backtrace() << std::endl;
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << std::endl;
      return 1;
    }
  }
  return 0;
}
