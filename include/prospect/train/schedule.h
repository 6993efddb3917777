#pragma once
// Learning-rate schedules exactly as Hugging Face transformers' get_*_schedule_with_warmup: a
// multiplier of the base rate as a function of the number of optimizer steps already taken.
#include <cstdint>
#include <string>
#include <vector>

namespace prospect::train {

struct LrSchedule {
  std::string type = "linear";   // constant | constant_with_warmup | linear | cosine
  double base_lr = 5e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double num_cycles = 0.5;       // cosine (HF default: half a cosine, from 1 to 0)

  // The learning rate of the update that follows `step` completed updates (HF's lr_lambda(step)).
  double lr_at(int64_t step) const;
  double multiplier(int64_t step) const;
};

// The schedule names accepted in configs.
const std::vector<std::string>& schedule_types();
// HF TrainingArguments.get_warmup_steps: warmup_steps when > 0, else ceil(total * warmup_ratio).
int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

}  // namespace prospect::train
