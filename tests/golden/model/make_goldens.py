#!/usr/bin/python3
"""Golden data for the model layer: tiny random checkpoints in Hugging Face layout and the per-token
log-probs an independent implementation of transformers' forward gives for them.

Run with Debian's python3-torch (1.13; transformers is not available, so the forward below follows
modeling_qwen3.py / modeling_qwen2.py / modeling_llama.py with eager attention, written from the
reference spec /work/shared/reference/qwen3.md section 2):

    /usr/bin/python3 tests/golden/model/make_goldens.py

Writes, next to this script, one directory per model (config.json, model.safetensors written by
hand below, generation_config.json) and goldens.json with, per model and sequence:
  logprobs_f32   log p(ids[t] | ids[:t]) for t >= 1, weights upcast to fp32, computed in fp32
  logprobs_bf16  (bf16-stored models only) the same computed in bf16 as HF would (eager attention)
  greedy_f32     8 greedy tokens after the sequence (full re-forward each step, no cache)
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 256

# ------------------------------------------------------------------------------- safetensors writer
DT = {torch.float32: ("F32", 4), torch.bfloat16: ("BF16", 2), torch.float16: ("F16", 2)}


def save_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name, t in tensors:
        t = t.contiguous()
        code, size = DT[t.dtype]
        # raw little-endian bytes; bf16 via its int16 bit pattern (numpy has no bf16)
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        assert len(raw) == t.numel() * size
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------- reference forward
def rms_norm(x, w, eps):
    in_dtype = x.dtype
    h = x.to(torch.float32)
    var = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(var + eps)
    return w * h.to(in_dtype)


def inv_freq_for(cfg):
    D, base = cfg["head_dim"], cfg["rope_theta"]
    inv = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        inv = torch.where(medium, smoothed, inv_l)
    return inv


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def forward_logits(cfg, W, ids, dt):
    """ids: list of ints (one sequence). Returns logits [T, V] in dt (like HF)."""
    E, H, Hkv, D = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps, L = cfg["rms_norm_eps"], cfg["num_hidden_layers"]
    mt = cfg["model_type"]
    T = len(ids)
    w = {k: v.to(dt) for k, v in W.items()}
    x = w["model.embed_tokens.weight"][torch.tensor(ids)].unsqueeze(0)  # [1,T,E]
    pos = torch.arange(T).unsqueeze(0).float()
    inv = inv_freq_for(cfg)
    freqs = (inv[None, :, None].float() @ pos[:, None, :]).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(dt), emb.sin().to(dt)  # [1,T,D]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    mask = torch.full((T, T), torch.finfo(dt).min, dtype=dt).triu(1)[None, None]
    bias_qkv = mt == "qwen2" or cfg.get("attention_bias", False)

    def lin(h, name, bias=False):
        y = h @ w[name + ".weight"].t()
        if bias:
            y = y + w[name + ".bias"]
        return y

    for l in range(L):
        p = f"model.layers.{l}."
        r = x
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj", bias_qkv).view(1, T, H, D)
        k = lin(h, p + "self_attn.k_proj", bias_qkv).view(1, T, Hkv, D)
        v = lin(h, p + "self_attn.v_proj", bias_qkv).view(1, T, Hkv, D)
        if mt == "qwen3":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        n_rep = H // Hkv
        k = k[:, :, None].expand(1, Hkv, n_rep, T, D).reshape(1, H, T, D)
        v = v[:, :, None].expand(1, Hkv, n_rep, T, D).reshape(1, H, T, D)
        att = torch.matmul(q, k.transpose(2, 3)) * (D ** -0.5)
        att = att + mask
        att = torch.softmax(att, dim=-1, dtype=torch.float32).to(dt)
        o = torch.matmul(att, v).transpose(1, 2).reshape(1, T, H * D)
        x = r + lin(o, p + "self_attn.o_proj", cfg.get("attention_bias", False) and mt != "qwen2")
        r = x
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        mb = mt == "llama" and cfg.get("mlp_bias", False)
        g = lin(h, p + "mlp.gate_proj", mb)
        u = lin(h, p + "mlp.up_proj", mb)
        x = r + lin(torch.nn.functional.silu(g) * u, p + "mlp.down_proj", mb)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return (x @ head.t())[0]  # [T,V]


def token_logprobs(cfg, W, ids, dt):
    logits = forward_logits(cfg, W, ids, dt).float()
    lp = torch.log_softmax(logits, -1)
    return [lp[t - 1, ids[t]].item() for t in range(1, len(ids))]


def greedy(cfg, W, ids, n):
    seq = list(ids)
    for _ in range(n):
        seq.append(int(forward_logits(cfg, W, seq, torch.float32)[-1].float().argmax()))
    return seq[len(ids):]


# -------------------------------------------------------------------------------------- models
def make_model(name, cfg, storage, seed, extra_lm_head=False):
    g = torch.Generator().manual_seed(seed)
    E, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", E // H)
    mt = cfg["model_type"]
    std = 0.2  # larger than 0.02 so that the tiny model's log-probs are far from uniform

    def rn(*shape):
        return torch.randn(*shape, generator=g) * std

    def norm_w(n):  # not all ones, so that a missing weight multiply would show
        return 1.0 + 0.1 * torch.randn(n, generator=g)

    W = {"model.embed_tokens.weight": torch.randn(V, E, generator=g) * 0.5}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = norm_w(E)
        W[p + "self_attn.q_proj.weight"] = rn(H * D, E)
        W[p + "self_attn.k_proj.weight"] = rn(Hkv * D, E)
        W[p + "self_attn.v_proj.weight"] = rn(Hkv * D, E)
        W[p + "self_attn.o_proj.weight"] = rn(E, H * D)
        if mt == "qwen2" or cfg.get("attention_bias", False):
            W[p + "self_attn.q_proj.bias"] = rn(H * D)
            W[p + "self_attn.k_proj.bias"] = rn(Hkv * D)
            W[p + "self_attn.v_proj.bias"] = rn(Hkv * D)
        if mt == "qwen3":
            W[p + "self_attn.q_norm.weight"] = norm_w(D)
            W[p + "self_attn.k_norm.weight"] = norm_w(D)
        W[p + "post_attention_layernorm.weight"] = norm_w(E)
        W[p + "mlp.gate_proj.weight"] = rn(F, E)
        W[p + "mlp.up_proj.weight"] = rn(F, E)
        W[p + "mlp.down_proj.weight"] = rn(E, F)
    W["model.norm.weight"] = norm_w(E)
    if not cfg["tie_word_embeddings"]:
        W["lm_head.weight"] = rn(V, E) * 2
    elif extra_lm_head:
        # the stray redundant copy of the official 0.6B/1.7B files, deliberately *different* here so
        # that a loader that used it instead of the embedding would fail the parity test
        W["lm_head.weight"] = rn(V, E)
    W = {k: v.to(storage) for k, v in W.items()}
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    save_safetensors(os.path.join(d, "model.safetensors"), sorted(W.items()))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": [2, 3], "transformers_version": "4.51.0"}, f, indent=2)
    W32 = {k: v.float() for k, v in W.items() if not (k == "lm_head.weight" and cfg["tie_word_embeddings"])}
    return W32, {k: v for k, v in W.items() if k in W32}


BASE = {
    "vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6, "hidden_act": "silu", "initializer_range": 0.02, "bos_token_id": 1,
    "eos_token_id": 2, "attention_dropout": 0.0, "use_cache": True,
}

MODELS = [
    # Qwen3, tied, f32 storage, decoupled head_dim (H*D = 96 != E = 64), stray lm_head.weight.
    ("qwen3_tied", dict(BASE, model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=24,
                        rope_theta=1000000, rope_scaling=None, attention_bias=False, tie_word_embeddings=True,
                        torch_dtype="float32", use_sliding_window=False, sliding_window=None),
     torch.float32, 1, True),
    # Qwen3, untied, bf16 storage, transformers-v5 style config (rope_parameters, dtype, layer_types).
    ("qwen3_untied", dict(BASE, model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=16,
                          rope_parameters={"rope_theta": 10000.0, "rope_type": "default"}, attention_bias=False,
                          tie_word_embeddings=False, dtype="bfloat16", layer_types=["full_attention"] * 2),
     torch.bfloat16, 2, False),
    # Qwen2-style: q/k/v bias, no q/k-norm, no head_dim key (hidden/heads = 16).
    ("qwen2", dict(BASE, model_type="qwen2", architectures=["Qwen2ForCausalLM"], rope_theta=1000000.0,
                   tie_word_embeddings=True, torch_dtype="bfloat16", use_sliding_window=False),
     torch.bfloat16, 3, False),
    # Llama-style: no q/k-norm, llama3 rope scaling (legacy "type" key), eps 1e-5, untied.
    ("llama", dict(BASE, model_type="llama", architectures=["LlamaForCausalLM"], rope_theta=500000.0,
                   rope_scaling={"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 64},
                   rms_norm_eps=1e-5, attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
                   torch_dtype="bfloat16"),
     torch.bfloat16, 4, False),
]

SEQS = [
    [5, 17, 200, 3, 99, 42, 7, 128, 255, 0, 64],
    [1, 2],
    [77, 77, 77, 13, 250, 31, 9, 180, 44, 101, 6, 222, 90, 15, 3, 161, 70, 19],
]


def fcfg(cfg):
    c = dict(cfg)
    if "head_dim" not in c:
        c["head_dim"] = c["hidden_size"] // c["num_attention_heads"]
    if "rope_parameters" in c:
        c["rope_theta"] = c["rope_parameters"]["rope_theta"]
    return c


def main():
    torch.set_num_threads(1)
    out = {"vocab_size": VOCAB, "models": {}}
    for name, cfg, storage, seed, extra in MODELS:
        W32, Wst = make_model(name, cfg, storage, seed, extra)
        c = fcfg(cfg)
        entry = {"storage": str(storage).replace("torch.", ""), "sequences": []}
        for ids in SEQS:
            rec = {"ids": ids, "logprobs_f32": token_logprobs(c, W32, ids, torch.float32),
                   "greedy_f32": greedy(c, W32, ids, 8)}
            if storage == torch.bfloat16:
                rec["logprobs_bf16"] = token_logprobs(c, Wst, ids, torch.bfloat16)
            entry["sequences"].append(rec)
        out["models"][name] = entry
    with open(os.path.join(HERE, "goldens.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
