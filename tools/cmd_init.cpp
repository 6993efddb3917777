// `prospect init`: a randomly initialised model in Hugging Face layout (config.json,
// generation_config.json, model.safetensors), initialised like transformers.
#include <spdlog/spdlog.h>

#include <iostream>

#include "command.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/model/causal_lm.h"

namespace {

struct InitArgs {
  std::string preset, out, dtype = "bf16";
  int64_t vocab_size = 0, layers = 0;
  uint64_t seed = 0;
  bool force = false;
};

int run_init(const InitArgs& a) {
  using namespace prospect;
  auto config = model::ModelConfig::preset(a.preset);
  if (a.vocab_size > 0) config.vocab_size = a.vocab_size;
  if (a.layers > 0) config.num_hidden_layers = a.layers, config.raw["max_window_layers"] = a.layers;
  const auto dt = parse_dtype(a.dtype);
  if (dt != torch::kBFloat16 && dt != torch::kFloat16 && dt != torch::kFloat32)
    throw Error("--dtype", "expected bf16, f16 or f32");
  config.torch_dtype = hf_dtype_name(dt);
  const fs::path out(a.out);
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)) && !a.force)
    throw Error(out.string(), "output exists and is not an empty directory (use --force to replace it)");
  spdlog::info("initialising preset {} (vocab {}, seed {}, {})", a.preset, config.vocab_size, a.seed, a.dtype);
  auto m = model::init_model(config, a.seed, dt);
  AtomicDir dir(out, /*replace=*/true);
  model::save_model(m, dir.path(), dt);
  dir.commit();
  nlohmann::json r = {{"out", out.string()},     {"preset", a.preset},
                      {"model_type", config.model_type}, {"vocab_size", config.vocab_size},
                      {"parameters", m->num_parameters()}, {"dtype", short_dtype_name(dt)},
                      {"seed", a.seed}};
  std::cout << r.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_init(CLI::App& app) {
  auto a = std::make_shared<InitArgs>();
  app.add_option("--preset", a->preset, "architecture preset")
      ->required()
      ->check(CLI::IsMember({"tiny", "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b"}));
  app.add_option("--vocab-size", a->vocab_size, "override the vocabulary size (default: the preset's, 151936)")
      ->check(CLI::PositiveNumber);
  app.add_option("--layers", a->layers, "override the number of decoder layers (shorter benchmarks)")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", a->seed, "initialisation seed (default 0)");
  app.add_option("--dtype", a->dtype, "storage dtype: bf16 (default), f16 or f32")
      ->check(CLI::IsMember({"bf16", "f16", "f32"}));
  app.add_option("--out", a->out, "output directory (Hugging Face layout)")->required();
  app.add_flag("--force", a->force, "replace an existing output directory");
  return [a] { return run_init(*a); };
}

}  // namespace

PROSPECT_COMMAND("init", "create a randomly initialised model (Hugging Face layout) from a preset", setup_init);
