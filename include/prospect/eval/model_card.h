#pragma once
// The model card (README.md) written next to an exported model, shaped like the seed's card:
// Hugging Face YAML front-matter, model details, benchmark results (from `prospect eval` JSON files),
// the Enhanced KTO components table (active / disabled per component, from the loss config), the
// training configuration table (from the run's prospect_run.json), the plots and a transformers
// usage snippet.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace prospect::eval {

struct CardInputs {
  std::string model_name;        // title; empty: "<base model short name>-<method slug>"
  std::string base_model;        // Hugging Face id or path; empty: from the run config
  std::string method;            // empty: from the run's loss type ("enhanced_kto" -> "Enhanced KTO")
  std::string model_type = "Merged Standalone Model";  // or "LoRA adapter"
  std::string date;              // YYYY-MM-DD; empty: today (UTC)
  std::string framework;         // empty: "Prospect <version>"
  nlohmann::json run;            // prospect_run.json (a "config" member, or the config itself)
  std::vector<nlohmann::json> eval_results;  // outputs of `prospect eval`
  std::vector<std::filesystem::path> plots;  // copied into out_dir/plots/ and linked
  std::vector<std::string> datasets;          // front-matter datasets; empty: from the run config
  std::string license = "apache-2.0";
  std::string usage_model_id;    // id in the usage snippet; empty: model_name
};

// Values read from a run config, tolerant of where the trainer put them (first match wins).
struct TrainingSummary {
  std::string base_model, loss_type, dataset;
  std::string base_model_revision;  // hub snapshot commit, when the base came from the hub cache
  std::string dataset_revision;     // "id@commit" of each hub dataset split, comma-separated
  nlohmann::json epochs, batch_size, grad_accum, learning_rate, max_length, max_prompt_length, lora_r,
      lora_alpha, lora_dropout, beta, optimizer, scheduler, warmup, seed, dtype, target_modules;
  nlohmann::json loss;  // the loss block
  bool lora = false;
};
TrainingSummary summarize_run(const nlohmann::json& run);

// "enhanced_kto" -> "Enhanced KTO", "dpo" -> "DPO", ...
std::string method_display_name(const std::string& loss_type);

// README.md text. plot_links: the relative paths the card links (e.g. "plots/loss.svg").
std::string render_model_card(const CardInputs& in, const std::vector<std::string>& plot_links);

// Copies the plots into out_dir/plots/ and writes out_dir/README.md atomically. Returns the README path.
std::filesystem::path write_model_card(const std::filesystem::path& out_dir, const CardInputs& in);

}  // namespace prospect::eval
