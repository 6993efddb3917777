#pragma once
// Subcommand registry of the `prospect` CLI. Each tools/cmd_*.cpp registers its subcommand with
// PROSPECT_COMMAND; main() builds the CLI11 app from the registry. A command's setup function adds
// its options to the given subcommand and returns the function that runs it (returning the exit code).
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace prospect::cli {

using RunFn = std::function<int()>;
using SetupFn = std::function<RunFn(CLI::App&)>;

struct CommandSpec {
  std::string name, description;
  SetupFn setup;
};

std::vector<CommandSpec>& command_registry();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string description, SetupFn setup) {
    command_registry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

}  // namespace prospect::cli

#define PROSPECT_CONCAT_(a, b) a##b
#define PROSPECT_CONCAT(a, b) PROSPECT_CONCAT_(a, b)
#define PROSPECT_COMMAND(name, description, setup_fn) \
  static ::prospect::cli::CommandRegistrar PROSPECT_CONCAT(prospect_cmd_, __LINE__)(name, description, setup_fn)
