// `prospect bench-train` (hidden; scripts/bench_train.sh): times Enhanced KTO training steps on a
// randomly initialised model (tiny or a real architecture's shapes) and reports tokens/s, peak memory
// (getrusage maxrss) and the share of time in the forward, no-grad (KL + reference), backward and
// optimizer phases.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <iostream>

#include "command.h"
#include "prospect/core/device.h"
#include "prospect/lora/lora.h"
#include "prospect/loss/loss.h"
#include "prospect/model/linear.h"
#include "prospect/model/logprobs.h"
#include "prospect/train/optimizer.h"

namespace {

struct BenchArgs {
  std::string preset = "tiny", dtype = "f32", device = "cpu";
  int64_t batch = 2, seq = 512, prompt = 128, rank = 16, steps = 3, warmup = 1, vocab = 0;
  bool grad_ckpt = false;
};

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_maxrss / 1024.0;
}

int run_bench(const BenchArgs& a) {
  using namespace prospect;
  using clock = std::chrono::steady_clock;
  auto cfg = model::ModelConfig::preset(a.preset);
  if (a.vocab > 0) cfg.vocab_size = a.vocab;
  const auto dev = parse_device(a.device);
  const auto dt = parse_dtype(a.dtype);
  auto m = model::init_model(cfg, 0, dt);
  m->to(dev);
  lora::LoraConfig lc;
  lc.r = a.rank;
  lc.lora_alpha = 2.0 * (double)a.rank;
  lc.lora_dropout = 0.05;
  lc.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  lc.init_lora_weights = lora::LoraInit::LinearDefault;  // non-zero B: a realistic gradient
  auto lm = lora::attach_lora(m, lc, 1);
  auto named = lm.named_parameters();
  train::AdamW opt(named, {});
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : named) params.push_back(p);
  auto loss = loss::make_loss({{"type", "enhanced_kto"}, {"beta", 0.1}});

  torch::manual_seed(0);
  auto lopt = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  auto ids = torch::randint(1, cfg.vocab_size, {a.batch, a.seq}, lopt);
  auto kl_ids = torch::randint(1, cfg.vocab_size, {a.batch, a.seq}, lopt);
  auto attn = torch::ones({a.batch, a.seq}, lopt);
  auto cmask = torch::zeros({a.batch, a.seq}, lopt);
  cmask.narrow(1, a.prompt, a.seq - a.prompt).fill_(1);
  auto labels = torch::arange(a.batch, lopt).remainder(2).eq(0);
  auto pair_ids = torch::arange(a.batch, lopt);

  double t_fwd = 0, t_nograd = 0, t_bwd = 0, t_opt = 0;
  int64_t timed = 0;
  auto sync = [&] {
    if (dev.is_cuda()) torch::cuda::synchronize();
  };
  for (int64_t s = 0; s < a.warmup + a.steps; ++s) {
    sync();
    auto t0 = clock::now();
    loss::LossInputs in;
    {
      torch::NoGradGuard ng;
      lm.set_train(false);
      auto kl = model::sequence_logprobs(m, kl_ids, attn, cmask);
      in.kl_policy_logps = kl.sum, in.kl_lengths = kl.count;
      model::AdaptersDisabled off;
      in.ref_logps = model::sequence_logprobs(m, ids, attn, cmask).sum;
      in.kl_ref_logps = model::sequence_logprobs(m, kl_ids, attn, cmask).sum;
    }
    sync();
    auto t1 = clock::now();
    lm.set_train(true);
    auto pol = model::sequence_logprobs(m, ids, attn, cmask, a.grad_ckpt);
    in.policy_logps = pol.sum, in.lengths = pol.count, in.labels = labels, in.pair_ids = pair_ids;
    auto out = loss->compute(in);
    sync();
    auto t2 = clock::now();
    out.loss.backward();
    sync();
    auto t3 = clock::now();
    train::AdamW::clip_grad_norm(params, 1.0);
    opt.step(1e-4);
    opt.zero_grad();
    sync();
    auto t4 = clock::now();
    auto sec = [](auto x, auto y) { return std::chrono::duration<double>(y - x).count(); };
    spdlog::info("step {}: {:.2f} s (no-grad {:.2f}, forward {:.2f}, backward {:.2f}, optimizer {:.3f})", s,
                 sec(t0, t4), sec(t0, t1), sec(t1, t2), sec(t2, t3), sec(t3, t4));
    if (s < a.warmup) continue;
    t_nograd += sec(t0, t1), t_fwd += sec(t1, t2), t_bwd += sec(t2, t3), t_opt += sec(t3, t4);
    ++timed;
  }
  const double total = t_fwd + t_nograd + t_bwd + t_opt;
  const double step_s = total / (double)std::max<int64_t>(1, timed);
  nlohmann::json r = {{"preset", a.preset},
                      {"parameters", m->num_parameters()},
                      {"adapter_parameters", lm.num_parameters()},
                      {"dtype", a.dtype},
                      {"device", dev.str()},
                      {"threads", torch::get_num_threads()},
                      {"batch", a.batch},
                      {"seq", a.seq},
                      {"rank", a.rank},
                      {"gradient_checkpointing", a.grad_ckpt},
                      {"steps_timed", timed},
                      {"step_seconds", step_s},
                      {"tokens_per_second", (double)(a.batch * a.seq) / step_s},
                      {"peak_rss_mb", peak_rss_mb()},
                      {"share",
                       {{"forward", t_fwd / total},
                        {"no_grad_kl_and_reference", t_nograd / total},
                        {"backward", t_bwd / total},
                        {"optimizer", t_opt / total}}}};
  if (dev.is_cuda()) r["cuda_peak_allocated_mb"] = nullptr;  // not exposed by LibTorch's C++ API in 1.13
  std::cout << r.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  app.group("");  // hidden from --help: a developer tool
  app.add_option("--preset", a->preset, "model shapes: tiny, qwen3-0.6b, ...");
  app.add_option("--vocab-size", a->vocab, "override the vocabulary size");
  app.add_option("--dtype", a->dtype, "base weight dtype (f32, bf16)");
  app.add_option("--device", a->device, "cpu, cuda");
  app.add_option("--batch", a->batch, "sequences per step");
  app.add_option("--seq", a->seq, "tokens per sequence");
  app.add_option("--prompt", a->prompt, "prompt tokens per sequence (not scored)");
  app.add_option("--rank", a->rank, "LoRA rank");
  app.add_option("--steps", a->steps, "timed steps");
  app.add_option("--warmup", a->warmup, "untimed warm-up steps");
  app.add_flag("--gradient-checkpointing", a->grad_ckpt, "recompute layers in backward");
  return [a] { return run_bench(*a); };
}

}  // namespace

PROSPECT_COMMAND("bench-train", "benchmark training steps (tokens/s, peak memory, phase shares)", setup_bench);
