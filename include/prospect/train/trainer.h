#pragma once
// The training loop: micro-batches → policy / KL / reference log-probs → loss → backward (scaled by
// 1/accumulation) → clip → AdamW → schedule, with logging (metrics.jsonl), periodic evaluation,
// atomic checkpoints and exact resume. Components only: it receives a model with its adapters, a
// loss, prepared data and plain options (the `prospect train` recipe fills them from the config).
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "prospect/data/loader.h"
#include "prospect/data/prepare.h"
#include "prospect/dist/communicator.h"
#include "prospect/lora/lora.h"
#include "prospect/loss/loss.h"
#include "prospect/train/optimizer.h"
#include "prospect/train/schedule.h"

namespace prospect::train {

// Where reference log-probs come from.
enum class ReferenceSource {
  kBaseModel,    // the same network with every adapter disabled (PEFT disable_adapter)
  kRefAdapter,   // the frozen copy "ref" of the starting adapter (training continues from an adapter)
};

struct TrainerOptions {
  int64_t per_device_train_batch_size = 8;
  int64_t per_device_eval_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  double learning_rate = 5e-5;
  std::string lr_scheduler_type = "linear";
  double warmup_ratio = 0.0;
  int64_t warmup_steps = 0;
  double num_train_epochs = 3.0;
  int64_t max_steps = -1;           // > 0 overrides num_train_epochs
  double max_grad_norm = 1.0;       // <= 0: no clipping (the norm is still logged)
  AdamWOptions adam;
  uint64_t seed = 42;
  int64_t logging_steps = 10;
  int64_t save_steps = 500;         // 0: no intermediate checkpoints
  int64_t save_total_limit = 0;     // 0: keep all
  int64_t eval_steps = 0;           // 0: evaluate only at the end (when eval data is given)
  bool eval_on_start = false;
  bool gradient_checkpointing = false;
  bool precompute_ref_logps = false;
  // Rows sharing a prompt (KTO target and KL rows, DPO chosen and rejected) compute it once per pass
  // (model/shared_prefix.h) where the result is the same; false: every row runs whole.
  bool share_prompt_prefix = true;
  std::filesystem::path ref_cache_file;  // precomputed reference log-probs (empty: memory only)
  int64_t max_consecutive_skips = 5;
  ReferenceSource reference = ReferenceSource::kBaseModel;
  std::filesystem::path output_dir;
  bool progress_bar = true;         // a bar when stderr is a terminal, log lines otherwise
  // Test hook: stop (as if killed) once this many optimizer steps are done (checkpoints as usual).
  int64_t stop_after_steps = -1;
  // Data options for the loaders (seed, need_kl, paired, rank and world are set by the trainer).
  data::DataOptions data;
  // Data parallelism: the other ranks of the job (null: a single process). Batch sizes stay per
  // rank; every micro-batch is the slice of a global one (data/schedule.h) and the loss is computed
  // over the global micro-batch (dist/global_batch.h). Rank 0 alone writes into output_dir.
  std::shared_ptr<dist::Communicator> comm;
};

// The trainer's state that checkpoints carry besides tensors.
struct TrainerState {
  int64_t global_step = 0;
  double epoch = 0;
  data::Cursor cursor;
  int64_t skipped_steps = 0, consecutive_skips = 0;
  int64_t num_tokens = 0;               // target-sequence tokens trained on
  nlohmann::json log_history = nlohmann::json::array();
  nlohmann::json to_json() const;
  static TrainerState from_json(const nlohmann::json& j, const std::string& source);
};

// Accumulates per-micro-batch metrics between two logging steps (plain means, TRL's log()).
class MetricWindow {
 public:
  void add(const std::map<std::string, double>& m);
  std::map<std::string, double> means() const;
  void clear() { sums_.clear(), counts_.clear(); }
  bool empty() const { return sums_.empty(); }
  nlohmann::json to_json() const;
  void load(const nlohmann::json& j);

