#include "prospect/train/recipe.h"

#include "prospect/model/gguf_map.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "prospect/core/config_reader.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/data/prepare.h"
#include "prospect/dist/env.h"
#include "prospect/dist/process_group.h"
#include "prospect/io/hub_cache.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/lora/lora.h"
#include "prospect/loss/loss.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/config.h"
#include "prospect/tokenizer/tokenizer.h"
#include "prospect/train/progress.h"
#include "prospect/train/svg_plot.h"

namespace prospect::train {

namespace fs = std::filesystem;

torch::Device RecipeConfig::resolved_device() const { return parse_device(device); }

torch::ScalarType RecipeConfig::resolved_dtype() const {
  if (dtype == "auto") return resolved_device().is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  return parse_dtype(dtype);
}

nlohmann::json load_config_json(const fs::path& file, const std::vector<std::string>& overrides) {
  nlohmann::json j = read_json_file(file);
  if (!j.is_object()) throw Error(file.string(), "a training config must be a JSON object");
  for (const auto& o : overrides) apply_override(j, o);
  return j;
}

int64_t compute_total_steps(int64_t nb, int64_t ga, double epochs, int64_t max_steps) {
  if (max_steps > 0) return max_steps;
  const int64_t per_epoch = std::max<int64_t>(1, (nb + ga - 1) / ga);
  return (int64_t)std::ceil(epochs * (double)per_epoch);
}

RecipeConfig parse_recipe(const nlohmann::json& j, const std::string& source) {
  RecipeConfig c;
  c.raw = j;
  c.source = source;
  ConfigReader root(j, "", source);
  {
    auto m = root.child("model");
    // Local paths win; Hugging Face ids ("Qwen/Qwen3-0.6B[@rev]") resolve to their cached snapshot.
    auto resolve = [&](const std::string& key, const std::string& spec) {
      try {
        return io::resolve_model_path(spec);
      } catch (const Error& e) {
        throw Error(source, "model." + key + ": " + e.what());
      }
    };
    const std::string model_spec = m.required<std::string>("path");
    auto model = resolve("path", model_spec);
    c.model_path = model.path;
    c.model_repo_id = model.repo_id;
    c.model_commit = model.commit;
    if (auto a = m.optional<std::string>("adapter")) c.adapter_path = resolve("adapter", *a).path;
    c.tokenizer_path = m.has("tokenizer") ? resolve("tokenizer", m.get<std::string>("tokenizer", "")).path : c.model_path;
    c.dtype = m.get<std::string>("dtype", "auto");
    if (c.dtype != "auto") parse_dtype(c.dtype);
    c.device = m.get<std::string>("device", "auto");
    m.check_one_of("device", c.device.rfind("cuda:", 0) == 0 ? "cuda" : c.device, {"auto", "cpu", "cuda"});
    m.finish();
  }
  c.lora = lora::LoraConfig::from_json(root.raw("lora"), "lora");
  {
    c.loss = root.raw("loss");
    if (c.loss.is_null()) throw Error(source, "missing required key 'loss'");
    loss::make_loss(c.loss, "loss");  // validates every loss key now
    c.loss_type = c.loss.value("type", "");
  }
  auto lossj = c.loss;
  auto& tr = c.trainer;
  {
    auto d = root.child("data");
    auto paths = [&](const std::string& key, bool req) {
      std::vector<fs::path> out;
      auto v = req ? d.required<std::vector<std::string>>(key) : d.get<std::vector<std::string>>(key, {});
      for (auto& s : v) out.emplace_back(s);
      return out;
    };
    c.train_data.paths = paths("train", true);
    c.eval_data.paths = paths("eval", false);
    c.train_data.max_length = d.get<int64_t>("max_length", 1024);
    d.check_range("max_length", (double)c.train_data.max_length, 0, 1e9);
    c.train_data.max_prompt_length = d.get<int64_t>("max_prompt_length", 0);
    d.check_range("max_prompt_length", (double)c.train_data.max_prompt_length, 0, 1e9);
    auto tm = d.get<std::string>("truncation_mode", "keep_end");
    d.check_one_of("truncation_mode", tm, {"keep_end", "keep_start"});
    c.train_data.truncation_mode = data::parse_truncation_mode(tm);
    c.train_data.skip_bad_rows = d.get<bool>("skip_bad_rows", false);
    if (d.has("chat_template_kwargs")) {
      auto k = d.raw("chat_template_kwargs");
      if (!k.is_object()) throw Error(source, "'data.chat_template_kwargs' must be an object");
      c.train_data.chat_template_kwargs = data::ojson(k);
    } else {
      d.raw("chat_template_kwargs");
    }
    c.train_data.drop_last = d.get<bool>("drop_last", false);
    c.max_eval_examples = d.get<int64_t>("max_eval_examples", 0);
    d.check_range("max_eval_examples", (double)c.max_eval_examples, 0, 1e12);
    d.finish();
  }
  c.train_data.desirable_weight = lossj.value("desirable_weight", 1.0);
  c.train_data.undesirable_weight = lossj.value("undesirable_weight", 1.0);
  {
    auto t = root.child("train");
    tr.per_device_train_batch_size = t.get<int64_t>("per_device_train_batch_size", 8);
    t.check_range("per_device_train_batch_size", (double)tr.per_device_train_batch_size, 1, 1e6);
    tr.per_device_eval_batch_size = t.get<int64_t>("per_device_eval_batch_size", tr.per_device_train_batch_size);
    t.check_range("per_device_eval_batch_size", (double)tr.per_device_eval_batch_size, 1, 1e6);
    tr.gradient_accumulation_steps = t.get<int64_t>("gradient_accumulation_steps", 1);
    t.check_range("gradient_accumulation_steps", (double)tr.gradient_accumulation_steps, 1, 1e6);
    tr.learning_rate = t.get<double>("learning_rate", 5e-5);
    t.check_range("learning_rate", tr.learning_rate, 0, 10);
    tr.lr_scheduler_type = t.get<std::string>("lr_scheduler_type", "linear");
    t.check_one_of("lr_scheduler_type", tr.lr_scheduler_type, schedule_types());
    tr.warmup_ratio = t.get<double>("warmup_ratio", 0.0);
    t.check_range("warmup_ratio", tr.warmup_ratio, 0, 1);
    tr.warmup_steps = t.get<int64_t>("warmup_steps", 0);
    t.check_range("warmup_steps", (double)tr.warmup_steps, 0, 1e12);
    tr.num_train_epochs = t.get<double>("num_train_epochs", 3.0);
    t.check_range("num_train_epochs", tr.num_train_epochs, 0, 1e6);
    tr.max_steps = t.get<int64_t>("max_steps", -1);
    tr.max_grad_norm = t.get<double>("max_grad_norm", 1.0);
    tr.adam.weight_decay = t.get<double>("weight_decay", 0.0);
    t.check_range("weight_decay", tr.adam.weight_decay, 0, 1);
    tr.adam.beta1 = t.get<double>("adam_beta1", 0.9);
    t.check_range("adam_beta1", tr.adam.beta1, 0, 1, false, true);
    tr.adam.beta2 = t.get<double>("adam_beta2", 0.999);
    t.check_range("adam_beta2", tr.adam.beta2, 0, 1, false, true);
    tr.adam.eps = t.get<double>("adam_epsilon", 1e-8);
    t.check_range("adam_epsilon", tr.adam.eps, 0, 1, true);
    tr.seed = t.get<uint64_t>("seed", 42);
    tr.logging_steps = t.get<int64_t>("logging_steps", 10);
    t.check_range("logging_steps", (double)tr.logging_steps, 1, 1e12);
    tr.save_steps = t.get<int64_t>("save_steps", 500);
    t.check_range("save_steps", (double)tr.save_steps, 0, 1e12);
    tr.save_total_limit = t.get<int64_t>("save_total_limit", 0);
    t.check_range("save_total_limit", (double)tr.save_total_limit, 0, 1e12);
    tr.eval_steps = t.get<int64_t>("eval_steps", 0);
    t.check_range("eval_steps", (double)tr.eval_steps, 0, 1e12);
    tr.eval_on_start = t.get<bool>("eval_on_start", false);
    tr.gradient_checkpointing = t.get<bool>("gradient_checkpointing", false);
    tr.precompute_ref_logps = t.get<bool>("precompute_ref_logps", false);
    tr.share_prompt_prefix = t.get<bool>("share_prompt_prefix", true);
    tr.max_consecutive_skips = t.get<int64_t>("max_consecutive_skips", 5);
    t.check_range("max_consecutive_skips", (double)tr.max_consecutive_skips, 1, 1e9);
    c.merge_at_end = t.get<bool>("merge_at_end", false);
    c.merge_dtype = t.get<std::string>("merge_dtype", "");
    if (!c.merge_dtype.empty()) parse_dtype(c.merge_dtype);
    c.export_gguf = t.get<std::vector<std::string>>("export_gguf", {});
    for (const auto& d : c.export_gguf) model::parse_gguf_dtype(d);  // rejects unknown dtypes at load
    c.ref_cache_dir = t.get<std::string>("ref_logps_cache_dir", c.ref_cache_dir.string());
    c.ddp_timeout_s = t.get<double>("ddp_timeout", 1800.0);
    t.check_range("ddp_timeout", c.ddp_timeout_s, 1, 1e7);
    t.finish();
  }
  c.output_dir = root.required<std::string>("output_dir");
  root.finish();
  c.train_data.seed = tr.seed;
  c.train_data.batch_size = tr.per_device_train_batch_size;
  c.eval_data.max_length = c.train_data.max_length;
  c.eval_data.max_prompt_length = c.train_data.max_prompt_length;
  c.eval_data.truncation_mode = c.train_data.truncation_mode;
  c.eval_data.skip_bad_rows = c.train_data.skip_bad_rows;
  c.eval_data.chat_template_kwargs = c.train_data.chat_template_kwargs;
  c.eval_data.desirable_weight = c.train_data.desirable_weight;
  c.eval_data.undesirable_weight = c.train_data.undesirable_weight;
  tr.data = c.train_data;
  tr.output_dir = c.output_dir;
  tr.reference = c.adapter_path ? ReferenceSource::kRefAdapter : ReferenceSource::kBaseModel;
  return c;
}

namespace {

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const unsigned char* p = (const unsigned char*)data;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
uint64_t fnv1a(uint64_t h, const std::string& s) { return fnv1a(h, s.data(), s.size()); }

// Small files in full; large ones (weights) by size and 16 sampled 64 KiB blocks, so that a 1 GB
// checkpoint is fingerprinted in milliseconds while any re-download or retrain changes the hash.
uint64_t hash_file(uint64_t h, const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  if (!in) return h;
  const uint64_t size = fs::file_size(f);
  h = fnv1a(h, f.filename().string());
  h = fnv1a(h, &size, sizeof size);
  std::vector<char> buf(64 << 10);
  if (size <= (4u << 20)) {
    std::string all((std::istreambuf_iterator<char>(in)), {});
    return fnv1a(h, all);
  }
  for (int k = 0; k < 16; ++k) {
    in.seekg((std::streamoff)((size - buf.size()) / 15 * k));
    in.read(buf.data(), (std::streamsize)buf.size());
    h = fnv1a(h, buf.data(), (size_t)in.gcount());
  }
  return h;
}

uint64_t hash_dir(uint64_t h, const fs::path& dir) {
  if (!fs::is_directory(dir)) return hash_file(h, dir);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto ext = f.extension().string();
    if (ext == ".json" || ext == ".safetensors" || ext == ".model" || ext == ".jinja" || ext == ".txt")
      h = hash_file(h, f);
  }
  return h;
}

std::string now_iso() {
  auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::ostringstream os;
  os << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return os.str();
}

data::PreparedData prepare(const data::DataOptions& o, const tokenizer::Tokenizer& tok, int64_t max_examples) {
  auto d = data::prepare_data(o, tok);
  if (max_examples > 0 && (int64_t)d.examples.size() > max_examples) {
    // Keep whole pairs: cut at an example boundary, then drop pairs that lost their partner.
    d.examples.resize((size_t)max_examples);
    if ((int64_t)d.pairs.size() > max_examples / 2) d.pairs.resize((size_t)std::max<int64_t>(1, max_examples / 2));
  }
  return d;
}

// Hub dataset splits among the data entries, with the snapshot commit each resolved to.
nlohmann::json dataset_revisions(const RecipeConfig& cfg) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto* d : {&cfg.train_data, &cfg.eval_data})
    for (const auto& p : d->paths)
      if (io::is_dataset_split_id(p.string())) {
        auto split = io::resolve_dataset_split(p.string());
        out.push_back({{"id", split.snapshot.repo_id}, {"split", split.split}, {"revision", split.snapshot.commit},
                       {"files", split.files.size()}});
      }
  return out;
}

}  // namespace

