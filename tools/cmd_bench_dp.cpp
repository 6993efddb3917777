// `prospect bench-dp` (hidden; scripts/bench_dp.sh): data-parallel costs. Run alone it is one
// process; under `prospect launch` / torchrun each rank joins the job. Reports the all-reduce
// bandwidth of the backend (float32 buffers of 1 to 64 MiB) and the time of an Enhanced KTO training
// step whose GLOBAL micro-batch (--batch) is split over the ranks, with the share of the step spent
// communicating (the gathered loss inputs and the bucketed gradient all-reduce).
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

#include "command.h"
#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/dist/env.h"
#include "prospect/dist/global_batch.h"
#include "prospect/dist/grad_sync.h"
#include "prospect/dist/process_group.h"
#include "prospect/lora/lora.h"
#include "prospect/loss/loss.h"
#include "prospect/model/linear.h"
#include "prospect/model/logprobs.h"
#include "prospect/train/optimizer.h"

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

struct BenchArgs {
  std::string preset = "tiny", device = "cpu";
  int64_t batch = 4, seq = 256, prompt = 64, rank = 16, steps = 3, warmup = 1;
  bool allreduce_only = false;
};

nlohmann::json bench_allreduce(prospect::dist::Communicator& comm, const torch::Device& dev) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t mib : {1, 4, 16, 64}) {
    auto t = torch::ones({mib * (1 << 20) / 4}, torch::TensorOptions().dtype(torch::kFloat32).device(dev));
    comm.all_reduce_sum(t);  // warm-up (connection buffers)
    const int reps = mib >= 16 ? 3 : 10;
    comm.barrier();
    auto t0 = clock_type::now();
    for (int i = 0; i < reps; ++i) comm.all_reduce_sum(t);
    t.sum().item<float>();  // CUDA collectives are asynchronous
    const double s = since(t0) / reps;
    const double bytes = (double)mib * (1 << 20);
    const int w = comm.world();
    // nccl-tests' convention: algbw = size / time; busbw = algbw * 2 (w - 1) / w (ring traffic).
    out.push_back({{"mib", mib},
                   {"seconds", s},
                   {"algbw_gb_per_s", bytes / s / 1e9},
                   {"busbw_gb_per_s", bytes / s / 1e9 * 2.0 * (w - 1) / w}});
  }
  return out;
}

