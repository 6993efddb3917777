#!/usr/bin/python3
"""Golden data for the LoRA layer: a tiny Qwen3 base model and two adapters in PEFT's on-disk layout,
written independently of the C++ code (no peft, no transformers), with the expected per-token
log-probabilities of the adapted models computed by this script's own float64 forward pass.

Outputs (next to this script):
  base/config.json, base/generation_config.json, base/model.safetensors    tiny tied Qwen3
  adapter_lora/  adapter_config.json (PEFT 0.20 fields + an unknown future key), adapter_model.safetensors
                 r=4, alpha=8, rank_pattern {"down_proj": 2}, alpha_pattern {"v_proj": 3}, keys as PEFT
                 saves them ("...lora_A.weight")
  adapter_dora/  use_dora + use_rslora, r=2, alpha=4, targets q_proj/o_proj/up_proj, keys in PEFT's
                 in-memory form ("...lora_A.default.weight", "...lora_magnitude_vector.default.weight")
  expected.json  input_ids [2, 10]; logprobs_base / logprobs_lora / logprobs_dora [2, 10]
                 (log p(token t | tokens < t), position 0 = 0)

Run: /usr/bin/python3 tests/golden/lora/make_peft_adapter.py
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(1234)

CFG = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "vocab_size": 64,
    "hidden_size": 16,
    "intermediate_size": 24,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 8,
    "hidden_act": "silu",
    "max_position_embeddings": 128,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
    "attention_bias": False,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    "bos_token_id": 1,
    "eos_token_id": 2,
    "initializer_range": 0.02,
}
V, E, F, L = CFG["vocab_size"], CFG["hidden_size"], CFG["intermediate_size"], CFG["num_hidden_layers"]
H, HKV, D = CFG["num_attention_heads"], CFG["num_key_value_heads"], CFG["head_dim"]


def write_safetensors(path, tensors):
    """safetensors by hand: u64 header length, JSON header (space padded to 8), raw little-endian data."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rnd(*shape, std=0.2):
    return torch.randn(*shape, dtype=torch.float64) * std


# ---- base model -------------------------------------------------------------------------------------
base = {"model.embed_tokens.weight": rnd(V, E, std=0.5), "model.norm.weight": 1 + rnd(E, std=0.1)}
for i in range(L):
    p = f"model.layers.{i}."
    base[p + "input_layernorm.weight"] = 1 + rnd(E, std=0.1)
    base[p + "post_attention_layernorm.weight"] = 1 + rnd(E, std=0.1)
    base[p + "self_attn.q_proj.weight"] = rnd(H * D, E)
    base[p + "self_attn.k_proj.weight"] = rnd(HKV * D, E)
    base[p + "self_attn.v_proj.weight"] = rnd(HKV * D, E)
    base[p + "self_attn.o_proj.weight"] = rnd(E, H * D)
    base[p + "self_attn.q_norm.weight"] = 1 + rnd(D, std=0.1)
    base[p + "self_attn.k_norm.weight"] = 1 + rnd(D, std=0.1)
    base[p + "mlp.gate_proj.weight"] = rnd(F, E)
    base[p + "mlp.up_proj.weight"] = rnd(F, E)
    base[p + "mlp.down_proj.weight"] = rnd(E, F)
# Written in float32: the expected values use exactly the float32-rounded weights.
base = {k: v.to(torch.float32).to(torch.float64) for k, v in base.items()}


# ---- adapters ---------------------------------------------------------------------------------------
def peft_config(**over):
    c = {  # PEFT 0.20 LoraConfig as saved by save_pretrained (json.dumps(sort_keys=True))
        "alora_invocation_tokens": None, "alpha_pattern": {}, "arrow_config": None, "auto_mapping": None,
        "base_model_name_or_path": "tiny-qwen3-golden", "bias": "none", "corda_config": None,
        "ensure_weight_tying": False, "eva_config": None, "exclude_modules": None, "fan_in_fan_out": False,
        "inference_mode": True, "init_lora_weights": True, "kasa_config": None, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": 8,
        "lora_bias": False, "lora_dropout": 0.05, "lora_ga_config": None, "megatron_config": None,
        "megatron_core": "megatron.core", "modules_to_save": None, "monteclora_config": None,
        "peft_type": "LORA", "peft_version": "0.20.0", "qalora_group_size": 16, "r": 4, "rank_pattern": {},
        "revision": None, "target_modules": ["q_proj", "v_proj"], "target_parameters": None,
        "task_type": "CAUSAL_LM", "trainable_token_indices": None, "use_bdlora": None, "use_dora": False,
        "use_qalora": False, "use_rslora": False, "velora_config": None,
        "some_future_peft_field": {"enabled": False},  # unknown to the reader: must be ignored with a warning
    }
    c.update(over)
    return c


def module_dims(short):
    return {"q_proj": (H * D, E), "k_proj": (HKV * D, E), "v_proj": (HKV * D, E), "o_proj": (E, H * D),
            "gate_proj": (F, E), "up_proj": (F, E), "down_proj": (E, F)}[short]


