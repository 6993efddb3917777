#include "prospect/eval/model_card.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"

#ifndef PROSPECT_VERSION
#define PROSPECT_VERSION "0.1.0"
#endif

namespace prospect::eval {

using nlohmann::json;

namespace {

// Depth-first search for the first key among `names` (in the order given, then document order).
const json* find_key(const json& j, const std::vector<std::string>& names) {
  if (!j.is_object()) return nullptr;
  for (const auto& n : names)
    if (j.contains(n) && !j.at(n).is_null()) return &j.at(n);
  for (const auto& [k, v] : j.items())
    if (v.is_object())
      if (const json* r = find_key(v, names)) return r;
  return nullptr;
}

json value_of(const json& j, const std::vector<std::string>& names) {
  const json* r = find_key(j, names);
  return r ? *r : json();
}

const json* block(const json& cfg, const std::string& name) {
  if (cfg.contains(name) && cfg.at(name).is_object()) return &cfg.at(name);
  return nullptr;
}

std::string str(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v.get<double>());
    return b;
  }
  if (v.is_array()) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : ", ") + str(e);
    return s;
  }
  return v.dump();
}

// Learning rates read best as the seed card writes them: 2e-4, 5e-7, 1.5e-5.
std::string sci(const nlohmann::json& v) {
  if (!v.is_number_float() || v.get<double>() <= 0 || v.get<double>() >= 0.01) return str(v);
  char b[32];
  std::snprintf(b, sizeof b, "%.6e", v.get<double>());
  std::string m(b), e;
  const auto p = m.find('e');
  e = m.substr(p + 1);
  m = m.substr(0, p);
  while (m.back() == '0') m.pop_back();
  if (m.back() == '.') m.pop_back();
  const int ex = std::stoi(e);
  return m + "e" + std::to_string(ex);
}

std::string fmt3(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

std::string today_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[16];
  std::strftime(b, sizeof b, "%Y-%m-%d", &tm);
  return b;
}

// A YAML scalar: plain when safe, else double-quoted with JSON escapes (valid YAML).
std::string yaml_scalar(const std::string& s) {
  bool plain = !s.empty() && s.find_first_of(":#{}[],&*!|>'\"%@`\n") == std::string::npos && s.front() != '-' &&
               s.front() != '?' && s.front() != ' ' && s.back() != ' ';
  return plain ? s : json(s).dump();
}

std::string slug(std::string s) {
  for (char& c : s) c = (c == '_' || c == ' ') ? '-' : (char)std::tolower((unsigned char)c);
  return s;
}

std::string short_name(const std::string& path) {
  std::string s = path;
  while (!s.empty() && s.back() == '/') s.pop_back();
  auto p = s.find_last_of('/');
  return p == std::string::npos ? s : s.substr(p + 1);
}

// "HuggingFaceH4/ultrafeedback_binarized" is a Hub id; "data/train.jsonl" or "/x/y" are not.
bool looks_like_hub_id(const std::string& s) {
  if (s.empty() || s.front() == '/' || s.front() == '.') return false;
  if (std::count(s.begin(), s.end(), '/') != 1) return false;
  for (const char* ext : {".json", ".jsonl", ".parquet", ".csv", ".txt", ".arrow"})
    if (s.size() > std::strlen(ext) && s.compare(s.size() - std::strlen(ext), std::strlen(ext), ext) == 0) return false;
  return true;
}

// Hub ids of the datasets and base models this project's recipes name by local path.
std::string known_dataset_id(const std::string& s) {
  static const std::vector<std::pair<std::string, std::string>> known = {
      {"ultrafeedback_binarized", "HuggingFaceH4/ultrafeedback_binarized"},
      {"ultrafeedback-binarized", "HuggingFaceH4/ultrafeedback_binarized"}};
  std::string lower = s;
  for (char& c : lower) c = (char)std::tolower((unsigned char)c);
  for (const auto& [k, id] : known)
    if (lower.find(k) != std::string::npos) return id;
  return "";
}

