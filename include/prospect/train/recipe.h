#pragma once
// The `prospect train` recipe: a JSON config (model, lora, loss, data, train, output_dir) read
// strictly (unknown key → "did you mean", wrong type/range → the key path), turned into the plain
// option structs of the components, and run. The CLI (tools/cmd_train.cpp) adds merging and the
// model card on top.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "prospect/data/options.h"
#include "prospect/lora/config.h"
#include "prospect/train/trainer.h"

namespace prospect::train {

struct RecipeConfig {
  nlohmann::json raw;                     // the config after --set overrides (written to output_dir)
  std::string source;                     // file name for messages
  // model
  std::filesystem::path model_path, tokenizer_path;
  std::optional<std::filesystem::path> adapter_path;  // continue from a trained adapter
  // When model.path is a Hugging Face id resolved in the hub cache (io/hub_cache.h): the id and the
  // snapshot's commit (recorded in prospect_run.json and the model card); empty for local paths.
  std::string model_repo_id, model_commit;
  std::string dtype = "auto";             // auto: f32 on CPU, bf16 on CUDA
  std::string device = "auto";
  // lora, loss
  lora::LoraConfig lora;
  nlohmann::json loss;                    // the block, validated by make_loss
  std::string loss_type;
  // data
  data::DataOptions train_data, eval_data;
  int64_t max_eval_examples = 0;          // 0: all
  // train
  TrainerOptions trainer;
  bool merge_at_end = false;
  std::string merge_dtype;                // "" = the base's dtype
  std::vector<std::string> export_gguf;   // GGUF dtypes written to output_dir at the end (merged adapter)
  std::filesystem::path ref_cache_dir = ".cache/prospect/ref_logps";
  std::filesystem::path output_dir;
  // Data parallelism: bounds the rendezvous and every collective (torch's default: 30 min).
  double ddp_timeout_s = 1800;

  torch::Device resolved_device() const;
  torch::ScalarType resolved_dtype() const;
};

// Reads the file, applies "--set a.b=v" overrides, validates. Errors name the file and key path.
nlohmann::json load_config_json(const std::filesystem::path& file, const std::vector<std::string>& overrides);
RecipeConfig parse_recipe(const nlohmann::json& j, const std::string& source = "config");

// HF's step count: ceil(batches/GA) updates per epoch times num_train_epochs (ceil), or max_steps.
int64_t compute_total_steps(int64_t batches_per_epoch, int64_t ga, double epochs, int64_t max_steps);

// `--dry-run`: resolved config, data statistics and the step plan as one JSON object.
nlohmann::json dry_run(const RecipeConfig& cfg);

// Hash of model files, adapter, tokenizer, data, lengths and seed: names the reference cache file.
std::string reference_fingerprint(const RecipeConfig& cfg, uint64_t train_data_fingerprint);

// Trains. Writes output_dir/{config.json, metrics.jsonl, checkpoint-*, adapter/, plots/,
// prospect_run.json}. resume: a checkpoint directory (already resolved). Returns the run summary.
nlohmann::json run_recipe(const RecipeConfig& cfg, const std::optional<std::filesystem::path>& resume);

// The newest checkpoint-N of output_dir, or an error naming the directory.
std::filesystem::path latest_checkpoint(const std::filesystem::path& output_dir);

// `--resume [ARG]`: empty ARG → the latest checkpoint; a relative ARG is looked up in output_dir
// first (`--resume checkpoint-4`), then as given. Errors (missing, not a checkpoint) come before
// any data or model is loaded.
std::filesystem::path resolve_resume(const std::filesystem::path& output_dir, const std::string& arg);

}  // namespace prospect::train
