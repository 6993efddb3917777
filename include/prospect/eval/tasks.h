#pragma once
// Task definitions of lm-evaluation-harness, reproduced as pure text processing (no model here):
// each evaluated row becomes an McDoc whose requests are (context, " " + choice), with the context
// built exactly as the harness builds it (description + few-shot examples + doc_to_text).
//
//   hellaswag        Rowan/hellaswag rows {ctx_a, ctx_b, activity_label, endings, label}; process_docs
//                    and preprocess() of lm_eval/tasks/hellaswag/utils.py; few-shot from the train split
//                    (--fewshot-data) drawn with random.Random(seed).sample.
//   truthfulqa_mc1/2 truthful_qa/multiple_choice rows {question, mc1_targets, mc2_targets}; the fixed
//                    6-QA preamble; gold = choice 0; mc2 splits mc2_targets at the first label 0.
//   mmlu             cais/mmlu rows {question, subject, choices, answer}; description per subject,
//                    few-shot = the first k dev rows of the same subject (first_n sampler).
//   multiple_choice  any rows {context, choices, label}; doc_to_text = context.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace prospect::eval {

enum class TaskKind { hellaswag, truthfulqa_mc1, truthfulqa_mc2, mmlu, multiple_choice, preference };

TaskKind parse_task(const std::string& name);  // unknown -> prospect::Error listing the names
std::string task_name(TaskKind kind);
std::vector<std::string> task_names();
// The number of shots used when none is given: the model card's (Open LLM Leaderboard v1) settings.
int64_t default_shots(TaskKind kind);

// One JSONL row with its "file:line".
struct Row {
  nlohmann::json json;
  std::string source;
};
// Reads JSONL (blank lines skipped). Malformed JSON or a non-object -> prospect::Error("file:line").
std::vector<Row> read_jsonl(const std::filesystem::path& path);

// A row after the task's process_docs / doc_to_text / doc_to_choice / doc_to_target.
struct ProcessedDoc {
  std::string text;                  // doc_to_text
  std::vector<std::string> choices;  // doc_to_choice
  int64_t gold = 0;                  // doc_to_target (index into choices)
  std::vector<bool> mc2_true;        // truthfulqa_mc2: labels == 1, in any position (lm-eval >= 0.4.8)
  std::string subject;               // mmlu
  std::string source;                // "file:line"
  const nlohmann::json* raw = nullptr;  // the row (few-shot exclusion compares rows, as the harness)
};
// Validates and processes one row; errors name row.source and the field.
ProcessedDoc process_doc(TaskKind kind, const Row& row);

// One question ready for scoring.
struct McDoc {
  std::string context;               // the full prompt up to the answer
  std::vector<std::string> choices;  // requests are (context, target_delimiter + choice)
  int64_t gold = 0;
  std::vector<bool> mc2_true;
  std::string subject;
  std::string source;
};

struct TaskOptions {
  int64_t num_fewshot = 0;
  uint64_t fewshot_seed = 1234;  // simple_evaluate(fewshot_random_seed=1234)
  int64_t limit = 0;             // 0: all rows (mmlu: per subject, as each subject is its own task)
  // True when the few-shot rows come from the evaluated split itself (no --fewshot-data): the harness
  // then draws k+1 examples and drops the evaluated doc. HellaSwag and TruthfulQA always draw k+1,
  // because their test_split and fewshot_split are both null and compare equal in the harness.
  bool fewshot_same_split = false;
};

constexpr const char* kTargetDelimiter = " ";
constexpr const char* kFewshotDelimiter = "\n\n";
// The fixed QA preamble of truthfulqa_mc1.yaml (6 question/answer pairs), without the trailing "\n\n".
extern const char* const kTruthfulQAPreamble;
// "The following are multiple choice questions (with answers) about {subject with _ -> space}.\n\n"
std::string mmlu_description(const std::string& subject);
// MMLU's category (harness group) of a subject: "stem", "humanities", "social_sciences", "other";
// "" for a subject outside the 57.
std::string mmlu_category(const std::string& subject);

// Builds the evaluated docs with their few-shot contexts. `fewshot` are the few-shot rows (train split
// for hellaswag, dev split for mmlu); may be the evaluated rows themselves. Throws when k shots are
// asked for and fewer few-shot rows exist.
std::vector<McDoc> build_docs(TaskKind kind, const std::vector<Row>& rows, const std::vector<Row>& fewshot,
                              const TaskOptions& opts);

}  // namespace prospect::eval