std::string reference_fingerprint(const RecipeConfig& cfg, uint64_t data_fp) {
  uint64_t h = 1469598103934665603ull;
  h = hash_dir(h, cfg.model_path);
  if (cfg.adapter_path) h = hash_dir(h, *cfg.adapter_path);
  h = hash_dir(h, cfg.tokenizer_path);
  h = fnv1a(h, &data_fp, sizeof data_fp);
  nlohmann::json k = {{"max_length", cfg.train_data.max_length},
                      {"max_prompt_length", cfg.train_data.max_prompt_length},
                      {"truncation", data::to_string(cfg.train_data.truncation_mode)},
                      {"seed", cfg.trainer.seed},
                      {"batch", cfg.trainer.per_device_train_batch_size},
                      {"dtype", short_dtype_name(cfg.resolved_dtype())},
                      {"loss", cfg.loss_type}};
  h = fnv1a(h, k.dump());
  std::ostringstream os;
  os << std::hex << std::setw(16) << std::setfill('0') << h;
  return os.str();
}

fs::path latest_checkpoint(const fs::path& output_dir) {
  auto cks = list_checkpoints(output_dir);
  if (cks.empty()) throw Error(output_dir.string(), "no checkpoint-N directory to resume from");
  return cks.back();
}

fs::path resolve_resume(const fs::path& output_dir, const std::string& arg) {
  if (arg.empty()) return latest_checkpoint(output_dir);
  fs::path p(arg);
  // The README's form `--resume checkpoint-N` names a checkpoint of this run; a path that exists as
  // given (absolute, or relative to the working directory) is taken as it is.
  std::vector<fs::path> tried;
  if (p.is_relative()) tried.push_back(output_dir / p);
  tried.push_back(p);
  for (const auto& t : tried)
    if (fs::is_directory(t)) {
      if (!fs::exists(t / "trainer_state.json"))
        throw Error(t.string(), "not a checkpoint directory (no trainer_state.json)");
      return t;
    }
  throw Error(tried.front().string(), "checkpoint not found" +
                                          (tried.size() > 1 ? " (nor " + tried.back().string() + ")" : std::string()));
}

