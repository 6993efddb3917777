#include "prospect/train/trainer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <regex>
#include <unordered_map>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/dist/global_batch.h"
#include "prospect/dist/grad_sync.h"
#include "prospect/io/checkpoint.h"
#include "prospect/io/safetensors.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/model/linear.h"
#include "prospect/model/logprobs.h"
#include "prospect/model/shared_prefix.h"
#include "prospect/train/rng_state.h"
#include "prospect/train/svg_plot.h"

namespace prospect::train {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Precomputed reference log-probs: (prompt example, completion example) -> Σ log πref. Targets use
// (i, i), KL rows (i, kl_source[i]); paired rows (i, -1) chosen and (i, -2) rejected.
class ReferenceCache {
 public:
  struct Hash {
    size_t operator()(const std::pair<int64_t, int64_t>& k) const {
      return std::hash<int64_t>()(k.first * 1000003 + k.second);
    }
  };
  std::unordered_map<std::pair<int64_t, int64_t>, float, Hash> values;
  bool dirty = false;

  bool has(int64_t a, int64_t b) const { return values.count({a, b}) > 0; }
  torch::Tensor lookup(const std::vector<int64_t>& a, const std::vector<int64_t>& b) const {
    std::vector<float> out(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      auto it = values.find({a[i], b[i]});
      if (it == values.end()) throw Error("precompute_ref_logps", "missing precomputed reference log-prob");
      out[i] = it->second;
    }
    return torch::tensor(out, torch::kFloat32);
  }
  void put(const std::vector<int64_t>& a, const std::vector<int64_t>& b, const torch::Tensor& v) {
    auto c = v.to(torch::kCPU, torch::kFloat32).contiguous();
    for (size_t i = 0; i < a.size(); ++i) values[{a[i], b[i]}] = c[(int64_t)i].item<float>();
    dirty = true;
  }
  void save(const fs::path& file) const {
    std::vector<int64_t> keys;
    std::vector<float> vals;
    for (const auto& [k, v] : values) keys.push_back(k.first), keys.push_back(k.second), vals.push_back(v);
    int64_t n = (int64_t)vals.size();
    fs::create_directories(file.parent_path());
    io::save_safetensors(file, {{"keys", torch::tensor(keys, torch::kInt64).reshape({n, 2})},
                                {"values", torch::tensor(vals, torch::kFloat32)}});
  }
  void load(const fs::path& file) {
    auto f = io::SafetensorsFile::open(file);
    auto k = f->get("keys").contiguous(), v = f->get("values").contiguous();
    auto ka = k.accessor<int64_t, 2>();
    auto va = v.accessor<float, 1>();
    for (int64_t i = 0; i < v.size(0); ++i) values[{ka[i][0], ka[i][1]}] = va[i];
  }
};

// ---------------------------------------------------------------------------------------------

nlohmann::json TrainerState::to_json() const {
  return {{"global_step", global_step}, {"epoch", epoch},           {"cursor", cursor.to_json()},
          {"skipped_steps", skipped_steps}, {"consecutive_skips", consecutive_skips},
          {"num_tokens", num_tokens},   {"log_history", log_history}};
}

TrainerState TrainerState::from_json(const nlohmann::json& j, const std::string& source) {
  TrainerState s;
  try {
    s.global_step = j.at("global_step").get<int64_t>();
    s.epoch = j.at("epoch").get<double>();
    s.cursor = data::Cursor::from_json(j.at("cursor"));
    s.skipped_steps = j.value("skipped_steps", (int64_t)0);
    s.consecutive_skips = j.value("consecutive_skips", (int64_t)0);
    s.num_tokens = j.value("num_tokens", (int64_t)0);
    s.log_history = j.value("log_history", nlohmann::json::array());
  } catch (const nlohmann::json::exception& e) {
    throw Error(source, std::string("malformed trainer state: ") + e.what());
  }
  return s;
}

void MetricWindow::add(const std::map<std::string, double>& m) {
  for (const auto& [k, v] : m) {
    if (!std::isfinite(v)) continue;
    sums_[k] += v;
    counts_[k] += 1;
  }
}

std::map<std::string, double> MetricWindow::means() const {
  std::map<std::string, double> out;
  for (const auto& [k, s] : sums_) out[k] = s / (double)counts_.at(k);
  return out;
}

nlohmann::json MetricWindow::to_json() const { return {{"sums", sums_}, {"counts", counts_}}; }

void MetricWindow::load(const nlohmann::json& j) {
  clear();
  if (!j.is_object()) return;
  sums_ = j.value("sums", std::map<std::string, double>{});
  counts_ = j.value("counts", std::map<std::string, int64_t>{});
}

std::vector<fs::path> list_checkpoints(const fs::path& output_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  if (!fs::is_directory(output_dir)) return {};
  static const std::regex re("checkpoint-([0-9]+)");
  for (const auto& e : fs::directory_iterator(output_dir)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (e.is_directory() && std::regex_match(name, m, re)) found.emplace_back(std::stoll(m[1]), e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

// ---------------------------------------------------------------------------------------------

Trainer::Trainer(lora::LoraModel policy, std::shared_ptr<loss::Loss> loss, const data::PreparedData& train,
                 const data::PreparedData* eval, TrainerOptions opts)
    : policy_(std::move(policy)), loss_(std::move(loss)), train_data_(train), eval_data_(eval), opts_(std::move(opts)) {
  comm_ = opts_.comm ? opts_.comm : std::make_shared<dist::LocalCommunicator>();
  check(opts_.gradient_accumulation_steps >= 1, "train.gradient_accumulation_steps", "must be >= 1");
  check(opts_.logging_steps >= 1, "train.logging_steps", "must be >= 1");
  data::DataOptions d = opts_.data;
  d.seed = opts_.seed;
  d.batch_size = opts_.per_device_train_batch_size;
  d.shuffle = true;
  d.need_kl = loss_->needs_kl();
  d.paired = loss_->paired();
  d.rank = comm_->rank();
  d.world = comm_->world();
  if (d.paired) {
    check(!train.pairs.empty(), "data.train", "the loss '" + loss_->name() + "' needs paired preference data");
    pair_loader_ = std::make_unique<data::PairLoader>(train, d);
  } else {
    check(!train.examples.empty(), "data.train", "no training examples");
    train_loader_ = std::make_unique<data::DataLoader>(train, d);
  }
  if (eval_data_) {
    data::DataOptions e = d;
    e.shuffle = false;
    e.batch_size = opts_.per_device_eval_batch_size;
    if (d.paired) {
      if (!eval_data_->pairs.empty()) eval_pair_loader_ = std::make_unique<data::PairLoader>(*eval_data_, e);
    } else if (!eval_data_->examples.empty()) {
      eval_loader_ = std::make_unique<data::DataLoader>(*eval_data_, e);
    }
  }
  const int64_t nb = batches_per_epoch();
  check(nb > 0, "data.train", "no micro-batches (dataset smaller than one batch with drop_last?)");
  const int64_t ga = opts_.gradient_accumulation_steps;
  const int64_t updates_per_epoch = std::max<int64_t>(1, (nb + ga - 1) / ga);
  total_steps_ = opts_.max_steps > 0 ? opts_.max_steps
                                     : (int64_t)std::ceil(opts_.num_train_epochs * (double)updates_per_epoch);
  check(total_steps_ > 0, "train", "nothing to train: num_train_epochs and max_steps give 0 steps");

  auto named = policy_.named_parameters("default");
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  std::vector<bool> decay;
  for (auto& [n, t] : named)
    if (t.requires_grad()) {
      trainable.emplace_back(n, t);
      decay.push_back(n.find("bias") == std::string::npos);
    }
  check(!trainable.empty(), "lora", "the adapter has no trainable parameters");
  opt_ = std::make_unique<AdamW>(trainable, opts_.adam, decay);
  sched_.type = opts_.lr_scheduler_type;
  sched_.base_lr = opts_.learning_rate;
  sched_.total_steps = total_steps_;
  sched_.warmup_steps = resolve_warmup_steps(opts_.warmup_steps, opts_.warmup_ratio, total_steps_);
}

Trainer::~Trainer() = default;

torch::Tensor Trainer::reference_logps(const torch::Tensor& ids, const torch::Tensor& attn, const torch::Tensor& cmask) {
  torch::NoGradGuard ng;
  policy_.set_train(false);
  auto& m = policy_.model();
  if (opts_.reference == ReferenceSource::kRefAdapter) {
    lora::UseAdapter use("ref");
    return model::sequence_logprobs(m, ids, attn, cmask, false).sum;
  }
  model::AdaptersDisabled off;
  return model::sequence_logprobs(m, ids, attn, cmask, false).sum;
}

std::pair<torch::Tensor, torch::Tensor> Trainer::reference_logps2(const torch::Tensor& ids_a, const torch::Tensor& attn_a,
                                                                  const torch::Tensor& cmask_a, const torch::Tensor& ids_b,
                                                                  const torch::Tensor& attn_b, const torch::Tensor& cmask_b) {
  if (!opts_.share_prompt_prefix)
    return {reference_logps(ids_a, attn_a, cmask_a), reference_logps(ids_b, attn_b, cmask_b)};
  torch::NoGradGuard ng;
  policy_.set_train(false);
  auto& m = policy_.model();
  auto run = [&] {
    auto [a, b] = model::shared_prefix_logprobs(m, ids_a, attn_a, cmask_a, ids_b, attn_b, cmask_b);
    return std::make_pair(a.sum, b.sum);
  };
  if (opts_.reference == ReferenceSource::kRefAdapter) {
    lora::UseAdapter use("ref");
    return run();
  }
  model::AdaptersDisabled off;
  return run();
}

StepOutput Trainer::forward_unpaired(const data::Batch& b, bool training, double loss_scale) {
  auto& m = policy_.model();
  const auto dev = m->device();
  const bool kl = loss_->needs_kl();
  const bool want_ref = loss_->needs_reference() || !training;  // eval always reports rewards
  loss::LossInputs in;
  StepOutput out;
  auto ids = b.input_ids.to(dev), attn = b.attention_mask.to(dev), cmask = b.completion_mask.to(dev);
  // The KL rows go to the device once: the policy's KL pass and the reference's use them.
  torch::Tensor kl_ids, kl_attn, kl_mask;
  if (kl) {
    kl_ids = b.kl_input_ids.to(dev);
    kl_attn = b.kl_attention_mask.to(dev);
    kl_mask = b.kl_completion_mask.to(dev);
  }
  // The policy's KL rows continue the prompt keys/values of its target pass when both passes compute
  // the same function: no LoRA dropout in the target pass (the KL pass runs without dropout, as TRL's).
  // The KL log-probs carry no gradient, so the target pass's gradient is unchanged.
  const bool share_kl = kl && opts_.share_prompt_prefix &&
                        (!training || policy_.config("default").lora_dropout == 0.0);
  auto kl_pass = [&](const model::SharedPrefix* prefix) {
    torch::NoGradGuard ng;
    policy_.set_train(false);  // the KL estimate is a no-grad pass; TRL disables dropout too
    auto r = prefix ? model::continuation_logprobs(m, *prefix, kl_ids, kl_attn, kl_mask)
                    : model::sequence_logprobs(m, kl_ids, kl_attn, kl_mask, false);
    in.kl_policy_logps = r.sum;
    in.kl_lengths = r.count;
  };
  if (kl && !share_kl) kl_pass(nullptr);
  model::SequenceLogps pol;
  model::SharedPrefix prompt;
  if (share_kl) prompt.lengths = model::common_prefix_lengths(ids, attn, kl_ids, kl_attn);
  {
    policy_.set_train(training);
    std::optional<torch::NoGradGuard> ng;
    if (!training) ng.emplace();
    pol = model::sequence_logprobs(m, ids, attn, cmask, training && opts_.gradient_checkpointing,
                                   share_kl ? &prompt : nullptr);
  }
  if (share_kl) kl_pass(&prompt);
  prompt = {};  // frees the captured keys/values before the reference passes
  policy_.set_train(false);
  if (want_ref) {
    if (training && ref_cache_) {
      in.ref_logps = ref_cache_->lookup(b.indices, b.indices).to(dev);
      if (kl) in.kl_ref_logps = ref_cache_->lookup(b.indices, b.kl_source).to(dev);
    } else if (kl) {
      std::tie(in.ref_logps, in.kl_ref_logps) = reference_logps2(ids, attn, cmask, kl_ids, kl_attn, kl_mask);
    } else {
      in.ref_logps = reference_logps(ids, attn, cmask);
    }
  }
  in.policy_logps = pol.sum;
  in.lengths = pol.count;
  in.labels = b.labels.to(dev);
  in.pair_ids = b.pair_ids.to(dev);
  if (loss_->needs_nll()) {
    // SFT / CPO on unpaired data: the NLL of desirable completions only.
    auto w = in.labels.to(torch::kFloat32);
    in.nll_sum = -(pol.sum * w).sum();
    in.nll_count = (pol.count.to(torch::kFloat32) * w).sum();
  }
  in.step = state_.global_step;
  in.training = training;
  in.loss_scale = loss_scale;
  auto lo = compute_loss(in);
  out.loss = lo.loss;
  out.metrics = std::move(lo.metrics);
  out.tokens = b.num_tokens();
  out.policy_logps = pol.sum.detach();
  if (in.ref_logps.defined()) out.ref_logps = in.ref_logps.detach();
  out.labels = b.labels;
  out.pair_ids = b.pair_ids;
  out.lengths = pol.count;
  return out;
}

StepOutput Trainer::forward_paired(const data::PairBatch& b, bool training, double loss_scale) {
  auto& m = policy_.model();
  const auto dev = m->device();
  const bool want_ref = loss_->needs_reference() || !training;
  const bool gc = training && opts_.gradient_checkpointing;
  loss::LossInputs in;
  StepOutput out;
  auto c_ids = b.chosen_input_ids.to(dev), c_attn = b.chosen_attention_mask.to(dev),
       c_mask = b.chosen_completion_mask.to(dev);
  auto r_ids = b.rejected_input_ids.to(dev), r_attn = b.rejected_attention_mask.to(dev),
       r_mask = b.rejected_completion_mask.to(dev);
  model::SequenceLogps pc, pr;
  {
    policy_.set_train(training);
    std::optional<torch::NoGradGuard> ng;
    if (!training) ng.emplace();
    pc = model::sequence_logprobs(m, c_ids, c_attn, c_mask, gc);
    pr = model::sequence_logprobs(m, r_ids, r_attn, r_mask, gc);
    if (loss_->needs_nll()) {
      // ORPO's NLL covers the chosen prompt and completion (every real token after the first);
      // CPO-style SimPO uses completion tokens only.
      if (loss_->name() == "orpo") {
        auto all = model::sequence_logprobs(m, c_ids, c_attn, c_attn, gc);
        in.nll_sum = -all.sum.sum();
        in.nll_count = all.count.sum().to(torch::kFloat32);
      } else {
        in.nll_sum = -pc.sum.sum();
        in.nll_count = pc.count.sum().to(torch::kFloat32);
      }
    }
  }
  policy_.set_train(false);
  if (want_ref) {
    if (training && ref_cache_) {
      std::vector<int64_t> neg1(b.indices.size(), -1), neg2(b.indices.size(), -2);
      in.ref_chosen_logps = ref_cache_->lookup(b.indices, neg1).to(dev);
      in.ref_rejected_logps = ref_cache_->lookup(b.indices, neg2).to(dev);
    } else {
      std::tie(in.ref_chosen_logps, in.ref_rejected_logps) =
          reference_logps2(c_ids, c_attn, c_mask, r_ids, r_attn, r_mask);
    }
  }
  in.chosen_logps = pc.sum;
  in.rejected_logps = pr.sum;
  in.chosen_lengths = pc.count;
  in.rejected_lengths = pr.count;
  in.step = state_.global_step;
  in.training = training;
  in.loss_scale = loss_scale;
  auto lo = compute_loss(in);
  out.loss = lo.loss;
  out.metrics = std::move(lo.metrics);
  out.tokens = c_attn.sum().item<int64_t>() + r_attn.sum().item<int64_t>();
  out.chosen_logps = pc.sum.detach();
  out.rejected_logps = pr.sum.detach();
  if (in.ref_chosen_logps.defined()) {
    out.ref_chosen_logps = in.ref_chosen_logps.detach();
    out.ref_rejected_logps = in.ref_rejected_logps.detach();
  }
  return out;
}

void Trainer::build_precomputed_reference() {
  ref_cache_ = std::make_unique<ReferenceCache>();
  if (!opts_.ref_cache_file.empty() && fs::exists(opts_.ref_cache_file)) {
    ref_cache_->load(opts_.ref_cache_file);
    spdlog::info("reference log-probs: {} cached values from {}", ref_cache_->values.size(),
                 opts_.ref_cache_file.string());
  }
  // Every micro-batch the run will see: the epochs the step budget reaches.
  const int64_t nb = batches_per_epoch();
  const int64_t needed_batches = total_steps_ * opts_.gradient_accumulation_steps;
  const int64_t epochs = std::max<int64_t>(1, (needed_batches + nb - 1) / nb);
  int64_t computed = 0;
  auto dev = policy_.model()->device();
  // Each rank computes its slices; the values are gathered once at the end so every rank holds
  // the whole table.
  std::vector<int64_t> keys;
  std::vector<float> vals;
  auto put = [&](const std::vector<int64_t>& a, const std::vector<int64_t>& bb, const torch::Tensor& v) {
    if (comm_->world() == 1) return ref_cache_->put(a, bb, v);
    auto c = v.to(torch::kCPU, torch::kFloat32).contiguous();
    for (size_t i = 0; i < a.size(); ++i)
      keys.push_back(a[i]), keys.push_back(bb[i]), vals.push_back(c[(int64_t)i].item<float>());
  };
  for (int64_t e = 0; e < epochs; ++e)
    for (int64_t i = 0; i < nb; ++i) {
      if (train_loader_) {
        auto plan = train_loader_->plan(e, i);
        bool need = false;
        for (size_t k = 0; k < plan.rows.size(); ++k)
          need |= !ref_cache_->has(plan.rows[k], plan.rows[k]) ||
                  (!plan.kl_source.empty() && !ref_cache_->has(plan.rows[k], plan.kl_source[k]));
        if (!need) continue;
        auto b = train_loader_->get(e, i);
        auto ids = b.input_ids.to(dev), attn = b.attention_mask.to(dev), cmask = b.completion_mask.to(dev);
        if (b.kl_input_ids.defined()) {
          auto [r, r_kl] = reference_logps2(ids, attn, cmask, b.kl_input_ids.to(dev), b.kl_attention_mask.to(dev),
                                            b.kl_completion_mask.to(dev));
          put(b.indices, b.indices, r);
          put(b.indices, b.kl_source, r_kl);
        } else {
          put(b.indices, b.indices, reference_logps(ids, attn, cmask));
        }
      } else {
        auto plan = pair_loader_->plan(e, i);
        bool need = false;
        for (auto r : plan.rows) need |= !ref_cache_->has(r, -1) || !ref_cache_->has(r, -2);
        if (!need) continue;
        auto b = pair_loader_->get(e, i);
        std::vector<int64_t> neg1(b.indices.size(), -1), neg2(b.indices.size(), -2);
        auto [rc, rr] = reference_logps2(b.chosen_input_ids.to(dev), b.chosen_attention_mask.to(dev),
                                         b.chosen_completion_mask.to(dev), b.rejected_input_ids.to(dev),
                                         b.rejected_attention_mask.to(dev), b.rejected_completion_mask.to(dev));
        put(b.indices, neg1, rc);
        put(b.indices, neg2, rr);
      }
      ++computed;
    }
  if (comm_->world() > 1) {
    const int64_t n = (int64_t)vals.size();
    auto k = dist::all_gather_varlen(*comm_, torch::tensor(keys, torch::kInt64).reshape({n, 2}));
    auto v = dist::all_gather_varlen(*comm_, torch::tensor(vals, torch::kFloat32));
    std::vector<int64_t> ka(k.size(0)), kb(k.size(0));
    for (int64_t i = 0; i < k.size(0); ++i) ka[(size_t)i] = k[i][0].item<int64_t>(), kb[(size_t)i] = k[i][1].item<int64_t>();
    if (!ka.empty()) ref_cache_->put(ka, kb, v);
    computed = dist::all_reduce_sum(*comm_, computed);
  }
  spdlog::info("reference log-probs: {} micro-batches computed, {} values", computed, ref_cache_->values.size());
  if (comm_->is_main() && ref_cache_->dirty && !opts_.ref_cache_file.empty()) ref_cache_->save(opts_.ref_cache_file);
}

std::map<std::string, double> Trainer::evaluate() {
  std::map<std::string, double> res;
  if (!eval_loader_ && !eval_pair_loader_) return res;
  torch::NoGradGuard ng;
  MetricWindow w;
  int64_t pairs = 0, wins = 0, logp_wins = 0;
  if (eval_loader_) {
    // Rewards per pair id, to score pairs that the micro-batches may split.
    std::map<int64_t, std::pair<double, double>> r_by_pair, lp_by_pair;  // (chosen, rejected)
    std::map<int64_t, int> seen;
    for (int64_t i = 0; i < eval_loader_->num_batches(); ++i) {
      auto b = eval_loader_->get(0, i);
      auto o = forward_unpaired(b, false);
      w.add(o.metrics);
      // The metrics are already global; the per-example values come from every rank's slice.
      auto pol = dist::all_gather_varlen(*comm_, o.policy_logps.to(torch::kCPU));
      auto ref = dist::all_gather_varlen(*comm_, o.ref_logps.to(torch::kCPU));
      auto lab = dist::all_gather_varlen(*comm_, o.labels.to(torch::kCPU));
      auto pid = dist::all_gather_varlen(*comm_, o.pair_ids.to(torch::kCPU));
      for (int64_t k = 0; k < pol.size(0); ++k) {
        int64_t p = pid[k].item<int64_t>();
        if (p < 0) continue;
        double r = pol[k].item<double>() - ref[k].item<double>();
        bool chosen = lab[k].item<bool>();
        (chosen ? r_by_pair[p].first : r_by_pair[p].second) = r;
        (chosen ? lp_by_pair[p].first : lp_by_pair[p].second) = pol[k].item<double>();
        seen[p] |= chosen ? 1 : 2;
      }
    }
    for (const auto& [p, bits] : seen)
      if (bits == 3) {
        ++pairs;
        wins += r_by_pair[p].first > r_by_pair[p].second;
        logp_wins += lp_by_pair[p].first > lp_by_pair[p].second;
      }
  } else {
    for (int64_t i = 0; i < eval_pair_loader_->num_batches(); ++i) {
      auto b = eval_pair_loader_->get(0, i);
      auto o = forward_paired(b, false);
      w.add(o.metrics);
      auto rc = (o.chosen_logps - o.ref_chosen_logps).cpu(), rr = (o.rejected_logps - o.ref_rejected_logps).cpu();
      pairs += dist::all_reduce_sum(*comm_, (int64_t)rc.size(0));
      wins += dist::all_reduce_sum(*comm_, (rc > rr).sum().item<int64_t>());
      logp_wins += dist::all_reduce_sum(*comm_, (o.chosen_logps > o.rejected_logps).sum().item<int64_t>());
    }
  }
  for (const auto& [k, v] : w.means()) res["eval_" + k] = v;
  if (pairs > 0) {
    res["eval_preference_accuracy"] = (double)wins / (double)pairs;
    res["eval_logps_accuracy"] = (double)logp_wins / (double)pairs;
    res["eval_pairs"] = (double)pairs;
  }
  return res;
}

loss::LossOutput Trainer::compute_loss(const loss::LossInputs& in) {
  return dist::compute_global_loss(*comm_, *loss_, in);
}

void Trainer::log_record(nlohmann::json rec) {
  state_.log_history.push_back(rec);
  if (!comm_->is_main()) return;
  std::ofstream out(opts_.output_dir / "metrics.jsonl", std::ios::app);
  out << rec.dump() << "\n";
}

void Trainer::save_adapter(const fs::path& dir) { lora::save_adapter(policy_, dir, "default"); }

void Trainer::save_checkpoint(const fs::path& dir) {
  AtomicDir ad(dir);
  save_adapter(ad.path());
  io::save_safetensors(ad.path() / "optimizer.safetensors", opt_->state());
  write_json_file_atomic(ad.path() / "scheduler.json",
                         {{"type", sched_.type}, {"base_lr", sched_.base_lr}, {"warmup_steps", sched_.warmup_steps},
                          {"total_steps", sched_.total_steps}, {"last_step", state_.global_step}});
  auto rng = capture_rng_state();
  rng.insert(rng.end(), peer_rng_.begin(), peer_rng_.end());
  io::save_safetensors(ad.path() / "rng_state.safetensors", rng);
  nlohmann::json st = state_.to_json();
  st["metric_window"] = window_.to_json();
  st["loss_state"] = loss_->state();
  st["max_steps"] = total_steps_;
  st["world_size"] = comm_->world();
  write_json_file_atomic(ad.path() / "trainer_state.json", st);
  ad.commit();
}

void Trainer::load_checkpoint(const fs::path& dir) {
  const std::string src = dir.string();
  check(fs::is_directory(dir), src, "checkpoint directory not found");
  {
    auto st = read_json_file(dir / "trainer_state.json");
    const int64_t saved_world = st.value("world_size", (int64_t)1);
    check(saved_world == comm_->world(), (dir / "trainer_state.json").string(),
          "the checkpoint was written by a run of " + std::to_string(saved_world) + " rank(s), this run has " +
              std::to_string(comm_->world()) + ": resume with the same world size (the micro-batch slices and the "
              "random streams depend on it)");
  }
  {
    torch::NoGradGuard ng;
    auto store = io::TensorStore::open(dir, "adapter_model");
    for (auto& [n, p] : policy_.named_parameters("default")) {
      check(store.contains(n), src, "adapter lacks tensor '" + n + "'");
      auto t = store.get(n);
      check(t.sizes() == p.sizes(), src, "adapter tensor '" + n + "' has another shape");
      p.copy_(t);
    }
  }
  auto getter = [](const fs::path& file) {
    auto f = io::SafetensorsFile::open(file);
    return [f](const std::string& k) { return f->contains(k) ? f->get(k) : torch::Tensor(); };
  };
  opt_->load_state(getter(dir / "optimizer.safetensors"), (dir / "optimizer.safetensors").string());
  {
    auto get = getter(dir / "rng_state.safetensors");
    const std::string mine = "cpu_rank" + std::to_string(comm_->rank());
    restore_rng_state([&](const std::string& k) { return k == "cpu" && comm_->rank() > 0 ? get(mine) : get(k); },
                      (dir / "rng_state.safetensors").string());
  }
  auto st = read_json_file(dir / "trainer_state.json");
  state_ = TrainerState::from_json(st, (dir / "trainer_state.json").string());
  window_.load(st.value("metric_window", nlohmann::json()));
  loss_->load_state(st.value("loss_state", nlohmann::json::object()));
  if (st.value("max_steps", total_steps_) != total_steps_)
    spdlog::warn("{}: the checkpoint was written for {} steps, this run has {}", src, st.value("max_steps", 0),
                 total_steps_);
}

void Trainer::rotate_checkpoints() {
  if (opts_.save_total_limit <= 0) return;
  auto cks = list_checkpoints(opts_.output_dir);
  while ((int64_t)cks.size() > opts_.save_total_limit) {
    std::error_code ec;
    fs::remove_all(cks.front(), ec);
    cks.erase(cks.begin());
  }
}

nlohmann::json Trainer::train(const std::optional<fs::path>& resume_dir) {
  const bool main_rank = comm_->is_main();  // the only rank that writes into output_dir
  const fs::path metrics_file = opts_.output_dir / "metrics.jsonl";
  // The checkpoint loads before anything in output_dir changes: a failed resume leaves the run as it was.
  if (resume_dir) load_checkpoint(*resume_dir);
  // A kill during a checkpoint or adapter write leaves its temporary behind; it is never resumed from.
  if (main_rank)
    if (int n = remove_stale_temporaries(opts_.output_dir))
      spdlog::info("{}: removed {} partial write(s) left by an interrupted run", opts_.output_dir.string(), n);
  if (on_start) on_start();
  if (main_rank) fs::create_directories(opts_.output_dir);
  if (resume_dir) {
    // Drop records written after the checkpoint (a killed run) so the file reads as one run.
    std::string kept;
    if (main_rank && fs::exists(metrics_file))
      for (const auto& r : read_metrics_jsonl(metrics_file))
        if (r.value("step", (int64_t)0) <= state_.global_step) kept += r.dump() + "\n";
    if (main_rank) write_text_file_atomic(metrics_file, kept);
    spdlog::info("resumed from {} at step {} (epoch {:.3f})", resume_dir->string(), state_.global_step, state_.epoch);
  } else {
    seed_everything(opts_.seed);
    if (main_rank) write_text_file_atomic(metrics_file, "");
  }
  if (opts_.precompute_ref_logps && loss_->needs_reference()) build_precomputed_reference();

  auto params = [&] {
    std::vector<torch::Tensor> v;
    for (auto& [n, p] : opt_->params()) v.push_back(p);
    return v;
  }();
  const int64_t nb = batches_per_epoch();
  const int64_t ga = opts_.gradient_accumulation_steps;

  if (!resume_dir && opts_.eval_on_start && (eval_loader_ || eval_pair_loader_)) {
    auto ev = evaluate();
    nlohmann::json rec = {{"step", 0}, {"epoch", 0.0}};
    for (auto& [k, v] : ev) rec[k] = v;
    log_record(rec);
  }

  using clock = std::chrono::steady_clock;
  auto window_start = clock::now();
  int64_t window_tokens = 0;
  bool completed = true;
  while (state_.global_step < total_steps_) {
    if (opts_.stop_after_steps >= 0 && state_.global_step >= opts_.stop_after_steps) {
      completed = false;
      break;
    }
    if (state_.cursor.batch >= nb) state_.cursor.epoch += 1, state_.cursor.batch = 0;
    const int64_t micro = std::min(ga, nb - state_.cursor.batch);
    bool finite = true;
    int64_t step_tokens = 0;
    for (int64_t k = 0; k < micro; ++k) {
      const int64_t bi = state_.cursor.batch + k;
      // HF divides by the number of micro-batches of this update (all but an epoch's last: ga).
      StepOutput o = train_loader_ ? forward_unpaired(train_loader_->get(state_.cursor.epoch, bi), true, 1.0 / micro)
                                   : forward_paired(pair_loader_->get(state_.cursor.epoch, bi), true, 1.0 / micro);
      const double lv = o.loss.item<double>();
      if (!std::isfinite(lv)) finite = false;
      if (finite) (o.loss / (double)micro).backward();
      window_.add(o.metrics);
      step_tokens += o.tokens;
    }
    state_.cursor.batch += micro;
    // Each rank's gradient is that of the global loss through its own examples: the sum over ranks
    // is the single-process gradient.
    dist::all_reduce_gradients(*comm_, params);
    step_tokens = dist::all_reduce_sum(*comm_, step_tokens);
    const double grad_norm = AdamW::clip_grad_norm(params, opts_.max_grad_norm);
    const double lr = sched_.lr_at(state_.global_step);
    if (finite && std::isfinite(grad_norm)) {
      opt_->step(lr);
      state_.consecutive_skips = 0;
    } else {
      state_.skipped_steps += 1;
      state_.consecutive_skips += 1;
      spdlog::warn("step {}: non-finite {} — update skipped ({} in a row)", state_.global_step + 1,
                   finite ? "gradient norm" : "loss", state_.consecutive_skips);
      if (state_.consecutive_skips >= opts_.max_consecutive_skips) {
        opt_->zero_grad();
        throw Error("train", "stopping: " + std::to_string(state_.consecutive_skips) +
                                 " consecutive steps had a non-finite loss or gradient (max_consecutive_skips = " +
                                 std::to_string(opts_.max_consecutive_skips) +
                                 "); lower the learning rate or enable component_grad_clip");
      }
    }
    opt_->zero_grad();
    state_.global_step += 1;
    state_.num_tokens += step_tokens;
    window_tokens += step_tokens;
    state_.epoch = (double)state_.cursor.epoch + (double)state_.cursor.batch / (double)nb;

    std::map<std::string, double> step_metrics = {{"grad_norm", grad_norm}, {"learning_rate", lr}};
    const bool last = state_.global_step == total_steps_;
    if (state_.global_step % opts_.logging_steps == 0 || last) {
      double secs = std::chrono::duration<double>(clock::now() - window_start).count();
      nlohmann::json rec = {{"step", state_.global_step}, {"epoch", state_.epoch}};
      for (auto& [k, v] : window_.means()) rec[k] = v;
      rec["grad_norm"] = grad_norm;
      rec["learning_rate"] = lr;
      rec["train/skipped_steps"] = state_.skipped_steps;
      rec["num_tokens"] = state_.num_tokens;
      rec["tokens_per_second"] = secs > 0 ? (double)window_tokens / secs : 0.0;
      for (auto& [k, v] : window_.means()) step_metrics[k] = v;
      step_metrics["tokens_per_second"] = rec["tokens_per_second"];
      log_record(rec);
      window_.clear();
      window_start = clock::now();
      window_tokens = 0;
    }
    if ((eval_loader_ || eval_pair_loader_) &&
        ((opts_.eval_steps > 0 && state_.global_step % opts_.eval_steps == 0) || last)) {
      auto ev = evaluate();
      nlohmann::json rec = {{"step", state_.global_step}, {"epoch", state_.epoch}};
      for (auto& [k, v] : ev) rec[k] = v;
      log_record(rec);
    }
    if (opts_.save_steps > 0 && state_.global_step % opts_.save_steps == 0) {
      // Every rank's random stream goes into rank 0's checkpoint (collective, before the write).
      peer_rng_.clear();
      if (comm_->world() > 1) {
        auto all = comm_->all_gather(capture_rng_state().front().second);
        for (int r = 1; r < comm_->world(); ++r) peer_rng_.emplace_back("cpu_rank" + std::to_string(r), all[r]);
      }
      if (main_rank) {
        save_checkpoint(opts_.output_dir / ("checkpoint-" + std::to_string(state_.global_step)));
        rotate_checkpoints();
      }
    }
    if (on_step) on_step(state_, step_metrics);
  }
  nlohmann::json summary = {{"global_step", state_.global_step}, {"total_steps", total_steps_},
                            {"epoch", state_.epoch}, {"completed", completed},
                            {"skipped_steps", state_.skipped_steps}, {"num_tokens", state_.num_tokens}};
  if (completed && main_rank) {
    AtomicDir ad(opts_.output_dir / "adapter");
    save_adapter(ad.path());
    ad.commit();
    write_json_file_atomic(opts_.output_dir / "trainer_state.json", state_.to_json());
  }
  if (completed) summary["adapter"] = (opts_.output_dir / "adapter").string();
  // Last logged train metrics and eval metrics for the run summary.
  nlohmann::json final_metrics = nlohmann::json::object();
  for (const auto& rec : state_.log_history)
    for (auto it = rec.begin(); it != rec.end(); ++it) final_metrics[it.key()] = it.value();
  summary["final_metrics"] = final_metrics;
  return summary;
}

}  // namespace prospect::train
