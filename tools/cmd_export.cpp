// `prospect export --format hf`: a standalone Hugging Face model from a model directory, optionally
// with an adapter merged (as `prospect merge`), optionally converting the dtype; adds a README.md
// model card when the training run's metadata (prospect_run.json) is found.
#include "command.h"
#include "hub_option.h"
#include "merge_export.h"

namespace {

prospect::cli::RunFn setup_export(CLI::App& app) {
  auto a = std::make_shared<prospect::cli::MergeExportArgs>();
  app.add_option("--model", a->model, "model directory (Hugging Face layout)")->transform(prospect::cli::hub_path())->required();
  app.add_option("--adapter", a->adapter, "adapter directory (PEFT layout) to merge (optional)")->transform(prospect::cli::hub_path());
  app.add_option("--format", a->format, "output format: hf (default)")->check(CLI::IsMember({"hf"}));
  prospect::cli::add_common_options(app, *a);
  return [a] { return prospect::cli::run_merge_export(*a, "export"); };
}

}  // namespace

PROSPECT_COMMAND("export", "export a model (with an optional adapter merged) as a standalone Hugging Face directory",
                 setup_export);
