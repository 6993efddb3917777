// `prospect card RUN_DIR`: (re)writes the model card README.md of a training run's output.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "command.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/eval/model_card.h"

namespace prospect::cli {
namespace {

struct CardArgs {
  std::string run_dir, out, base_model, name, type, date, model_id;
  std::vector<std::string> evals, datasets;
};

bool has_merged_model(const fs::path& d) {
  return fs::exists(d / "model.safetensors") || fs::exists(d / "model.safetensors.index.json");
}

int run_card(const CardArgs& a) {
  const fs::path run_dir = a.run_dir;
  const fs::path meta = run_dir / "prospect_run.json";
  check(fs::exists(meta), run_dir.string(), "no prospect_run.json (not a training output directory)");
  eval::CardInputs in;
  in.run = read_json_file(meta);
  fs::path out = a.out;
  if (out.empty()) out = fs::exists(run_dir / "merged" / "config.json") ? run_dir / "merged" : run_dir;
  if (!a.type.empty()) {
    check(a.type == "merged" || a.type == "adapter", "--type", "must be 'merged' or 'adapter'");
    in.model_type = a.type == "merged" ? "Merged Standalone Model" : "LoRA adapter";
  } else if (!has_merged_model(out) && fs::exists(out / "adapter_config.json")) {
    in.model_type = "LoRA adapter";
  }
  for (const auto& e : a.evals) in.eval_results.push_back(read_json_file(e));
  if (fs::is_directory(run_dir / "plots"))
    for (const auto& e : fs::directory_iterator(run_dir / "plots")) {
      const auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".svg" || ext == ".png")) in.plots.push_back(e.path());
    }
  std::sort(in.plots.begin(), in.plots.end());
  in.base_model = a.base_model;
  in.model_name = a.name;
  in.date = a.date;
  in.datasets = a.datasets;
  in.usage_model_id = a.model_id;
  const fs::path readme = eval::write_model_card(out, in);
  std::cout << readme.string() << std::endl;
  return 0;
}

RunFn setup_card(CLI::App& app) {
  auto a = std::make_shared<CardArgs>();
  app.add_option("run_dir", a->run_dir, "training output directory (holds prospect_run.json)")->required();
  app.add_option("--eval", a->evals, "results JSON of `prospect eval` (repeatable)");
  app.add_option("--out", a->out, "where README.md goes (default: RUN_DIR/merged if present, else RUN_DIR)");
  app.add_option("--base-model", a->base_model, "base model name for the card (default: from the run config)");
  app.add_option("--name", a->name, "model name (title)");
  app.add_option("--type", a->type, "merged or adapter (default: detected from the output directory)");
  app.add_option("--date", a->date, "YYYY-MM-DD (default: today)");
  app.add_option("--dataset", a->datasets, "Hugging Face dataset id for the front-matter (repeatable)");
  app.add_option("--model-id", a->model_id, "model id used in the usage snippet (default: the name)");
  return [a] { return run_card(*a); };
}

}  // namespace

PROSPECT_COMMAND("card", "write the model card (README.md) of a training run", setup_card);

}  // namespace prospect::cli