namespace {

int64_t max_token_id(const data::PreparedData& d) {
  int64_t m = -1;
  auto upd = [&](const std::vector<int64_t>& v) {
    for (auto id : v) m = std::max(m, id);
  };
  for (const auto& e : d.examples) upd(e.prompt_ids), upd(e.completion_ids);
  for (const auto& p : d.pairs) upd(p.prompt_ids), upd(p.chosen_ids), upd(p.rejected_ids);
  return m;
}

// The checks that need no model weights, shared by --dry-run and the real run so that a dry run
// reports what the run would fail on. Nothing is created. The cheap ones come before the data.
model::ModelConfig check_paths(const RecipeConfig& cfg) {
  check_output_path(cfg.output_dir, /*is_directory=*/true, "output_dir");
  if (cfg.adapter_path) check(fs::is_directory(*cfg.adapter_path), cfg.adapter_path->string(), "adapter directory does not exist");
  return model::ModelConfig::load(cfg.model_path);
}

void validate_inputs(const RecipeConfig& cfg, const model::ModelConfig& mc, const loss::Loss& loss,
                     const data::PreparedData& train, const data::PreparedData* eval, const tokenizer::Tokenizer& tok) {
  if (loss.paired())
    check(!train.pairs.empty(), "data.train",
          "the loss '" + loss.name() + "' needs paired preference data (prompt/chosen/rejected rows); " +
              std::to_string(train.stats.unpaired_rows) + " unpaired rows and no pairs were read");
  else
    check(!train.examples.empty(), "data.train", "no training examples");
  const int64_t pad = data::pad_token_id(tok);
  for (const auto* d : {&train, eval}) {
    if (!d) continue;
    const int64_t m = std::max(max_token_id(*d), pad);
    if (m >= mc.vocab_size)
      throw Error(d == &train ? "data.train" : "data.eval",
                  "the tokenizer " + cfg.tokenizer_path.string() + " produces token id " + std::to_string(m) +
                      ", outside the vocabulary of the model " + cfg.model_path.string() + " (vocab_size " +
                      std::to_string(mc.vocab_size) + "): tokenizer and model do not match");
  }
}

}  // namespace

