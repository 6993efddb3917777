// `prospect bench-train` (hidden; scripts/bench_train.sh): times Enhanced KTO training steps on a
// randomly initialised model (tiny or a real architecture's shapes) and reports tokens/s, peak memory
// (getrusage maxrss) and the share of time in the forward, no-grad (KL + reference), backward and
// optimizer phases.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "command.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/lora/lora.h"
#include "prospect/loss/loss.h"
#include "prospect/model/linear.h"
#include "prospect/model/logprobs.h"
#include "prospect/model/shared_prefix.h"
#include "prospect/train/optimizer.h"

namespace {

struct BenchArgs {
  std::string preset = "tiny", dtype = "f32", device = "cpu", loss = "enhanced_kto";
  int64_t batch = 2, seq = 512, prompt = 128, rank = 16, steps = 3, warmup = 1, vocab = 0, layers = 0, head_dim = 0;
  double lora_dropout = 0.0;
  bool grad_ckpt = false, share = true, precomputed_ref = false, gemm_only = false;
};

struct Usage {
  double user = 0, sys = 0;
  int64_t minor_faults = 0;
};

Usage usage_now() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return (double)t.tv_sec + 1e-6 * (double)t.tv_usec; };
  return {sec(u.ru_utime), sec(u.ru_stime), (int64_t)u.ru_minflt};
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_maxrss / 1024.0;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// fp32 2048^3 matmul rate (GFLOP/s), median of 5 after a warm-up: the same probe as the Python
// baseline's --gemm-only, so "fraction of GEMM peak" means the same on both sides.
double gemm_gflops(int64_t n = 2048, int reps = 5) {
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  auto a = torch::randn({n, n}, gen, torch::kFloat32), b = torch::randn({n, n}, gen, torch::kFloat32);
  auto c = torch::mm(a, b);
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * (double)n * (double)n * (double)n / median(ts) / 1e9;
}

// Matmul FLOPs of one step as executed here (the Python baseline's step_flops conventions: linear
// layers, LoRA, attention scores over all query x key pairs, LM head; elementwise work not counted).
struct FlopModel {
  double N = 0, NL = 0, qkv0 = 0, qkv0_lora_in = 0, attn_unit = 0, head_unit = 0;  // per token / per pair / per row
  FlopModel(const prospect::model::ModelConfig& c, int64_t r) {
    const double E = (double)c.hidden_size, F = (double)c.intermediate_size, HD = (double)(c.num_attention_heads * c.head_dim),
                 KD = (double)(c.num_key_value_heads * c.head_dim), L = (double)c.num_hidden_layers;
    const std::vector<std::pair<double, double>> io = {{E, HD}, {E, KD}, {E, KD}, {HD, E}, {E, F}, {E, F}, {F, E}};
    for (size_t i = 0; i < io.size(); ++i) {
      N += L * io[i].first * io[i].second;
      NL += L * (double)r * (io[i].first + io[i].second);
      if (i < 3) qkv0 += io[i].first * io[i].second, qkv0_lora_in += (double)r * io[i].first;
    }
    attn_unit = 4.0 * L * HD;  // per (query, key) pair
    head_unit = 2.0 * E * (double)c.vocab_size;  // per scored row
  }
  // A forward over n tokens with `pairs` attention (query, key) pairs and `rows` head rows.
  double forward(double n, double pairs, double rows, bool lora) const {
    return 2 * (N + (lora ? NL : 0)) * n + attn_unit * pairs + head_unit * rows;
  }
  // Backward of the grad pass (frozen weights: input grads only; the head's input gradient is the
  // eager product counted once), plus the recomputation under checkpointing.
  double backward(double n, double pairs, double rows, bool ckpt) const {
    double b = 2 * (N - qkv0) * n + head_unit * rows + 2 * attn_unit * pairs + 4 * NL * n - 2 * qkv0_lora_in * n;
    if (ckpt) b += 2 * (N + NL) * n + attn_unit * pairs;
    return b;
  }
};