int run_bench(const BenchArgs& a) {
  using namespace prospect;
  const auto env = dist::read_env();
  auto dev = parse_device(a.device);
  if (dev.is_cuda() && env.distributed()) dev = torch::Device(torch::kCUDA, (c10::DeviceIndex)env.local_rank);
  std::shared_ptr<dist::Communicator> comm = std::make_shared<dist::LocalCommunicator>();
  if (env.distributed()) {
    torch::set_num_threads(dist::default_threads(env.local_world));
    comm = dist::connect(env, std::chrono::milliseconds(300000), dev);
  }
  nlohmann::json r = {{"world_size", comm->world()}, {"backend", comm->backend()}, {"threads_per_rank", torch::get_num_threads()}};
  if (comm->world() > 1) r["allreduce"] = bench_allreduce(*comm, dev);
  if (a.allreduce_only) {
    if (comm->is_main()) std::cout << r.dump() << std::endl;
    return 0;
  }
  check(a.batch % comm->world() == 0, "bench-dp --batch", "the global batch must be a multiple of the world size");
  const int64_t local = a.batch / comm->world();
  auto cfg = model::ModelConfig::preset(a.preset);
  auto m = model::init_model(cfg, 0, torch::kFloat32);
  m->to(dev);
  lora::LoraConfig lc;
  lc.r = a.rank;
  lc.lora_alpha = 2.0 * (double)a.rank;
  lc.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  lc.init_lora_weights = lora::LoraInit::LinearDefault;
  auto lm = lora::attach_lora(m, lc, 1);
  auto named = lm.named_parameters();
  train::AdamW opt(named, {});
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : named) params.push_back(p);
  auto loss = loss::make_loss({{"type", "enhanced_kto"}, {"beta", 0.1}});

  // The global micro-batch, identical on every rank; each takes its slice.
  torch::manual_seed(0);
  auto lopt = torch::TensorOptions().dtype(torch::kInt64);
  auto slice = [&](const torch::Tensor& t) { return t.narrow(0, comm->rank() * local, local).to(dev); };
  auto ids = slice(torch::randint(1, cfg.vocab_size, {a.batch, a.seq}, lopt));
  auto kl_ids = slice(torch::randint(1, cfg.vocab_size, {a.batch, a.seq}, lopt));
  auto attn = torch::ones({local, a.seq}, lopt.device(dev));
  auto cmask = torch::zeros({local, a.seq}, lopt.device(dev));
  cmask.narrow(1, a.prompt, a.seq - a.prompt).fill_(1);
  auto labels = slice(torch::arange(a.batch, lopt).remainder(2).eq(0));
  auto pair_ids = slice(torch::arange(a.batch, lopt).div(2, "floor"));

  double t_step = 0, t_comm = 0;
  int64_t timed = 0;
  for (int64_t s = 0; s < a.warmup + a.steps; ++s) {
    comm->barrier();
    auto t0 = clock_type::now();
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
    lm.set_train(true);
    auto pol = model::sequence_logprobs(m, ids, attn, cmask);
    in.policy_logps = pol.sum, in.lengths = pol.count, in.labels = labels, in.pair_ids = pair_ids;
    auto tc = clock_type::now();
    auto gathered = dist::gather_loss_inputs(*comm, in);
    double comm_s = since(tc);
    auto out = loss->compute(gathered);
    out.loss.backward();
    tc = clock_type::now();
    dist::all_reduce_gradients(*comm, params);
    comm_s += since(tc);
    train::AdamW::clip_grad_norm(params, 1.0);
    opt.step(1e-4);
    opt.zero_grad();
    if (dev.is_cuda()) torch::cuda::synchronize();
    const double step_s = since(t0);
    spdlog::info("rank {} step {}: {:.3f} s, communication {:.3f} s", comm->rank(), s, step_s, comm_s);
    if (s < a.warmup) continue;
    t_step += step_s, t_comm += comm_s, ++timed;
  }
  // The job's step is as slow as its slowest rank.
  auto worst = torch::tensor({t_step, t_comm}, torch::kFloat64);
  auto all = comm->all_gather(worst);
  const double step = all.select(1, 0).max().item<double>() / (double)timed;
  const double comm_time = all.select(1, 1).max().item<double>() / (double)timed;
  r["preset"] = a.preset;
  r["global_batch"] = a.batch;
  r["seq"] = a.seq;
  r["step_seconds"] = step;
  r["comm_seconds"] = comm_time;
  r["comm_share"] = comm_time / step;
  r["tokens_per_second"] = (double)(a.batch * a.seq) / step;
  r["adapter_parameters"] = lm.num_parameters();
  if (comm->is_main()) std::cout << r.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  app.group("");  // hidden from --help: a developer tool
  app.add_option("--preset", a->preset, "model shapes: tiny, qwen3-0.6b, ...");
  app.add_option("--device", a->device, "cpu (Gloo) or cuda (NCCL when built with it; cuda:LOCAL_RANK per rank)");
  app.add_option("--batch", a->batch, "GLOBAL sequences per step (split over the ranks)");
  app.add_option("--seq", a->seq, "tokens per sequence");
  app.add_option("--prompt", a->prompt, "prompt tokens per sequence");
  app.add_option("--rank", a->rank, "LoRA rank");
  app.add_option("--steps", a->steps, "timed steps");
  app.add_option("--warmup", a->warmup, "untimed steps first");
  app.add_flag("--allreduce-only", a->allreduce_only, "only the all-reduce bandwidth");
  return [a] { return run_bench(*a); };
}

}  // namespace

PROSPECT_COMMAND("bench-dp", "data-parallel benchmark (all-reduce bandwidth, step time and communication share)",
                 setup_bench);