std::string known_model_id(const std::string& path) {
  const std::string n = short_name(path);
  if (n.rfind("Qwen", 0) == 0) return "Qwen/" + n;
  if (n.rfind("Llama-", 0) == 0 || n.rfind("Meta-Llama-", 0) == 0) return "meta-llama/" + n;
  std::error_code ec;
  if (looks_like_hub_id(path) && !std::filesystem::exists(path, ec)) return path;
  return "";
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string render() const {
    std::ostringstream os;
    os << "|";
    for (const auto& h : header) os << " " << h << " |";
    os << "\n|";
    for (size_t i = 0; i < header.size(); ++i) os << "---|";
    os << "\n";
    for (const auto& r : rows) {
      os << "|";
      for (const auto& c : r) os << " " << c << " |";
      os << "\n";
    }
    return os.str();
  }
};

std::string with_stderr(const json& m, const std::string& key) {
  std::string s = fmt3(m.at(key).get<double>());
  const std::string se = key + "_stderr";
  if (m.contains(se) && m.at(se).is_number()) s += " ± " + fmt3(m.at(se).get<double>());
  else if (m.contains(se)) s += " ± N/A";  // undefined (one question), as lm-eval prints it; never 0
  return s;
}

std::string shots_label(const json& m, const std::string& fallback) {
  if (m.contains("num_fewshot") && m.at("num_fewshot").is_number_integer())
    return std::to_string(m.at("num_fewshot").get<int64_t>()) + "-shot";
  return fallback;
}

Table benchmark_table(const std::vector<json>& evals) {
  Table t{{"Benchmark", "Metric", "Value"}, {}};
  for (const json& e : evals) {
    const json& res = e.contains("results") ? e.at("results") : e;
    if (!res.is_object()) continue;
    for (const auto& [task, m] : res.items()) {
      if (!m.is_object()) continue;
      auto has = [&](const char* k) { return m.contains(k) && m.at(k).is_number(); };
      if (task == "hellaswag") {
        const std::string name = "HellaSwag (" + shots_label(m, "10-shot") + ")";
        if (has("acc_norm")) t.rows.push_back({name, "acc_norm", with_stderr(m, "acc_norm")});
        if (has("acc")) t.rows.push_back({name, "acc", with_stderr(m, "acc")});
      } else if (task == "truthfulqa_mc2" && has("acc")) {
        t.rows.push_back({"TruthfulQA MC2 (" + shots_label(m, "0-shot") + ")", "mc2", with_stderr(m, "acc")});
      } else if (task == "truthfulqa_mc1" && has("acc")) {
        t.rows.push_back({"TruthfulQA MC1 (" + shots_label(m, "0-shot") + ")", "acc", with_stderr(m, "acc")});
      } else if (task == "mmlu" && has("acc")) {
        const std::string name = "MMLU (" + shots_label(m, "5-shot") + ")";
        t.rows.push_back({name, "acc", with_stderr(m, "acc")});
        if (has("acc_macro")) t.rows.push_back({name, "acc (macro over subjects)", fmt3(m.at("acc_macro").get<double>())});
      } else if (task == "preference" && has("reward_accuracy")) {
        t.rows.push_back({"Preference pairs", "reward accuracy", with_stderr(m, "reward_accuracy")});
        if (has("reward_margin")) t.rows.push_back({"Preference pairs", "reward margin", with_stderr(m, "reward_margin")});
      } else if (has("acc_norm") || has("acc")) {
        const std::string key = has("acc_norm") ? "acc_norm" : "acc";
        t.rows.push_back({task + " (" + shots_label(m, "0-shot") + ")", key, with_stderr(m, key)});
      }
    }
  }
  return t;
}

