#pragma once
// Shared by `prospect merge` (cmd_merge.cpp) and `prospect export` (cmd_export.cpp): options, the
// atomic output directory, the model card and the JSON summary on stdout. The pipeline itself is
// lora::export_hf.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cctype>
#include <iostream>
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/eval/model_card.h"
#include "prospect/lora/export.h"
#include "prospect/model/config.h"

namespace prospect::cli {

struct MergeExportArgs {
  std::string model, adapter, out, dtype, device = "cpu", max_shard_size = "5GB", format = "hf";
  std::string card_name, card_base_model;
  std::vector<std::string> eval_results;
  double tolerance = -1, tolerance_f32 = -1;
  bool force = false, no_card = false;
};

// "5GB" (HF decimal units), "500MB", "2GiB", "1000000" (bytes).
inline uint64_t parse_size(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit((unsigned char)s[i]) || s[i] == '.')) ++i;
  check(i > 0, "--max-shard-size", "expected a size such as 5GB, 500MB or 2GiB (got '" + s + "')");
  const double v = std::stod(s.substr(0, i));
  std::string u = s.substr(i);
  for (auto& c : u) c = (char)std::toupper((unsigned char)c);
  double mult = 1;
  if (u == "" || u == "B") mult = 1;
  else if (u == "KB") mult = 1e3;
  else if (u == "MB") mult = 1e6;
  else if (u == "GB") mult = 1e9;
  else if (u == "KIB") mult = 1024.0;
  else if (u == "MIB") mult = 1024.0 * 1024;
  else if (u == "GIB") mult = 1024.0 * 1024 * 1024;
  else throw Error("--max-shard-size", "unknown unit '" + s.substr(i) + "' (use B, KB, MB, GB, KiB, MiB, GiB)");
  check(v * mult >= 1, "--max-shard-size", "must be positive");
  return (uint64_t)(v * mult);
}

// The training run's metadata for the model card: prospect_run.json next to the adapter, in its parent
// (a run directory holding checkpoint/adapter folders), or in the model directory.
inline std::optional<fs::path> find_run_metadata(const MergeExportArgs& a) {
  std::vector<fs::path> c;
  if (!a.adapter.empty()) {
    c.push_back(fs::path(a.adapter) / "prospect_run.json");
    c.push_back(fs::absolute(a.adapter).parent_path() / "prospect_run.json");
  }
  c.push_back(fs::path(a.model) / "prospect_run.json");
  for (const auto& p : c)
    if (fs::is_regular_file(p)) return p;
  return std::nullopt;
}

inline int run_merge_export(const MergeExportArgs& a, const std::string& command) {
  check(a.format == "hf", "--format", "only 'hf' (a Hugging Face directory) is supported");
  lora::ExportOptions o;
  o.model_dir = a.model;
  if (!a.adapter.empty()) o.adapter_dir = fs::path(a.adapter);
  if (!a.dtype.empty()) {
    const auto dt = parse_dtype(a.dtype);
    check(dt == torch::kBFloat16 || dt == torch::kFloat16 || dt == torch::kFloat32, "--dtype",
          "expected bf16, f16 or f32");
    o.dtype = dt;
  }
  o.max_shard_bytes = parse_size(a.max_shard_size);
  if (a.tolerance >= 0) o.tolerance = a.tolerance;
  if (a.tolerance_f32 >= 0) o.tolerance_f32 = a.tolerance_f32;
  o.device = parse_device(a.device);

  const fs::path out(a.out);
  check(fs::absolute(out).lexically_normal() != fs::absolute(a.model).lexically_normal(), out.string(),
        "the output must not be the input model directory");
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)) && !a.force)
    throw Error(out.string(), "output exists and is not an empty directory (use --force to replace it)");

  // Cheap checks before the long work (and before AtomicDir creates the parent of --out).
  check_output_path(out, /*is_directory=*/true, "--out");
  (void)model::ModelConfig::load(a.model);

  // Everything is written under a temporary name and renamed into place only when verification, the
  // checks and the model card all succeeded: a failure leaves nothing at --out.
  AtomicDir dir(out, /*replace=*/true);
  nlohmann::json summary = lora::export_hf(o, dir.path());
  summary["command"] = command;

  if (!a.no_card) {
    if (auto run = find_run_metadata(a)) {
      eval::CardInputs in;
      in.run = read_json_file(*run);
      in.model_type = "Merged Standalone Model";
      in.model_name = a.card_name;
      in.base_model = a.card_base_model;
      for (const auto& e : a.eval_results) in.eval_results.push_back(read_json_file(e));
      const fs::path plots = run->parent_path() / "plots";
      if (fs::is_directory(plots))
        for (const auto& f : fs::directory_iterator(plots)) {
          const auto ext = f.path().extension().string();
          if (f.is_regular_file() && (ext == ".svg" || ext == ".png")) in.plots.push_back(f.path());
        }
      std::sort(in.plots.begin(), in.plots.end());
      eval::write_model_card(dir.path(), in);
      summary["model_card"] = "README.md";
      summary["run_metadata"] = run->string();
    } else {
      summary["model_card"] = nullptr;  // no training metadata: nothing to describe
    }
  }
  dir.commit();
  summary["out"] = out.string();
  std::cout << summary.dump() << std::endl;
  return 0;
}

inline void add_common_options(CLI::App& app, MergeExportArgs& a, bool gguf_dtypes = false) {
  if (gguf_dtypes)
    app.add_option("--dtype", a.dtype,
                   "output dtype: bf16, f16 or f32 (default: the base model's); for --format gguf also q8_0 or "
                   "q4_k_m (default f16)")
        ->check(CLI::IsMember({"bf16", "f16", "f32", "bfloat16", "float16", "float32", "q8_0", "q4_k_m"}));
  else
    app.add_option("--dtype", a.dtype, "output dtype: bf16, f16 or f32 (default: the base model's)")
        ->check(CLI::IsMember({"bf16", "f16", "f32", "bfloat16", "float16", "float32"}));
  app.add_option("--max-shard-size", a.max_shard_size, "shard model.safetensors above this size (default 5GB)");
  app.add_option("--tolerance", a.tolerance,
                 "largest allowed |log p(adapter) - log p(merged)| on the probe tokens after the cast to the "
                 "output dtype (default: f32 1e-4, f16 0.1, bf16 0.5)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tolerance-f32", a.tolerance_f32,
                 "the same for the fp32 merge before the cast (default 1e-4)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--device", a.device, "device for merging and verification: cpu (default), cuda, cuda:N");
  app.add_option("--out", a.out, gguf_dtypes ? "output directory (hf) or .gguf file (gguf, gguf-lora)"
                                             : "output directory (standalone Hugging Face model)")
      ->required();
  app.add_flag("--force", a.force, "replace an existing non-empty output directory");
  app.add_option("--eval-results", a.eval_results, "`prospect eval` JSON files to include in the model card");
  app.add_option("--card-name", a.card_name, "model card title (default: derived from the run)");
  app.add_option("--card-base-model", a.card_base_model, "base model id for the card (default: from the run)");
  app.add_flag("--no-card", a.no_card, "do not write a README.md model card even when run metadata exists");
}

}  // namespace prospect::cli
