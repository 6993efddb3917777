"""GPU baseline for issue 14: the LoRA-KTO step a user runs today with transformers + PEFT (+ TRL's order).

Run ON THE GPU MACHINE (its Python has torch, transformers, peft). The model is transformers'
`Qwen3ForCausalLM` built from a Qwen3-0.6B config with random weights (no hub access), bf16, SDPA
attention, PEFT LoRA (r 16, alpha 32, all linear layers, fp32 adapter weights as PEFT's autocast
default keeps them), AdamW on the LoRA parameters. One optimizer step = `--accum` micro-batches of
TRL KTOTrainer's order (as ../../shared/bench/kto_step_bench.py defines it):
  1. KL pass (policy, no grad) on (x_i, y_{i-1 mod B})   2. policy forward with grad on (x_i, y_i)
  3. reference passes with the adapter disabled (KL, then target), no grad
  4. KTO loss (beta 0.1, z0 = clamp(mean KL, 0), detached)   5. backward
then clip_grad_norm_(1.0) + AdamW + zero_grad. TRL computes log-probs from full [B, T, V] logits,
as here. Gradient checkpointing follows --grad-ckpt (TRL >= 1.x defaults it on).

    python3 hf_kto_step_bench.py --batch 2 --seq 512 --accum 8 --steps 3 --grad-ckpt
    python3 hf_kto_step_bench.py --batch 32 --seq 512 --accum 1 --steps 5   # 16k tokens / micro-batch

Output: one JSON line (tokens/s, step time, MFU by the formula below, peak CUDA memory from the
caching allocator). FLOPs counted (the convention of the PaLM/Chinchilla MFU, extended to this step):
  policy fwd+bwd: 6 * N_path * tokens  (N_path = frozen linear + LoRA + LM head parameters on the path;
                  the frozen weights get input gradients only, so this is an upper bound by 2*N_frozen*n,
                  stated as such: we count "useful" FLOPs the same way on both sides)
  no-grad passes: 2 * N_path * tokens each (KL policy, KL reference, target reference)
  attention:      4 * L * T * H * D per token per forward, x3 for a grad pass (fwd + 2x bwd)
  grad ckpt:      not counted (recomputation is overhead, not useful work)
"""
import argparse, json, math, statistics, sys, time

import torch


def build(args):
    from transformers import Qwen3Config, Qwen3ForCausalLM
    from peft import LoraConfig, get_peft_model
    cfg = Qwen3Config(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                      num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                      rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                      attn_implementation="sdpa", torch_dtype=torch.bfloat16)
    torch.manual_seed(args.seed)
    model = Qwen3ForCausalLM(cfg).to(device="cuda", dtype=torch.bfloat16)
    if args.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lcfg = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0, bias="none",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                      task_type="CAUSAL_LM")
    model = get_peft_model(model, lcfg, autocast_adapter_dtype=True)
    model.config.use_cache = False
    return model, cfg


def completion_logps(logits, ids, cmask):
    # TRL: logits[:, :-1] predict ids[:, 1:]; selective log-softmax in fp32 row chunks.
    lg = logits[:, :-1]
    tgt = ids[:, 1:]
    m = cmask[:, 1:].to(lg.dtype)
    lp = torch.log_softmax(lg.float(), -1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
    return (lp * m).sum(-1)


def make_batch(g, B, T, V):
    P = T // 2
    prompts = torch.randint(0, V, (B, P), generator=g)
    comps = torch.randint(0, V, (B, T - P), generator=g)
    cmask = torch.cat([torch.zeros(B, P, dtype=torch.long), torch.ones(B, T - P, dtype=torch.long)], 1)
    kl = torch.roll(comps, 1, 0)
    return {k: v.cuda() for k, v in dict(ids=torch.cat([prompts, comps], 1), kl_ids=torch.cat([prompts, kl], 1),
                                         cmask=cmask, desirable=torch.arange(B) % 2 == 0).items()}


def micro_step(model, b, beta, scale):
    with torch.no_grad():
        kl_pol = completion_logps(model(input_ids=b["kl_ids"]).logits, b["kl_ids"], b["cmask"])
    pol = completion_logps(model(input_ids=b["ids"]).logits, b["ids"], b["cmask"])
    with torch.no_grad(), model.disable_adapter():
        kl_ref = completion_logps(model(input_ids=b["kl_ids"]).logits, b["kl_ids"], b["cmask"])
        ref = completion_logps(model(input_ids=b["ids"]).logits, b["ids"], b["cmask"])
    z0 = (kl_pol - kl_ref).mean().clamp(min=0).detach()
    r = pol - ref
    d = b["desirable"]
    v = torch.where(d, 1 - torch.sigmoid(beta * (r - z0)), 1 - torch.sigmoid(beta * (z0 - r)))
    loss = v.mean() * scale
    loss.backward()
    return loss.detach()


def flops_per_step(cfg, B, T, r, accum):
    E, F, H, Hkv, D, L, V = 1024, 3072, 16, 8, 128, 28, 151936
    io = [(E, H * D), (E, Hkv * D), (E, Hkv * D), (H * D, E), (E, F), (E, F), (F, E)]
    N = L * sum(i * o for i, o in io) + E * V
    NL = L * r * sum(i + o for i, o in io)
    n = B * T
    attn = 4 * L * T * H * D * n
    grad_pass = 6 * (N + NL) * n + 3 * attn
    nograd = 3 * (2 * N * n + attn) + 2 * NL * n
    return accum * (grad_pass + nograd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--accum", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--grad-ckpt", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    model, cfg = build(a)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, fused=True)
    g = torch.Generator().manual_seed(a.seed)
    times = []
    for step in range(a.warmup + a.steps):
        batches = [make_batch(g, a.batch, a.seq, 151936) for _ in range(a.accum)]
        torch.cuda.synchronize()
        if step == a.warmup:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for b in batches:
            micro_step(model, b, 0.1, 1.0 / a.accum)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
        print(f"step {step}: {time.perf_counter() - t0:.3f} s", file=sys.stderr)
    med = statistics.median(times)
    tokens = a.batch * a.seq * a.accum
    fl = flops_per_step(cfg, a.batch, a.seq, a.rank, a.accum)
    print(json.dumps(dict(impl="transformers+peft", torch=torch.__version__, gpu=torch.cuda.get_device_name(0),
                          batch=a.batch, seq=a.seq, accum=a.accum, grad_ckpt=a.grad_ckpt,
                          step_s=med, tokens_per_s=tokens / med, tflops=fl / med / 1e12,
                          mfu=fl / med / 1e12 / a.peak_tflops,
                          peak_mem_gib=torch.cuda.max_memory_allocated() / 2 ** 30,
                          reserved_gib=torch.cuda.max_memory_reserved() / 2 ** 30)))


if __name__ == "__main__":
    main()