std::string onoff(const json& loss, const char* comp, bool dflt) {
  const json* b = loss.is_object() && loss.contains(comp) ? &loss.at(comp) : nullptr;
  bool on = dflt;
  if (b && b->is_object() && b->contains("enabled") && b->at("enabled").is_boolean()) on = b->at("enabled").get<bool>();
  if (b && b->is_boolean()) on = b->get<bool>();
  return on ? "Active" : "Disabled";
}

std::string settings(const json& loss, const char* comp, const std::vector<std::pair<std::string, std::string>>& keys) {
  if (!loss.is_object() || !loss.contains(comp) || !loss.at(comp).is_object()) return "";
  std::string s;
  for (const auto& [k, label] : keys) {
    const json& b = loss.at(comp);
    if (b.contains(k) && !b.at(k).is_null()) s += (s.empty() ? "" : ", ") + label + " = " + str(b.at(k));
  }
  return s;
}

std::string plot_title(const std::string& stem) {
  if (stem == "kl") return "KL";
  if (stem == "lr" || stem == "learning_rate") return "Learning rate";
  std::string s = stem;
  for (char& c : s)
    if (c == '_' || c == '-') c = ' ';
  if (!s.empty()) s[0] = (char)std::toupper((unsigned char)s[0]);
  return s;
}

}  // namespace

std::string method_display_name(const std::string& t) {
  static const std::vector<std::pair<std::string, std::string>> m = {
      {"enhanced_kto", "Enhanced KTO"}, {"kto", "KTO"}, {"dpo", "DPO"}, {"orpo", "ORPO"},
      {"bco", "BCO"}, {"simpo", "SimPO"}, {"sft", "SFT"}, {"cpo", "CPO"}, {"ipo", "IPO"}};
  for (const auto& [k, v] : m)
    if (k == t) return v;
  return t;
}

TrainingSummary summarize_run(const json& run) {
  const json& cfg = run.contains("config") && run.at("config").is_object() ? run.at("config") : run;
  TrainingSummary s;
  const json* loss = block(cfg, "loss");
  if (loss) {
    s.loss = *loss;
    if (loss->contains("type") && loss->at("type").is_string()) s.loss_type = loss->at("type").get<std::string>();
    s.beta = value_of(*loss, {"beta"});
  }
  if (s.loss_type.empty() && run.contains("method") && run.at("method").is_string())
    s.loss_type = run.at("method").get<std::string>();
  s.base_model = run.contains("base_model") ? str(run.at("base_model")) : "";
  if (s.base_model.empty()) {
    const json* model = block(cfg, "model");
    s.base_model = str(model ? value_of(*model, {"name_or_path", "path", "base_model", "model_name_or_path", "name"})
                             : value_of(cfg, {"base_model", "model_name_or_path"}));
  }
  if (run.contains("base_model_revision")) s.base_model_revision = str(run.at("base_model_revision"));
  if (run.contains("datasets") && run.at("datasets").is_array())
    for (const auto& d : run.at("datasets")) {
      if (!d.is_object() || !d.contains("id") || !d.contains("revision")) continue;
      const std::string r = str(d.at("id")) + (d.contains("split") ? ":" + str(d.at("split")) : "") + "@" + str(d.at("revision"));
      s.dataset_revision += (s.dataset_revision.empty() ? "" : ", ") + r;
    }
  const json* lora = block(cfg, "lora");
  if (!lora) lora = block(cfg, "peft");
  if (lora) {
    s.lora = !(lora->contains("enabled") && lora->at("enabled").is_boolean() && !lora->at("enabled").get<bool>());
    s.lora_r = value_of(*lora, {"r", "rank"});
    s.lora_alpha = value_of(*lora, {"lora_alpha", "alpha"});
    s.lora_dropout = value_of(*lora, {"lora_dropout", "dropout"});
    s.target_modules = value_of(*lora, {"target_modules"});
  }
  s.epochs = value_of(cfg, {"num_train_epochs", "epochs", "num_epochs"});
  s.batch_size = value_of(cfg, {"per_device_train_batch_size", "batch_size", "micro_batch_size"});
  s.grad_accum = value_of(cfg, {"gradient_accumulation_steps", "grad_accum", "gradient_accumulation"});
  s.learning_rate = value_of(cfg, {"learning_rate", "lr"});
  s.max_length = value_of(cfg, {"max_length", "max_seq_length"});
  s.max_prompt_length = value_of(cfg, {"max_prompt_length"});
  s.optimizer = value_of(cfg, {"optimizer", "optim"});
  if (s.optimizer.is_object()) s.optimizer = value_of(s.optimizer, {"type", "name"});
  s.scheduler = value_of(cfg, {"lr_scheduler_type", "scheduler", "lr_scheduler"});
  if (s.scheduler.is_object()) s.scheduler = value_of(s.scheduler, {"type", "name"});
  s.warmup = value_of(cfg, {"warmup_ratio", "warmup_steps", "warmup"});
  s.seed = value_of(cfg, {"seed"});
  s.dtype = run.contains("dtype") ? run.at("dtype") : value_of(cfg, {"dtype", "torch_dtype", "precision"});
  json ds = value_of(cfg, {"dataset_name", "dataset", "datasets"});
  if (ds.is_null()) {
    const json* data = block(cfg, "data");
    if (data) ds = value_of(*data, {"dataset_name", "name", "paths", "path", "train", "train_files", "files"});
  }
  if (ds.is_array()) {
    std::string v;
    for (const auto& e : ds) v += (v.empty() ? "" : ", ") + str(e);
    s.dataset = v;
  } else {
    s.dataset = str(ds);
  }
  return s;
}

