// `prospect train CONFIG [--set k=v ...] [--resume [PATH]] [--dry-run]`: the training recipe.
// With train.merge_at_end the adapter is merged into a standalone model (output_dir/merged) with its
// model card; with train.export_gguf (a list of GGUF dtypes) the adapter is also merged in memory and
// written as output_dir/model-<dtype>.gguf for llama.cpp.
#include <spdlog/spdlog.h>

#include <iostream>

#include "command.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/eval/model_card.h"
#include "prospect/lora/export.h"
#include "prospect/lora/gguf_export.h"
#include "prospect/train/recipe.h"

namespace {

namespace fs = std::filesystem;

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string resume;
  bool resume_flag = false;
  bool dry_run = false;
  bool no_progress = false;
};

nlohmann::json merge_run(const prospect::train::RecipeConfig& cfg) {
  using namespace prospect;
  lora::ExportOptions eo;
  eo.model_dir = cfg.model_path;
  eo.adapter_dir = cfg.output_dir / "adapter";
  if (!cfg.merge_dtype.empty()) eo.dtype = parse_dtype(cfg.merge_dtype);
  const fs::path out = cfg.output_dir / "merged";
  AtomicDir dir(out, /*replace=*/true);
  auto summary = lora::export_hf(eo, dir.path());
  if (cfg.tokenizer_path != cfg.model_path) lora::copy_tokenizer_files(cfg.tokenizer_path, dir.path());
  eval::CardInputs card;
  card.run = read_json_file(cfg.output_dir / "prospect_run.json");
  for (const auto& p : card.run.value("plots", nlohmann::json::array())) card.plots.push_back(cfg.output_dir / p.get<std::string>());
  eval::write_model_card(dir.path(), card);
  dir.commit();
  summary["merged"] = out.string();
  return summary;
}

int run_train(const TrainArgs& a) {
  using namespace prospect;
  auto j = train::load_config_json(a.config, a.sets);
  auto cfg = train::parse_recipe(j, a.config);
  if (a.no_progress) cfg.trainer.progress_bar = false;
  // A missing checkpoint is reported before data and model load (minutes on a real model).
  std::optional<fs::path> resume;
  if (a.resume_flag) resume = train::resolve_resume(cfg.output_dir, a.resume);
  if (a.dry_run) {
    auto out = train::dry_run(cfg);
    for (const auto& w : out.value("warnings", nlohmann::json::array())) spdlog::warn("{}", w.get<std::string>());
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  auto summary = train::run_recipe(cfg, resume);
  // Ranks other than 0 of a data-parallel job neither write into output_dir nor print the summary.
  if (summary.value("rank", 0) != 0) return 0;
  if (cfg.merge_at_end && summary.value("completed", false)) {
    auto m = merge_run(cfg);
    summary["merged"] = m["merged"];
    auto run = read_json_file(cfg.output_dir / "prospect_run.json");
    run["merged"] = "merged";
    write_json_file_atomic(cfg.output_dir / "prospect_run.json", run);
  }
  if (!cfg.export_gguf.empty() && summary.value("completed", false)) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& d : cfg.export_gguf) {
      lora::GgufExportOptions go;
      go.model_dir = cfg.model_path;
      go.adapter_dir = cfg.output_dir / "adapter";
      go.tokenizer_dir = cfg.tokenizer_path;
      go.dtype = model::parse_gguf_dtype(d);
      go.name = cfg.output_dir.filename().string();
      const std::string file = "model-" + d + ".gguf";
      lora::export_gguf(go, cfg.output_dir / file);
      spdlog::info("wrote {}", (cfg.output_dir / file).string());
      files.push_back(file);
    }
    summary["gguf"] = files;
  }
  std::cout << summary.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  app.add_option("config", a->config, "training config (JSON)")->required()->check(CLI::ExistingFile);
  app.add_option("--set", a->sets, "override a config value: path.to.key=value (JSON value, else a string)");
  auto* r = app.add_option("--resume", a->resume, "resume from a checkpoint (default: the latest in output_dir)");
  r->expected(0, 1);
  app.add_flag("--dry-run", a->dry_run, "print the resolved config and data statistics, do not train");
  app.add_flag("--no-progress", a->no_progress, "log lines instead of a progress bar");
  return [a, r] {
    a->resume_flag = r->count() > 0 || !a->resume.empty();
    return run_train(*a);
  };
}

}  // namespace

PROSPECT_COMMAND("train", "train an adapter from a JSON config (Enhanced KTO, KTO, DPO, ORPO, SimPO, BCO, SFT)", setup_train);
