// `prospect merge`: a LoRA/DoRA adapter merged into its base, written as a standalone Hugging Face
// model (W += s·B·A in fp32, cast once), verified on probe sequences before anything is written.
#include "command.h"
#include "hub_option.h"
#include "merge_export.h"

namespace {

prospect::cli::RunFn setup_merge(CLI::App& app) {
  auto a = std::make_shared<prospect::cli::MergeExportArgs>();
  app.add_option("--model", a->model, "base model directory (Hugging Face layout)")->transform(prospect::cli::hub_path())->required();
  app.add_option("--adapter", a->adapter, "adapter directory (PEFT layout)")->transform(prospect::cli::hub_path())->required();
  prospect::cli::add_common_options(app, *a);
  return [a] { return prospect::cli::run_merge_export(*a, "merge"); };
}

}  // namespace

PROSPECT_COMMAND("merge", "merge a LoRA adapter into its base model and write a standalone model", setup_merge);