 private:
  std::map<std::string, double> sums_;
  std::map<std::string, int64_t> counts_;
};

struct StepOutput {
  torch::Tensor loss;                      // scalar (with gradient when training)
  std::map<std::string, double> metrics;
  int64_t tokens = 0;                      // target tokens of the micro-batch
  // Per example (unpaired) or per pair (paired): r = policy − reference, for preference accuracy.
  torch::Tensor policy_logps, ref_logps, labels, pair_ids, lengths;
  torch::Tensor chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps;
};

class ReferenceCache;  // precomputed reference log-probs, keyed by (prompt index, completion index)

class Trainer {
 public:
  Trainer(lora::LoraModel policy, std::shared_ptr<loss::Loss> loss, const data::PreparedData& train,
          const data::PreparedData* eval, TrainerOptions opts);
  ~Trainer();

  // Trains to the end (or until stop_after_steps). Resumes from `resume_dir` (a checkpoint-N
  // directory) when given. Writes output_dir/{metrics.jsonl, checkpoint-*, adapter/}.
  nlohmann::json train(const std::optional<std::filesystem::path>& resume_dir = std::nullopt);
  // One pass over the eval split: eval_* metrics (means over batches) plus preference accuracy.
  std::map<std::string, double> evaluate();

  // The forward part of a step on one micro-batch (public for tests).
  StepOutput forward_unpaired(const data::Batch& b, bool training, double loss_scale = 1.0);
  StepOutput forward_paired(const data::PairBatch& b, bool training, double loss_scale = 1.0);

  int64_t total_steps() const { return total_steps_; }
  int64_t batches_per_epoch() const { return train_loader_ ? train_loader_->num_batches() : pair_loader_->num_batches(); }
  const TrainerState& state() const { return state_; }
  AdamW& optimizer() { return *opt_; }
  const LrSchedule& schedule() const { return sched_; }
  lora::LoraModel& policy() { return policy_; }
  dist::Communicator& comm() { return *comm_; }

  // Checkpoint I/O (dir is written atomically by save_checkpoint).
  void save_checkpoint(const std::filesystem::path& dir);
  void load_checkpoint(const std::filesystem::path& dir);
  // Writes the adapter in PEFT format (adapter_model.safetensors + adapter_config.json) into dir.
  void save_adapter(const std::filesystem::path& dir);

  // Optional callback run by train() once the inputs are loaded (the checkpoint too, on resume),
  // just before the first write into output_dir.
  std::function<void()> on_start;
  // Optional per-step callback (progress), called after each optimizer step with the step metrics.
  std::function<void(const TrainerState&, const std::map<std::string, double>&)> on_step;

 private:
  void build_precomputed_reference();
  torch::Tensor reference_logps(const torch::Tensor& ids, const torch::Tensor& attn, const torch::Tensor& cmask);
  // Reference log-probs of two row sets whose row i shares its prompt (prefix-shared when enabled).
  std::pair<torch::Tensor, torch::Tensor> reference_logps2(const torch::Tensor& ids_a, const torch::Tensor& attn_a,
                                                           const torch::Tensor& cmask_a, const torch::Tensor& ids_b,
                                                           const torch::Tensor& attn_b, const torch::Tensor& cmask_b);
  void log_record(nlohmann::json rec);
  loss::LossOutput compute_loss(const loss::LossInputs& in);
  void rotate_checkpoints();

  lora::LoraModel policy_;
  std::shared_ptr<loss::Loss> loss_;
  const data::PreparedData& train_data_;
  const data::PreparedData* eval_data_;
  TrainerOptions opts_;
  std::unique_ptr<data::DataLoader> train_loader_, eval_loader_;
  std::unique_ptr<data::PairLoader> pair_loader_, eval_pair_loader_, eval_acc_loader_;
  std::unique_ptr<AdamW> opt_;
  LrSchedule sched_;
  int64_t total_steps_ = 0;
  TrainerState state_;
  MetricWindow window_;
  std::unique_ptr<ReferenceCache> ref_cache_;
  std::shared_ptr<dist::Communicator> comm_;
  std::vector<std::pair<std::string, torch::Tensor>> peer_rng_;  // other ranks' RNG, for rank 0's checkpoint
};

// Names of checkpoint-N directories in a run directory, ascending by N.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& output_dir);

}  // namespace prospect::train
