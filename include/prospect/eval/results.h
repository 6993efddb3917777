#pragma once
// From per-question log-likelihoods to the task's metrics JSON (pure: no model), the preference
// metrics from sequence log-probs, the model fingerprint, and the stdout table.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "prospect/eval/tasks.h"

namespace prospect::eval {

// The harness's requests of one question: (context, " " + choice) per choice.
std::vector<std::pair<std::string, std::string>> doc_requests(const McDoc& doc);

// Task metrics from lls[i][j] = log-likelihood of choice j of docs[i]:
//   hellaswag, multiple_choice: acc, acc_norm (+ _stderr);  truthfulqa_mc1: acc;
//   truthfulqa_mc2: acc (the harness's name for the normalised true-answer mass);
//   mmlu: acc and acc_stderr as the harness's "mmlu" group (weighted by size: the mean over all
//   questions; stderr pooled over the 4 categories, each pooled over its subjects), acc_macro (the
//   unweighted mean over subjects), and "subjects" / "categories" breakdowns.
// Every task also gets "n" (questions).
nlohmann::json task_results(TaskKind kind, const std::vector<McDoc>& docs, const std::vector<std::vector<double>>& lls);

// Preference pairs: rewards are beta * (log pi_theta - log pi_ref) of the chosen and rejected
// completions (TRL's DPO metrics): reward_accuracy = share of pairs with chosen > rejected (ties
// count as misses, as TRL's ">"), reward_margin = mean(chosen - rejected), rewards_chosen /
// rewards_rejected means, plus stderrs.
nlohmann::json preference_results(const std::vector<double>& policy_chosen, const std::vector<double>& policy_rejected,
                                  const std::vector<double>& ref_chosen, const std::vector<double>& ref_rejected,
                                  double beta);

// Hex FNV-1a 64 over config.json and, per *.safetensors file (sorted), its name, size and header
// (the 8-byte length and the JSON header: names, dtypes, shapes, offsets). Adapter directories hash
// the same way (adapter_config.json, adapter_model.safetensors). Cheap: no tensor data is read.
std::string model_fingerprint(const std::filesystem::path& dir);

// Aligned text table of every scalar metric of results["results"] (task, metric, value, stderr, n).
std::string results_table(const nlohmann::json& results);

}  // namespace prospect::eval
