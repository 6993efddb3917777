#pragma once
// Tiny in-process training assets: a random tiny Qwen3 (vocab 512), a LoRA adapter and hand-built
// prepared data (random token sequences, pairs unpaired into desirable/undesirable examples).
#include <random>

#include "prospect/data/prepare.h"
#include "prospect/lora/lora.h"
#include "prospect/loss/loss.h"
#include "prospect/model/causal_lm.h"
#include "prospect/train/trainer.h"

namespace prospect::test {

inline data::PreparedData make_pref_data(int64_t num_pairs, uint64_t seed, int64_t vocab = 512, bool fixed_len = false) {
  std::mt19937_64 rng(seed);
  auto len = [&](int lo, int hi) { return fixed_len ? hi : lo + (int)(rng() % (uint64_t)(hi - lo + 1)); };
  auto toks = [&](int n) {
    std::vector<int64_t> v(n);
    for (auto& t : v) t = (int64_t)(rng() % (uint64_t)(vocab - 2)) + 1;
    return v;
  };
  data::PreparedData d;
  for (int64_t p = 0; p < num_pairs; ++p) {
    data::PairExample pe;
    pe.prompt_ids = toks(len(3, 8));
    pe.chosen_ids = toks(len(2, 6));
    pe.rejected_ids = toks(len(2, 6));
    pe.pair_id = p;
    pe.index = p;
    d.pairs.push_back(pe);
    for (int side = 0; side < 2; ++side) {
      data::Example e;
      e.prompt_ids = pe.prompt_ids;
      e.completion_ids = side == 0 ? pe.chosen_ids : pe.rejected_ids;
      e.label = side == 0;
      e.pair_id = p;
      e.index = (int64_t)d.examples.size();
      d.examples.push_back(e);
    }
  }
  d.pad_id = 0;
  d.fingerprint = seed;
  return d;
}

inline model::ModelConfig tiny_config(int64_t vocab = 512) {
  auto c = model::ModelConfig::preset("tiny");
  c.vocab_size = vocab;
  return c;
}

// A fresh tiny model (same weights for the same seed) with a "default" adapter.
inline lora::LoraModel make_policy(uint64_t model_seed = 1, double dropout = 0.0, bool nonzero_b = false) {
  auto m = model::init_model(tiny_config(), model_seed, torch::kFloat32);
  lora::LoraConfig lc;
  lc.r = 4;
  lc.lora_alpha = 8;
  lc.lora_dropout = dropout;
  lc.all_linear = true;
  if (nonzero_b) lc.init_lora_weights = lora::LoraInit::LinearDefault;
  return lora::attach_lora(m, lc, 7);
}

inline train::TrainerOptions tiny_options(const std::filesystem::path& out) {
  train::TrainerOptions o;
  o.per_device_train_batch_size = 4;
  o.per_device_eval_batch_size = 4;
  o.gradient_accumulation_steps = 1;
  o.learning_rate = 1e-3;
  o.lr_scheduler_type = "linear";
  o.num_train_epochs = 1;
  o.max_grad_norm = 1.0;
  o.logging_steps = 1;
  o.save_steps = 0;
  o.seed = 3;
  o.output_dir = out;
  o.progress_bar = false;
  return o;
}

inline nlohmann::json enhanced_kto_json(bool components = true) {
  return {{"type", "enhanced_kto"},
          {"beta", 0.1},
          {"value_function", {{"enabled", components}}},
          {"probability_weighting", {{"enabled", components}}},
          {"odds_ratio", {{"enabled", components}}},
          {"bco_shift", {{"enabled", false}}}};
}

}  // namespace prospect::test