int run_bench(const BenchArgs& a) {
  using namespace prospect;
  using clock = std::chrono::steady_clock;
  if (a.gemm_only) {
    std::cout << nlohmann::json{{"gemm_gflops_2048", gemm_gflops()}, {"threads", torch::get_num_threads()}}.dump()
              << std::endl;
    return 0;
  }
  check(a.batch >= 2, "bench-train", "--batch must be >= 2 (the KL rows borrow another row's completion)");
  check(a.prompt >= 1 && a.prompt < a.seq, "bench-train", "--prompt must be in [1, seq)");
  auto cfg = model::ModelConfig::preset(a.preset);
  if (a.vocab > 0) cfg.vocab_size = a.vocab;
  if (a.layers > 0) cfg.num_hidden_layers = a.layers;
  if (a.head_dim > 0) cfg.head_dim = a.head_dim;
  const auto dev = parse_device(a.device);
  const auto dt = parse_dtype(a.dtype);
  auto m = model::init_model(cfg, 0, dt);
  m->to(dev);
  lora::LoraConfig lc;
  lc.r = a.rank;
  lc.lora_alpha = 2.0 * (double)a.rank;
  lc.lora_dropout = a.lora_dropout;
  lc.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  lc.init_lora_weights = lora::LoraInit::LinearDefault;  // non-zero B: a realistic gradient
  auto lm = lora::attach_lora(m, lc, 1);
  auto named = lm.named_parameters();
  train::AdamW opt(named, {});
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : named) params.push_back(p);
  auto loss = loss::make_loss({{"type", a.loss}, {"beta", 0.1}});

  // As the Python baseline: random prompt + completion, no padding; KL row i = prompt i with the
  // completion of row i-1 (TRL's rotation), so both rows of i share the prompt.
  torch::manual_seed(0);
  auto lopt = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  const int64_t B = a.batch, T = a.seq, Pn = a.prompt, C = T - Pn;
  auto prompts = torch::randint(1, cfg.vocab_size, {B, Pn}, lopt);
  auto comps = torch::randint(1, cfg.vocab_size, {B, C}, lopt);
  auto ids = torch::cat({prompts, comps}, 1);
  auto kl_ids = torch::cat({prompts, comps.roll(1, 0)}, 1);
  auto attn = torch::ones({B, T}, lopt);
  auto cmask = torch::zeros({B, T}, lopt);
  cmask.narrow(1, Pn, C).fill_(1);
  auto labels = torch::arange(B, lopt).remainder(2).eq(0);
  auto pair_ids = torch::arange(B, lopt);
  const bool share_kl = a.share && a.lora_dropout == 0.0;

  auto reference = [&] {
    torch::NoGradGuard ng;
    model::AdaptersDisabled off;
    if (a.share) {
      auto [r, k] = model::shared_prefix_logprobs(m, ids, attn, cmask, kl_ids, attn, cmask);
      return std::make_pair(r.sum, k.sum);
    }
    return std::make_pair(model::sequence_logprobs(m, ids, attn, cmask).sum,
                          model::sequence_logprobs(m, kl_ids, attn, cmask).sum);
  };
  std::pair<torch::Tensor, torch::Tensor> cached_ref;
  if (a.precomputed_ref) cached_ref = reference();  // precompute_ref_logps: outside the step

  std::vector<double> step_s, t_nograd, t_fwd, t_bwd, t_opt;
  Usage u0;
  auto sync = [&] {
    if (dev.is_cuda()) torch::cuda::synchronize();
  };
  auto sec = [](auto x, auto y) { return std::chrono::duration<double>(y - x).count(); };
  for (int64_t s = 0; s < a.warmup + a.steps; ++s) {
    if (s == a.warmup) u0 = usage_now();
    sync();
    loss::LossInputs in;
    double nograd = 0;
    auto t0 = clock::now();
    auto kl_plain = [&] {
      torch::NoGradGuard ng;
      lm.set_train(false);
      auto kl = model::sequence_logprobs(m, kl_ids, attn, cmask);
      in.kl_policy_logps = kl.sum, in.kl_lengths = kl.count;
    };
    if (!share_kl) kl_plain();
    sync();
    auto t1 = clock::now();
    nograd += sec(t0, t1);
    lm.set_train(true);
    model::SharedPrefix prompt;
    if (share_kl) prompt.lengths = model::common_prefix_lengths(ids, attn, kl_ids, attn);
    auto pol = model::sequence_logprobs(m, ids, attn, cmask, a.grad_ckpt, share_kl ? &prompt : nullptr);
    sync();
    auto t2 = clock::now();
    if (share_kl) {
      torch::NoGradGuard ng;
      lm.set_train(false);
      auto kl = model::continuation_logprobs(m, prompt, kl_ids, attn, cmask);
      in.kl_policy_logps = kl.sum, in.kl_lengths = kl.count;
    }
    prompt = {};
    auto [ref, kl_ref] = a.precomputed_ref ? cached_ref : reference();
    in.ref_logps = ref, in.kl_ref_logps = kl_ref;
    sync();
    auto t3 = clock::now();
    nograd += sec(t2, t3);
    in.policy_logps = pol.sum, in.lengths = pol.count, in.labels = labels, in.pair_ids = pair_ids;
    auto out = loss->compute(in);
    out.loss.backward();
    sync();
    auto t4 = clock::now();
    train::AdamW::clip_grad_norm(params, 1.0);
    opt.step(1e-4);
    opt.zero_grad();
    sync();
    auto t5 = clock::now();
    spdlog::info("step {}: {:.3f} s (no-grad {:.3f}, forward {:.3f}, backward {:.3f}, optimizer {:.3f})", s,
                 sec(t0, t5), nograd, sec(t1, t2), sec(t3, t4), sec(t4, t5));
    if (s < a.warmup) continue;
    step_s.push_back(sec(t0, t5)), t_nograd.push_back(nograd), t_fwd.push_back(sec(t1, t2));
    t_bwd.push_back(sec(t3, t4)), t_opt.push_back(sec(t4, t5));
  }
  const Usage u1 = usage_now();
  const double peak = peak_rss_mb();  // before the GEMM probe
  const double n_steps = (double)std::max<size_t>(1, step_s.size());
  const double med = median(step_s);

  // FLOPs of the passes run above (B rows each).
  FlopModel fm(cfg, a.rank);
  const double b = (double)B, full_pairs = b * (double)T * (double)T, rows = b * (double)(C);
  const double cont_pairs = b * (double)C * (double)(T);  // C queries over prompt + C keys
  double flops = fm.forward(b * T, full_pairs, rows, true) + fm.backward(b * T, full_pairs, rows, a.grad_ckpt);
  flops += share_kl ? fm.forward(b * C, cont_pairs, rows, true) : fm.forward(b * T, full_pairs, rows, true);
  if (!a.precomputed_ref)
    flops += a.share ? fm.forward(b * Pn, b * Pn * Pn, 0, false) + 2 * fm.forward(b * C, cont_pairs, rows, false)
                     : 2 * fm.forward(b * T, full_pairs, rows, false);
  const double gemm = gemm_gflops();
  nlohmann::json r = {{"preset", a.preset},
                      {"layers", cfg.num_hidden_layers},
                      {"parameters", m->num_parameters()},
                      {"adapter_parameters", lm.num_parameters()},
                      {"dtype", a.dtype},
                      {"device", dev.str()},
                      {"threads", torch::get_num_threads()},
                      {"loss", a.loss},
                      {"batch", B},
                      {"seq", T},
                      {"prompt_len", Pn},
                      {"rank", a.rank},
                      {"lora_dropout", a.lora_dropout},
                      {"gradient_checkpointing", a.grad_ckpt},
                      {"share_prompt_prefix", a.share},
                      {"precomputed_ref", a.precomputed_ref},
                      {"steps_timed", step_s.size()},
                      {"step_s_all", step_s},
                      {"step_seconds", med},
                      {"tokens_per_second", (double)(B * T) / med},
                      {"peak_rss_mb", peak},
                      {"cpu_s_per_step",
                       {{"user", (u1.user - u0.user) / n_steps},
                        {"sys", (u1.sys - u0.sys) / n_steps},
                        {"minor_faults", (double)(u1.minor_faults - u0.minor_faults) / n_steps}}},
                      {"phase_s_median",
                       {{"no_grad_kl_and_reference", median(t_nograd)},
                        {"forward", median(t_fwd)},
                        {"backward", median(t_bwd)},
                        {"optimizer", median(t_opt)}}},
                      {"flops_per_step", flops},
                      {"achieved_gflops", flops / med / 1e9},
                      {"gemm_gflops_2048", gemm},
                      {"fraction_of_gemm_peak", flops / med / 1e9 / gemm}};
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
  app.add_option("--layers", a->layers, "override the number of decoder layers (quick profiles)");
  app.add_option("--head-dim", a->head_dim, "override the head dimension (the Python baseline's tiny has 32)");
  app.add_option("--loss", a->loss, "loss type (a KTO-family loss: the step has KL rows)");
  app.add_option("--lora-dropout", a->lora_dropout, "LoRA dropout (0: TRL's disable_dropout default)");
  app.add_flag("--share-prompt-prefix,!--no-share-prompt-prefix", a->share,
               "compute each prompt once for the target and KL rows (default on)");
  app.add_flag("--precomputed-ref", a->precomputed_ref, "reference log-probs computed before the steps");
  app.add_flag("--gemm-only", a->gemm_only, "print the fp32 2048^3 GEMM rate and exit");
  return [a] { return run_bench(*a); };
}

}  // namespace

PROSPECT_COMMAND("bench-train", "benchmark training steps (tokens/s, peak memory, phase shares)", setup_bench);