nlohmann::json dry_run(const RecipeConfig& cfg) {
  const auto mc = check_paths(cfg);
  auto tok = tokenizer::Tokenizer::load(cfg.tokenizer_path);
  auto loss = loss::make_loss(cfg.loss, "loss");
  auto train = prepare(cfg.train_data, *tok, 0);
  std::optional<data::PreparedData> ev;
  if (!cfg.eval_data.paths.empty()) ev = prepare(cfg.eval_data, *tok, cfg.max_eval_examples);
  validate_inputs(cfg, mc, *loss, train, ev ? &*ev : nullptr, *tok);
  nlohmann::json out;
  out["config"] = cfg.raw;
  out["model"] = {{"path", cfg.model_path.string()}};
  if (!cfg.model_commit.empty()) {
    out["model"]["repo_id"] = cfg.model_repo_id;
    out["model"]["revision"] = cfg.model_commit;
  }
  if (auto ds = dataset_revisions(cfg); !ds.empty()) out["datasets"] = ds;
  out["train_data"] = nlohmann::json::parse(train.stats.to_json().dump());
  data::DataOptions d = cfg.train_data;
  d.need_kl = loss->needs_kl();
  d.paired = loss->paired();
  int64_t nb = 0;
  if (d.paired) nb = data::PairLoader(train, d).num_batches();
  else nb = data::DataLoader(train, d).num_batches();
  const int64_t total = compute_total_steps(nb, cfg.trainer.gradient_accumulation_steps, cfg.trainer.num_train_epochs,
                                            cfg.trainer.max_steps);
  out["plan"] = {{"loss", cfg.loss_type},
                 {"micro_batches_per_epoch", nb},
                 {"effective_batch_size", cfg.trainer.per_device_train_batch_size * cfg.trainer.gradient_accumulation_steps},
                 {"total_steps", total},
                 {"warmup_steps", resolve_warmup_steps(cfg.trainer.warmup_steps, cfg.trainer.warmup_ratio, total)},
                 {"device", cfg.resolved_device().str()},
                 {"dtype", short_dtype_name(cfg.resolved_dtype())},
                 {"reference", cfg.adapter_path ? "frozen copy of the starting adapter"
                               : loss->needs_reference() ? "base model (adapters disabled)" : "none"},
                 {"precompute_ref_logps", cfg.trainer.precompute_ref_logps}};
  if (ev) out["eval_data"] = nlohmann::json::parse(ev->stats.to_json().dump());
  if (!train.stats.class_weight_warning.empty()) out["warnings"] = {train.stats.class_weight_warning};
  return out;
}

