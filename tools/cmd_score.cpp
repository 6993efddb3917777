// `prospect score`: per-token log-probs of a sequence under a model (optionally with a LoRA adapter):
// one JSON line {"ids": [...], "logprobs": [null, lp_1, ...]} with lp_i = log p(ids[i] | ids[:i]).
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "command.h"
#include "hub_option.h"
#include "id_list.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/config.h"
#include "prospect/model/logprobs.h"
#include "prospect/tokenizer/tokenizer.h"

namespace {

struct ScoreArgs {
  std::string model, adapter, ids, text, tokenizer, dtype = "f32", device = "cpu";
};

using prospect::cli::parse_id_list;

int run_score(const ScoreArgs& a) {
  using namespace prospect;
  std::vector<int64_t> ids;
  if (!a.ids.empty()) {
    ids = parse_id_list(a.ids);
  } else {
    const std::filesystem::path tdir = a.tokenizer.empty() ? a.model : a.tokenizer;
    auto tok = tokenizer::Tokenizer::load(tdir);
    ids = tok->encode(a.text, /*add_special_tokens=*/false);
  }
  if (ids.empty()) throw Error("score", "nothing to score: the id sequence is empty");
  const auto device = parse_device(a.device);
  const auto dt = parse_dtype(a.dtype);
  const int64_t vocab = model::ModelConfig::load(a.model).vocab_size;  // before the weights load
  for (auto id : ids)
    if (id < 0 || id >= vocab)
      throw Error(a.ids.empty() ? "--text" : "--ids",
                  "token id " + std::to_string(id) + " outside the model's vocabulary [0, " + std::to_string(vocab) +
                      ")" + (a.ids.empty() ? ": the tokenizer does not match the model" : ""));
  auto m = model::load_model(a.model, dt, device);
  if (!a.adapter.empty()) {
    // The adapter is applied without merging: the LoRA branch runs beside the frozen base weights.
    lora::load_adapter(m, a.adapter);
  }
  auto lp = model::token_logprobs(m, torch::tensor(ids, torch::kInt64).unsqueeze(0))[0].to(torch::kCPU);  // [T]
  nlohmann::json out;
  out["ids"] = ids;
  nlohmann::json lps = nlohmann::json::array();
  lps.push_back(nullptr);
  auto acc = lp.accessor<float, 1>();
  for (int64_t t = 1; t < lp.size(0); ++t) lps.push_back((double)acc[t]);
  out["logprobs"] = lps;
  std::cout << out.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_score(CLI::App& app) {
  auto a = std::make_shared<ScoreArgs>();
  app.add_option("--model", a->model, "model directory (Hugging Face layout)")->transform(prospect::cli::hub_path())->required();
  app.add_option("--adapter", a->adapter, "LoRA adapter directory (PEFT layout)")->transform(prospect::cli::hub_path());
  auto* ids = app.add_option("--ids", a->ids, "comma-separated token ids, e.g. 1,2,3");
  auto* text = app.add_option("--text", a->text, "text to tokenize and score");
  ids->excludes(text);
  app.add_option("--tokenizer", a->tokenizer, "tokenizer directory (default: the model directory)")->transform(prospect::cli::hub_path());
  app.add_option("--dtype", a->dtype, "compute dtype: f32 (default), bf16 or f16")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));
  app.add_option("--device", a->device, "cpu (default), cuda, cuda:N or auto");
  return [a, ids, text] {
    if (ids->count() == 0 && text->count() == 0) throw prospect::Error("score", "give --ids or --text");
    return run_score(*a);
  };
}

}  // namespace

PROSPECT_COMMAND("score", "per-token log-probs of a sequence under a model, as one JSON line", setup_score);
