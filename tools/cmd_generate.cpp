// `prospect generate`: greedy (temperature 0) or sampled continuation with the KV cache, stopping at
// the EOS ids of generation_config.json. Prints one JSON line.
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "command.h"
#include "hub_option.h"
#include "id_list.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/generate.h"
#include "prospect/tokenizer/tokenizer.h"

namespace {

struct GenerateArgs {
  std::string model, prompt, ids, tokenizer, dtype = "f32", device = "cpu";
  int64_t max_new_tokens = 0, top_k = 0;
  double temperature = 0.0, top_p = 1.0;
  uint64_t seed = 0;
};

using prospect::cli::parse_id_list;

int run_generate(const GenerateArgs& a, bool have_prompt) {
  using namespace prospect;
  namespace fs = std::filesystem;
  std::shared_ptr<tokenizer::Tokenizer> tok;
  const fs::path tdir = a.tokenizer.empty() ? fs::path(a.model) : fs::path(a.tokenizer);
  std::vector<int64_t> prompt;
  if (have_prompt) {
    tok = tokenizer::Tokenizer::load(tdir);
    prompt = tok->encode(a.prompt, /*add_special_tokens=*/false);
  } else {
    prompt = parse_id_list(a.ids);
    // Decode the output when a tokenizer is at hand; ids alone are enough otherwise.
    if (!a.tokenizer.empty() || fs::exists(tdir / "tokenizer.json") || fs::exists(tdir / "tokenizer.model"))
      tok = tokenizer::Tokenizer::load(tdir);
  }
  if (prompt.empty()) throw Error("generate", "the prompt is empty");
  auto m = model::load_model(a.model, parse_dtype(a.dtype), parse_device(a.device));
  model::GenerateOptions go;
  go.max_new_tokens = a.max_new_tokens;
  go.temperature = a.temperature;
  go.top_k = a.top_k;
  go.top_p = a.top_p;
  go.seed = a.seed;
  go.eos_ids = model::generation_eos_ids(a.model);
  if (m->config().pad_token_id) go.pad_id = *m->config().pad_token_id;
  auto out = model::generate(m, {prompt}, go)[0];
  const bool eos = !out.empty() && std::find(go.eos_ids.begin(), go.eos_ids.end(), out.back()) != go.eos_ids.end();
  nlohmann::json r;
  r["prompt_ids"] = prompt;
  r["ids"] = out;
  if (tok) r["text"] = tok->decode(out, /*skip_special_tokens=*/false);
  r["finish_reason"] = eos ? "eos" : "length";
  std::cout << r.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  app.add_option("--model", a->model, "model directory (Hugging Face layout)")->transform(prospect::cli::hub_path())->required();
  auto* prompt = app.add_option("--prompt", a->prompt, "prompt text (tokenized without special tokens)");
  auto* ids = app.add_option("--ids", a->ids, "prompt as comma-separated token ids");
  prompt->excludes(ids);
  app.add_option("--max-new-tokens", a->max_new_tokens, "number of tokens to generate at most")
      ->required()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--temperature", a->temperature, "0 (default): greedy; > 0: sampling")->check(CLI::NonNegativeNumber);
  app.add_option("--top-k", a->top_k, "keep the k most likely tokens (0: off)")->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", a->top_p, "nucleus sampling mass (1: off)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", a->seed, "sampling seed (default 0)");
  app.add_option("--tokenizer", a->tokenizer, "tokenizer directory (default: the model directory)")->transform(prospect::cli::hub_path());
  app.add_option("--dtype", a->dtype, "compute dtype: f32 (default), bf16 or f16")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));
  app.add_option("--device", a->device, "cpu (default), cuda, cuda:N or auto");
  return [a, prompt, ids] {
    if (prompt->count() == 0 && ids->count() == 0) throw prospect::Error("generate", "give --prompt or --ids");
    return run_generate(*a, prompt->count() > 0);
  };
}

}  // namespace

PROSPECT_COMMAND("generate", "continue a prompt (greedy or sampled) with the KV cache", setup_generate);