std::string render_model_card(const CardInputs& in, const std::vector<std::string>& plot_links) {
  const TrainingSummary s = summarize_run(in.run);
  const std::string base = !in.base_model.empty() ? in.base_model : (s.base_model.empty() ? "unknown" : s.base_model);
  const std::string method = !in.method.empty() ? in.method
                             : !s.loss_type.empty() ? method_display_name(s.loss_type) : "Enhanced KTO";
  const std::string name = !in.model_name.empty() ? in.model_name : short_name(base) + "-" + slug(method);
  const std::string date = in.date.empty() ? today_utc() : in.date;
  const std::string framework = in.framework.empty() ? std::string("Prospect ") + PROSPECT_VERSION : in.framework;
  const bool adapter = in.model_type == "LoRA adapter";
  const bool enhanced = s.loss_type == "enhanced_kto" || method == "Enhanced KTO";

  std::vector<std::string> datasets = in.datasets;
  // A hub split "org/name[@rev]:split" names the dataset "org/name".
  const std::string ds_repo = s.dataset.substr(0, std::min(s.dataset.find(':'), s.dataset.find('@')));
  if (datasets.empty() && looks_like_hub_id(ds_repo)) datasets.push_back(ds_repo);
  if (datasets.empty() && !known_dataset_id(s.dataset).empty()) datasets.push_back(known_dataset_id(s.dataset));
  // The front-matter wants a Hub id; a local path of a known model maps to its id.
  const std::string base_id = !in.base_model.empty() ? in.base_model
                              : !known_model_id(base).empty() ? known_model_id(base) : base;

  std::ostringstream os;
  // ---- front-matter ----
  os << "---\n";
  if (!base_id.empty() && base_id != "unknown") os << "base_model: " << yaml_scalar(base_id) << "\n";
  os << "tags:\n- prospect\n";
  if (enhanced) os << "- kto\n- enhanced-kto\n";
  else if (!s.loss_type.empty()) os << "- " << slug(s.loss_type) << "\n";
  if (s.lora || adapter) os << "- lora\n";
  os << "- preference-optimization\n";
  if (!datasets.empty()) {
    os << "datasets:\n";
    for (const auto& d : datasets) os << "- " << yaml_scalar(d) << "\n";
  }
  os << "license: " << yaml_scalar(in.license) << "\n";
  os << "library_name: " << (adapter ? "peft" : "transformers") << "\n";
  os << "pipeline_tag: text-generation\n";
  os << "---\n\n";

  // ---- title and details ----
  os << "# " << name << "\n\n";
  os << short_name(base) << " trained with " << method;
  if (!s.dataset.empty()) os << " on " << s.dataset;
  os << " using " << framework << ".\n\n";
  os << "## Model details\n\n";
  Table details{{"Field", "Value"}, {}};
  details.rows = {{"Base model", base_id}, {"Method", method}, {"Type", in.model_type}, {"Date", date},
                  {"Framework", framework}};
  if (!s.base_model_revision.empty()) details.rows.insert(details.rows.begin() + 1, {"Base model revision", s.base_model_revision});
  os << details.render() << "\n";

  // ---- benchmarks ----
  Table bench = benchmark_table(in.eval_results);
  if (!bench.rows.empty()) {
    os << "## Benchmark results\n\n";
    os << "Computed with `prospect eval` (lm-evaluation-harness task definitions; value ± standard error).\n\n";
    os << bench.render() << "\n";
  }

  // ---- Enhanced KTO components ----
  if (enhanced) {
    // Show the effective settings: the defaults of enhanced_kto.md (the loss module's defaults)
    // overlaid with what the run's config set.
    json loss = {{"value_function", {{"enabled", true}, {"alpha_gain", 0.88}, {"alpha_loss", 0.88}, {"lambda", 2.25},
                                     {"eps", 0.01}}},
                 {"probability_weighting", {{"enabled", true}, {"form", "tversky_kahneman"}, {"gamma", 0.61}}},
                 {"odds_ratio", {{"enabled", true}, {"weight", 0.1}}},
                 {"bco_shift", {{"enabled", false}, {"start_step", 0}, {"ramp_steps", 0}}}};
    if (s.loss.is_object()) {
      const json pw = s.loss.value("probability_weighting", json::object());
      if (pw.is_object() && pw.value("form", "") == "prelec" && !pw.contains("gamma"))
        loss["probability_weighting"]["gamma"] = 0.65;
      loss.merge_patch(s.loss);
    }
    os << "## Enhanced KTO components\n\n";
    Table comp{{"Component", "Status", "Settings"}, {}};
    comp.rows.push_back({"Value function", onoff(loss, "value_function", true),
                         settings(loss, "value_function",
                                  {{"alpha_gain", "α gain"}, {"alpha_loss", "α loss"}, {"lambda", "λ"}, {"eps", "ε"}})});
    comp.rows.push_back({"Probability weighting", onoff(loss, "probability_weighting", true),
                         settings(loss, "probability_weighting", {{"form", "form"}, {"gamma", "γ"}})});
    comp.rows.push_back({"Odds ratio", onoff(loss, "odds_ratio", true), settings(loss, "odds_ratio", {{"weight", "μ"}})});
    const std::string bco = onoff(loss, "bco_shift", false);
    comp.rows.push_back({"BCO shift", bco == "Disabled" ? "Disabled (implemented)" : bco,
                         settings(loss, "bco_shift", {{"start_step", "start step"}, {"ramp_steps", "ramp steps"},
                                                      {"momentum", "momentum"}})});
    os << comp.render() << "\n";
    if (bco == "Disabled")
      os << "> **Note on the BCO shift.** It is implemented but was disabled for this run. The original Enhanced "
            "KTO report observed that enabling it destabilised about 40% of its runs; this run did not test that. "
            "A staged start (`bco_shift.start_step` / `ramp_steps`) or per-component gradient clipping "
            "(`component_grad_clip`) are the cures that report suggests.\n\n";
  }

  // ---- training configuration ----
  Table tc{{"Parameter", "Value"}, {}};
  auto add = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) tc.rows.push_back({k, v});
  };
  add("Epochs", str(s.epochs));
  if (!s.batch_size.is_null() && !s.grad_accum.is_null())
    add("Batch size × gradient accumulation", str(s.batch_size) + " × " + str(s.grad_accum));
  else
    add("Batch size", str(s.batch_size));
  add("Learning rate", sci(s.learning_rate));
  add("Max length", str(s.max_length));
  add("Max prompt length", str(s.max_prompt_length));
  if (s.lora) {
    if (!s.lora_r.is_null() || !s.lora_alpha.is_null()) add("LoRA r / α", str(s.lora_r) + " / " + str(s.lora_alpha));
    add("LoRA dropout", str(s.lora_dropout));
    add("LoRA target modules", str(s.target_modules));
  }
  const std::string ds_id = known_dataset_id(s.dataset);
  add("Dataset", !ds_id.empty() && ds_id != s.dataset && s.dataset.rfind(ds_id, 0) != 0 ? ds_id + " (" + s.dataset + ")"
                                                                                        : s.dataset);
  add("Dataset revision", s.dataset_revision);
  add("β", str(s.beta));
  add("Loss", s.loss_type);
  add("Optimizer", str(s.optimizer));
  add("LR scheduler", str(s.scheduler));
  add("Warmup", str(s.warmup));
  add("Precision", str(s.dtype));
  add("Seed", str(s.seed));
  if (!tc.rows.empty()) os << "## Training configuration\n\n" << tc.render() << "\n";

  // ---- plots ----
  if (!plot_links.empty()) {
    os << "## Training plots\n\n";
    for (const auto& p : plot_links) {
      const std::string stem = std::filesystem::path(p).stem().string();
      os << "### " << plot_title(stem) << "\n\n![" << plot_title(stem) << "](" << p << ")\n\n";
    }
  }

  // ---- usage ----
  const std::string id = in.usage_model_id.empty() ? name : in.usage_model_id;
  os << "## Usage\n\n```python\n";
  if (adapter) {
    os << "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer\n\n"
       << "model_id = " << json(id).dump() << "\n"
       << "model = AutoPeftModelForCausalLM.from_pretrained(model_id, torch_dtype=\"auto\", device_map=\"auto\")\n"
       << "tokenizer = AutoTokenizer.from_pretrained(" << json(base).dump() << ")\n";
  } else {
    os << "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
       << "model_id = " << json(id).dump() << "\n"
       << "tokenizer = AutoTokenizer.from_pretrained(model_id)\n"
       << "model = AutoModelForCausalLM.from_pretrained(model_id, torch_dtype=\"auto\", device_map=\"auto\")\n";
  }
  os << "\nmessages = [{\"role\": \"user\", \"content\": \"Give me a short introduction to large language models.\"}]\n"
     << "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\").to(model.device)\n"
     << "outputs = model.generate(inputs, max_new_tokens=256)\n"
     << "print(tokenizer.decode(outputs[0][inputs.shape[-1]:], skip_special_tokens=True))\n```\n\n";
  os << "## Framework\n\nTrained and evaluated with " << framework << " (C++/LibTorch).\n";
  return os.str();
}

std::filesystem::path write_model_card(const std::filesystem::path& out_dir, const CardInputs& in) {
  namespace fs = std::filesystem;
  fs::create_directories(out_dir);
  std::vector<std::string> links;
  if (!in.plots.empty()) fs::create_directories(out_dir / "plots");
  for (const auto& p : in.plots) {
    if (!fs::is_regular_file(p)) throw Error(p.string(), "plot file not found");
    const fs::path dst = out_dir / "plots" / p.filename();
    std::error_code ec;
    if (!fs::exists(dst) || !fs::equivalent(p, dst, ec)) write_text_file_atomic(dst, read_text_file(p));
    links.push_back("plots/" + p.filename().string());
  }
  const fs::path readme = out_dir / "README.md";
  write_text_file_atomic(readme, render_model_card(in, links));
  return readme;
}

}  // namespace prospect::eval