nlohmann::json run_recipe(const RecipeConfig& cfg, const std::optional<fs::path>& resume) {
  const std::string started = now_iso();
  auto device = cfg.resolved_device();
  const auto dtype = cfg.resolved_dtype();
  nlohmann::json resolved = cfg.raw;
  // Nothing is written before data, tokenizer, model and checkpoint have loaded (on_start below).
  if (resume) check(fs::exists(*resume / "trainer_state.json"), resume->string(), "not a checkpoint directory");
  const auto mc = check_paths(cfg);
  // One rank of a data-parallel job when the torchrun environment says so (WORLD_SIZE > 1).
  const auto env = dist::read_env();
  std::shared_ptr<dist::Communicator> comm = std::make_shared<dist::LocalCommunicator>();
  if (env.distributed()) {
    if (device.is_cuda()) device = torch::Device(torch::kCUDA, (c10::DeviceIndex)env.local_rank);
    torch::set_num_threads(dist::default_threads(env.local_world));
    if (env.rank != 0 && spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
    comm = dist::connect(env, std::chrono::milliseconds((int64_t)(cfg.ddp_timeout_s * 1000)), device);
    spdlog::info("rank {} of {} ({} backend, {} intra-op threads per rank)", env.rank, env.world, comm->backend(),
                 torch::get_num_threads());
    dist::check_same_on_all_ranks(*comm, fnv1a(1469598103934665603ull, resolved.dump()), "ddp",
                                  "the resolved configuration (config file with --set overrides)");
  }
  const bool main_rank = comm->is_main();

  auto tok = tokenizer::Tokenizer::load(cfg.tokenizer_path);
  std::shared_ptr<loss::Loss> loss = loss::make_loss(cfg.loss, "loss");
  auto train = prepare(cfg.train_data, *tok, 0);
  std::optional<data::PreparedData> eval;
  if (!cfg.eval_data.paths.empty()) eval = prepare(cfg.eval_data, *tok, cfg.max_eval_examples);
  validate_inputs(cfg, mc, *loss, train, eval ? &*eval : nullptr, *tok);

  spdlog::info("loading {} ({} on {})", cfg.model_path.string(), short_dtype_name(dtype), device.str());
  auto model = model::load_model(cfg.model_path, dtype, device);
  lora::LoraModel lm;
  if (cfg.adapter_path) {
    lm = lora::load_adapter(model, *cfg.adapter_path, "default", /*trainable=*/true);
    lm.copy_adapter("default", "ref", /*frozen=*/true);
    spdlog::info("continuing from adapter {} (reference: its frozen copy)", cfg.adapter_path->string());
  } else {
    auto lcfg = cfg.lora;
    // PEFT records the Hub id, not the cache path, when the base came from the Hub.
    if (lcfg.base_model_name_or_path.empty())
      lcfg.base_model_name_or_path = cfg.model_repo_id.empty() ? cfg.model_path.string() : cfg.model_repo_id;
    lm = lora::attach_lora(model, lcfg, cfg.trainer.seed);
  }
  spdlog::info("trainable adapter parameters: {}", lm.num_parameters("default"));

  TrainerOptions opts = cfg.trainer;
  opts.comm = comm;
  if (opts.precompute_ref_logps)
    opts.ref_cache_file = cfg.ref_cache_dir / (reference_fingerprint(cfg, train.fingerprint) + ".safetensors");
  Trainer trainer(lm, loss, train, eval ? &*eval : nullptr, opts);
  spdlog::info("{} examples, {} micro-batches per epoch, {} optimizer steps ({} warmup), loss {}",
               train.examples.size(), trainer.batches_per_epoch(), trainer.total_steps(),
               trainer.schedule().warmup_steps, loss->name());
  Progress progress(trainer.total_steps(), main_rank && cfg.trainer.progress_bar && isatty(2));
  trainer.on_step = [&](const TrainerState& s, const std::map<std::string, double>& m) { progress.update(s.global_step, m); };
  const bool dir_existed = fs::exists(cfg.output_dir);
  const bool had_config = fs::exists(cfg.output_dir / "config.json");
  const bool had_metrics = fs::exists(cfg.output_dir / "metrics.jsonl");
  trainer.on_start = [&] {
    if (!main_rank) return;  // rank 0 alone writes into output_dir
    fs::create_directories(cfg.output_dir);
    write_json_file_atomic(cfg.output_dir / "config.json", resolved);
  };
  nlohmann::json summary;
  try {
    summary = trainer.train(resume);
  } catch (...) {
    // A fresh run that fails before its first step leaves nothing behind; a failed resume has
    // written nothing (the checkpoint loads before on_start).
    if (main_rank && !resume && trainer.state().global_step == 0) {
      std::error_code ec;
      if (!dir_existed) {
        fs::remove_all(cfg.output_dir, ec);
      } else {
        if (!had_config) fs::remove(cfg.output_dir / "config.json", ec);
        if (!had_metrics) fs::remove(cfg.output_dir / "metrics.jsonl", ec);
      }
    }
    throw;
  }
  progress.finish();
  summary["rank"] = comm->rank();
  summary["world_size"] = comm->world();
  if (!main_rank) return summary;

  auto records = read_metrics_jsonl(cfg.output_dir / "metrics.jsonl");
  auto plots = write_training_plots(records, cfg.output_dir / "plots");
  nlohmann::json plot_paths = nlohmann::json::array();
  for (auto& p : plots) plot_paths.push_back(fs::relative(p, cfg.output_dir).string());

  nlohmann::json run = {
      {"framework", "prospect"},
      {"base_model", cfg.model_repo_id.empty() ? cfg.model_path.string() : cfg.model_repo_id},
      {"method", cfg.loss_type},
      {"started", started},
      {"finished", now_iso()},
      {"device", device.str()},
      {"dtype", short_dtype_name(dtype)},
      {"config", resolved},
      {"summary",
       {{"total_steps", trainer.total_steps()},
        {"warmup_steps", trainer.schedule().warmup_steps},
        {"examples", train.examples.size()},
        {"pairs", train.pairs.size()},
        {"effective_batch_size",
         cfg.trainer.per_device_train_batch_size * cfg.trainer.gradient_accumulation_steps * comm->world()},
        {"world_size", comm->world()},
        {"trainable_parameters", lm.num_parameters("default")}}},
      {"train_data", nlohmann::json::parse(train.stats.to_json().dump())},
      {"final_metrics", summary["final_metrics"]},
      {"completed", summary["completed"]},
      {"plots", plot_paths},
      {"metrics", "metrics.jsonl"},
  };
  if (!cfg.model_commit.empty()) {
    run["base_model_revision"] = cfg.model_commit;
    run["base_model_path"] = cfg.model_path.string();
  }
  if (auto ds = dataset_revisions(cfg); !ds.empty()) run["datasets"] = ds;
  if (summary.value("completed", false)) run["adapter"] = "adapter";
  write_json_file_atomic(cfg.output_dir / "prospect_run.json", run);
  summary["output_dir"] = cfg.output_dir.string();
  summary["plots"] = plot_paths;
  return summary;
}

}  // namespace prospect::train