def module_path(i, short):
    return f"model.layers.{i}." + ("self_attn." if short.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp.") + short


def make_adapter(name, cfg, targets, rank_of, alpha_of, infix):
    """Returns {module path: (A, B, m or None, scaling)} and writes the adapter directory."""
    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    layers, tensors = {}, {}
    for i in range(L):
        for short in targets:
            path = module_path(i, short)
            out, inp = module_dims(short)
            r, alpha = rank_of(short), alpha_of(short)
            s = alpha / math.sqrt(r) if cfg["use_rslora"] else alpha / r
            A = rnd(r, inp, std=0.3).to(torch.float32).to(torch.float64)
            B = rnd(out, r, std=0.3).to(torch.float32).to(torch.float64)  # nonzero: a trained adapter
            m = None
            key = "base_model.model." + path
            tensors[f"{key}.lora_A{infix}.weight"] = A
            tensors[f"{key}.lora_B{infix}.weight"] = B
            if cfg["use_dora"]:
                W = base[path + ".weight"]
                m = (torch.linalg.norm(W + s * (B @ A), dim=1) * (1 + rnd(out, std=0.2))).to(torch.float32).to(torch.float64)
                tensors[f"{key}.lora_magnitude_vector{infix}.weight" if infix else f"{key}.lora_magnitude_vector"] = m
            layers[path] = (A, B, m, s)
    write_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), tensors)
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    return layers


lora_cfg = peft_config(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                       rank_pattern={"down_proj": 2}, alpha_pattern={"v_proj": 3})
lora = make_adapter("adapter_lora", lora_cfg, ["q_proj", "v_proj", "down_proj"],
                    rank_of=lambda s: 2 if s == "down_proj" else 4, alpha_of=lambda s: 3 if s == "v_proj" else 8,
                    infix="")
dora_cfg = peft_config(r=2, lora_alpha=4, use_dora=True, use_rslora=True, lora_dropout=0.0,
                       target_modules=["q_proj", "o_proj", "up_proj"])
dora = make_adapter("adapter_dora", dora_cfg, ["q_proj", "o_proj", "up_proj"],
                    rank_of=lambda s: 2, alpha_of=lambda s: 4, infix=".default")


# ---- independent float64 forward (modeling_qwen3.py semantics) ---------------------------------------
def rms(x, w, eps=CFG["rms_norm_eps"]):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def linear(x, path, adapter):
    W = base[path + ".weight"]
    y = x @ W.T
    if adapter is not None and path in adapter:
        A, B, m, s = adapter[path]
        lora = (x @ A.T) @ B.T
        if m is None:
            y = y + s * lora
        else:  # DoRA, unmerged form: (m/‖W+sBA‖)·(W x) + (m/‖W+sBA‖)·s·B A x
            scale = m / torch.linalg.norm(W + s * (B @ A), dim=1)
            y = y + (scale - 1) * (x @ W.T) + scale * s * lora
    return y


def rope(x, T):  # x [T, heads, D]
    inv = 1.0 / (CFG["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def forward_logprobs(ids, adapter):
    T = len(ids)
    x = base["model.embed_tokens.weight"][torch.tensor(ids)]
    for i in range(L):
        p = f"model.layers.{i}."
        h = rms(x, base[p + "input_layernorm.weight"])
        q = linear(h, p + "self_attn.q_proj", adapter).view(T, H, D)
        k = linear(h, p + "self_attn.k_proj", adapter).view(T, HKV, D)
        v = linear(h, p + "self_attn.v_proj", adapter).view(T, HKV, D)
        q = rope(rms(q, base[p + "self_attn.q_norm.weight"]), T)
        k = rope(rms(k, base[p + "self_attn.k_norm.weight"]), T)
        k = k.repeat_interleave(H // HKV, dim=1)
        v = v.repeat_interleave(H // HKV, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D)
        scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        att = torch.einsum("hts,shd->thd", scores.softmax(-1), v).reshape(T, H * D)
        x = x + linear(att, p + "self_attn.o_proj", adapter)
        h = rms(x, base[p + "post_attention_layernorm.weight"])
        g = linear(h, p + "mlp.gate_proj", adapter)
        u = linear(h, p + "mlp.up_proj", adapter)
        x = x + linear(torch.nn.functional.silu(g) * u, p + "mlp.down_proj", adapter)
    x = rms(x, base["model.norm.weight"])
    logp = (x @ base["model.embed_tokens.weight"].T).log_softmax(-1)
    return [0.0] + [logp[t - 1, ids[t]].item() for t in range(1, T)]


input_ids = [[3, 17, 42, 8, 61, 5, 23, 9, 50, 12], [7, 7, 30, 2, 44, 19, 63, 0, 11, 36]]
expected = {
    "input_ids": input_ids,
    "logprobs_base": [forward_logprobs(s, None) for s in input_ids],
    "logprobs_lora": [forward_logprobs(s, lora) for s in input_ids],
    "logprobs_dora": [forward_logprobs(s, dora) for s in input_ids],
}

os.makedirs(os.path.join(HERE, "base"), exist_ok=True)
write_safetensors(os.path.join(HERE, "base", "model.safetensors"), base)
with open(os.path.join(HERE, "base", "config.json"), "w") as f:
    json.dump(CFG, f, indent=2, sort_keys=True)
with open(os.path.join(HERE, "base", "generation_config.json"), "w") as f:
    json.dump({"bos_token_id": 1, "eos_token_id": 2, "do_sample": True, "temperature": 0.6}, f, indent=2)
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
print("wrote", HERE)
