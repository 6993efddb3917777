// `prospect eval`: lm-evaluation-harness-compatible benchmarks (hellaswag, truthfulqa_mc1/2, mmlu,
// multiple_choice) and preference accuracy of a policy against its base, on JSONL exports.
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <iostream>

#include "command.h"
#include "hub_option.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/data/prepare.h"
#include "prospect/eval/preference.h"
#include "prospect/eval/results.h"
#include "prospect/eval/scorer.h"
#include "prospect/eval/tasks.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/config.h"
#include "prospect/tokenizer/tokenizer.h"

namespace prospect::cli {
namespace {

struct EvalArgs {
  std::string model, adapter, task, data, fewshot_data, tokenizer, output, device = "auto", dtype;
  int64_t shots = -1, limit = 0, batch_size = 16, max_length = 0;
  uint64_t seed = 1234;
  double beta = 0.1;
  bool json = false;
};

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

int run_eval(const EvalArgs& a) {
  using nlohmann::json;
  const eval::TaskKind kind = eval::parse_task(a.task);
  const torch::Device device = parse_device(a.device);
  const torch::ScalarType dtype = parse_dtype(!a.dtype.empty() ? a.dtype : device.is_cuda() ? "bf16" : "f32");
  const int64_t shots = a.shots >= 0 ? a.shots : eval::default_shots(kind);
  check(!(kind == eval::TaskKind::preference && a.adapter.empty()), "--adapter",
        "the preference task compares the policy (model + adapter) with the base: give --adapter");

  if (!a.output.empty()) check_output_path(a.output, /*is_directory=*/false, "--output");
  const auto model_config = model::ModelConfig::load(a.model);  // a missing model fails before the data is read
  // Read and validate the data before loading the model, so a bad row fails fast.
  std::vector<eval::Row> rows, fewshot_rows;
  std::vector<eval::McDoc> docs;
  eval::TaskOptions topts;
  if (kind != eval::TaskKind::preference) {
    rows = eval::read_jsonl(a.data);
    if (shots > 0) {
      if (!a.fewshot_data.empty()) {
        fewshot_rows = eval::read_jsonl(a.fewshot_data);
      } else {
        check(kind != eval::TaskKind::hellaswag && kind != eval::TaskKind::mmlu, "--fewshot-data",
              a.task + " draws its " + std::to_string(shots) + " shots from another split (hellaswag: train, " +
                  "mmlu: dev): give --fewshot-data, or --shots 0");
        fewshot_rows = rows;
        topts.fewshot_same_split = true;
      }
    }
    topts.num_fewshot = shots;
    topts.fewshot_seed = a.seed;
    topts.limit = a.limit;
    docs = eval::build_docs(kind, rows, fewshot_rows, topts);
    check(!docs.empty(), a.data, "no rows to evaluate");
  }

  const std::string tok_dir = a.tokenizer.empty() ? a.model : a.tokenizer;
  auto tok = tokenizer::Tokenizer::load(tok_dir);
  // Tokenize everything before the model loads; ids the model cannot embed are one clear error.
  std::vector<data::PairExample> pairs;
  std::vector<eval::TokenRequest> reqs;
  auto check_ids = [&](const std::vector<int64_t>& ids) {
    for (auto id : ids)
      if (id >= model_config.vocab_size)
        throw Error(a.data, "the tokenizer " + tok_dir + " produces token id " + std::to_string(id) +
                                ", outside the vocabulary of the model " + a.model + " (vocab_size " +
                                std::to_string(model_config.vocab_size) + "): tokenizer and model do not match");
  };
  if (kind == eval::TaskKind::preference) {
    data::DataOptions dopts;
    dopts.paths = {a.data};
    dopts.shuffle = false;
    dopts.paired = true;
    auto prepared = data::prepare_data(dopts, *tok);
    check(!prepared.pairs.empty(), a.data, "no preference pairs (rows need prompt/chosen/rejected)");
    pairs = prepared.pairs;
    if (a.limit > 0 && (int64_t)pairs.size() > a.limit) pairs.resize((size_t)a.limit);
    for (const auto& p : pairs) check_ids(p.prompt_ids), check_ids(p.chosen_ids), check_ids(p.rejected_ids);
  } else {
    std::vector<std::pair<std::string, std::string>> texts;
    for (const auto& d : docs)
      for (auto& p : eval::doc_requests(d)) texts.push_back(std::move(p));
    reqs = eval::encode_requests(*tok, texts, eval::prefix_token_id(*tok));
    for (const auto& r : reqs) check_ids(r.context), check_ids(r.continuation);
  }

  spdlog::info("loading {} ({} on {})", a.model, short_dtype_name(dtype), device.str());
  auto model = model::load_model(a.model, dtype, device);
  model->eval();
  if (!a.adapter.empty()) lora::load_adapter(model, a.adapter, "default", false);

  eval::ScoreOptions so;
  so.batch_size = a.batch_size;
  so.max_length = a.max_length;
  const auto t0 = std::chrono::steady_clock::now();
  json task_json;
  if (kind == eval::TaskKind::preference) {
    auto lp = eval::pair_logps(model, pairs, so, a.max_length);
    task_json = eval::preference_results(lp.policy_chosen, lp.policy_rejected, lp.ref_chosen, lp.ref_rejected, a.beta);
  } else {
    spdlog::info("{}: {} questions, {} requests", a.task, docs.size(), reqs.size());
    auto ll = eval::score_requests(model, reqs, so);
    std::vector<std::vector<double>> per_doc;
    size_t k = 0;
    for (const auto& d : docs) {
      per_doc.emplace_back(ll.begin() + (std::ptrdiff_t)k, ll.begin() + (std::ptrdiff_t)(k + d.choices.size()));
      k += d.choices.size();
    }
    task_json = eval::task_results(kind, docs, per_doc);
    task_json["num_fewshot"] = shots;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  json out;
  out["prospect_version"] = "0.1.0";
  out["date"] = now_iso();
  out["model"] = {{"path", a.model}, {"fingerprint", eval::model_fingerprint(a.model)},
                  {"dtype", short_dtype_name(dtype)}, {"device", device.str()}};
  if (!a.adapter.empty()) {
    out["model"]["adapter"] = a.adapter;
    out["model"]["adapter_fingerprint"] = eval::model_fingerprint(a.adapter);
  }
  out["config"] = {{"task", a.task},         {"data", a.data},           {"fewshot_data", a.fewshot_data},
                   {"num_fewshot", shots},   {"fewshot_seed", a.seed},   {"limit", a.limit},
                   {"batch_size", a.batch_size}, {"max_length", a.max_length}, {"tokenizer", tok_dir},
                   {"target_delimiter", eval::kTargetDelimiter}, {"fewshot_delimiter", eval::kFewshotDelimiter},
                   {"seconds", secs}};
  if (kind == eval::TaskKind::preference) out["config"]["beta"] = a.beta;
  out["results"][a.task] = task_json;
  if (!a.output.empty()) {
    if (std::filesystem::path(a.output).has_parent_path())
      std::filesystem::create_directories(std::filesystem::path(a.output).parent_path());
    write_json_file_atomic(a.output, out);
    spdlog::info("results written to {}", a.output);
  }
  if (a.json)
    std::cout << out.dump(2) << std::endl;
  else
    std::cout << eval::results_table(out);
  return 0;
}

RunFn setup_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  app.add_option("--model", a->model, "Hugging Face model directory")->transform(prospect::cli::hub_path())->required();
  app.add_option("--adapter", a->adapter, "LoRA adapter directory (PEFT format) applied to the model")->transform(prospect::cli::hub_path());
  app.add_option("--task", a->task, "hellaswag, truthfulqa_mc1, truthfulqa_mc2, mmlu, multiple_choice, preference")
      ->required();
  app.add_option("--data", a->data, "evaluated rows (JSONL)")->required();
  app.add_option("--fewshot-data", a->fewshot_data, "few-shot rows (hellaswag: train split, mmlu: dev split)");
  app.add_option("--shots", a->shots, "few-shot examples (default: hellaswag 10, mmlu 5, others 0)");
  app.add_option("--limit", a->limit, "evaluate only the first N rows (mmlu: per subject)");
  app.add_option("--batch-size", a->batch_size, "sequences per forward pass");
  app.add_option("--device", a->device, "cpu, cuda, cuda:N or auto");
  app.add_option("--dtype", a->dtype, "f32, bf16, f16 (default: bf16 on CUDA, f32 on CPU)");
  app.add_option("--tokenizer", a->tokenizer, "tokenizer directory (default: --model)")->transform(prospect::cli::hub_path());
  app.add_option("--output", a->output, "write the results JSON here");
  app.add_option("--beta", a->beta, "preference task: reward scale beta");
  app.add_option("--seed", a->seed, "few-shot sampling seed (the harness's fewshot_random_seed)");
  app.add_option("--max-length", a->max_length, "context window (default: the model's max_position_embeddings)");
  app.add_flag("--json", a->json, "print the results JSON instead of the table");
  return [a] { return run_eval(*a); };
}

}  // namespace

PROSPECT_COMMAND("eval", "evaluate a model: lm-evaluation-harness tasks or preference accuracy", setup_eval);

}  // namespace prospect::cli
