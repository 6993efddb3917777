#pragma once
// The loss interface. A loss sees per-example sequence log-probs (sums over completion tokens),
// completion lengths, labels, KL-pair log-probs and pair ids — never the model or the config
// object — and returns a scalar loss plus named metrics (TRL's names).
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace prospect::loss {

// Everything a loss of the family may need for one micro-batch of n examples. Unused fields may be
// undefined. Any float dtype and device; losses compute in fp32 (fp64 inputs stay fp64, which the
// finite-difference gradient checks rely on).
struct LossInputs {
  torch::Tensor policy_logps;      // [n] Σ log πθ(y|x) over completion tokens (carries gradient)
  torch::Tensor ref_logps;         // [n] Σ log πref(y|x) (no gradient)
  torch::Tensor lengths;           // [n] completion token counts |y|
  torch::Tensor labels;            // [n] bool: true = desirable / chosen (unpaired families)
  torch::Tensor kl_policy_logps;   // [n] policy log-probs of the KL completions y'_i (no gradient)
  torch::Tensor kl_ref_logps;      // [n] reference log-probs of the KL completions
  torch::Tensor kl_lengths;        // [n] completion token counts |y'_i| of the KL completions
                                   //     (enhanced_kto's unpaired odds-ratio baseline needs them)
  torch::Tensor pair_ids;          // [n] int64: examples from one preference pair share an id; -1 none
  // Paired families (DPO, ORPO, SimPO): chosen and rejected side by side, [m] each.
  torch::Tensor chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps;
  torch::Tensor chosen_lengths, rejected_lengths;
  // NLL terms (ORPO: token-mean NLL of chosen incl. prompt; CPO/SFT: completion tokens only).
  torch::Tensor nll_sum;           // scalar Σ -log p over the tokens the NLL covers (carries gradient)
  torch::Tensor nll_count;         // scalar count of those tokens
  int64_t step = 0;                // optimizer step (for staged schedules)
  bool training = true;            // running statistics are updated only in training
  // The factor the trainer applies to the returned loss before backward (1/accumulation steps,
  // ...). component_grad_clip bounds refer to the unscaled per-example gradient, so the clip
  // divides it out again.
  double loss_scale = 1.0;
};

struct LossOutput {
  torch::Tensor loss;                       // scalar fp32, fp64 for fp64 inputs (carries gradient)
  std::map<std::string, double> metrics;    // absent keys mean "not defined this step"
};

// Cross-rank reductions. Single process: identity. Data parallel slots in here without touching
// the losses (z0 and δ use the mean of per-rank means / global sums as TRL does).
struct Reducer {
  virtual ~Reducer() = default;
  virtual torch::Tensor mean_of_means(const torch::Tensor& local_mean) const { return local_mean; }
  virtual torch::Tensor sum(const torch::Tensor& local) const { return local; }
  virtual int world_size() const { return 1; }
};

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;
  virtual LossOutput compute(const LossInputs& in) = 0;
  // What the trainer must supply.
  virtual bool needs_reference() const { return true; }
  virtual bool needs_kl() const { return false; }
  virtual bool paired() const { return false; }
  virtual bool needs_nll() const { return false; }
  // Running state (BCO's δ and count): saved in every checkpoint and restored on resume.
  virtual nlohmann::json state() const { return nlohmann::json::object(); }
  virtual void load_state(const nlohmann::json& s) {}
  void set_reducer(std::shared_ptr<Reducer> r) { reducer_ = std::move(r); }

 protected:
  std::shared_ptr<Reducer> reducer_ = std::make_shared<Reducer>();
};

// Builds a loss from its JSON config block ({"type": "...", ...}). Unknown keys or out-of-range
// values -> prospect::Error naming the key path (prefixed with `path`, e.g. "loss.value_function.eps").
std::unique_ptr<Loss> make_loss(const nlohmann::json& config, const std::string& path = "loss");
// The type names make_loss accepts.
std::vector<std::string> loss_types();

}  // namespace prospect::loss
