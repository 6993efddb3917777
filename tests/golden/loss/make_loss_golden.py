#!/usr/bin/env python3
"""Golden data for tests/loss: an independent float64 PyTorch implementation of every loss, written
from the reference formulas (TRL's code shapes for kto/bco/dpo/orpo/simpo, enhanced_kto.md for
enhanced_kto) rather than from the C++ code. Writes losses.json next to this script.

Run: /usr/bin/python3 tests/golden/loss/make_loss_golden.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
G = torch.Generator().manual_seed(20240607)


def rand(n, lo, hi):
    return (torch.rand(n, generator=G) * (hi - lo) + lo)


def randint(n, lo, hi):
    return torch.randint(lo, hi + 1, (n,), generator=G).double()


def lst(t):
    return [float(x) for x in t.detach().flatten()]


def masked_mean(x, m):
    return float(x[m].mean()) if m.any() else None


# ---------------------------------------------------------------- KTO (TRL kto_loss)
def kto_ref(inp, cfg, state):
    beta = cfg.get("beta", 0.1)
    dw, uw = cfg.get("desirable_weight", 1.0), cfg.get("undesirable_weight", 1.0)
    apo = cfg.get("type") == "apo_zero_unpaired" or cfg.get("loss_type") == "apo_zero_unpaired"
    pol = torch.tensor(inp["policy_logps"], requires_grad=True)
    ref = torch.tensor(inp["ref_logps"])
    lab = torch.tensor(inp["labels"], dtype=torch.bool)
    if apo:
        kl = torch.zeros(())
    else:
        kl = (torch.tensor(inp["kl_policy_logps"]) - torch.tensor(inp["kl_ref_logps"])).mean().clamp(min=0)
    ch = pol[lab] - ref[lab]
    rj = pol[~lab] - ref[~lab]
    if apo:
        cl, rl = 1 - torch.sigmoid(beta * ch), torch.sigmoid(beta * rj)
    else:
        cl, rl = 1 - torch.sigmoid(beta * (ch - kl)), 1 - torch.sigmoid(beta * (kl - rj))
    loss = torch.cat((dw * cl, uw * rl)).nanmean()
    loss.backward()
    m = {"loss": float(loss), "kl": float(kl)}
    r = (pol - ref).detach()
    add_unpaired_metrics(m, beta * r, pol.detach(), lab)
    return float(loss), m, {"policy_logps": lst(pol.grad)}


def add_unpaired_metrics(m, rewards, logps, lab):
    for k, mask in (("chosen", lab), ("rejected", ~lab)):
        v = masked_mean(rewards, mask)
        if v is not None:
            m["rewards/" + k] = v
            m["logps/" + k] = masked_mean(logps, mask)
    if "rewards/chosen" in m and "rewards/rejected" in m:
        m["rewards/margins"] = m["rewards/chosen"] - m["rewards/rejected"]


# ---------------------------------------------------------------- running mean (TRL RunningMoments)
class RunningMoments:
    def __init__(self, momentum=None):
        self.mean, self.var, self.count, self.momentum = 0.0, 1.0, 1e-24, momentum

    def update(self, xs):
        if self.momentum is not None:
            self.mean = self.momentum * self.mean + (1 - self.momentum) * float(xs.mean())
            self.count += xs.numel()
            return
        xs_count = xs.numel()
        xs_var, xs_mean = torch.var_mean(xs, unbiased=False)
        delta = float(xs_mean) - self.mean
        tot_count = self.count + xs_count
        self.mean += delta * xs_count / tot_count
        self.count = tot_count


# ---------------------------------------------------------------- enhanced KTO (enhanced_kto.md)
def log_odds_direct(a):
    return a - torch.log(1 - torch.exp(a))


def enhanced_ref(inp, cfg, state):
    beta = cfg.get("beta", 0.1)
    dw, uw = cfg.get("desirable_weight", 1.0), cfg.get("undesirable_weight", 1.0)
    vf = cfg.get("value_function", {})
    pw = cfg.get("probability_weighting", {})
    orc = cfg.get("odds_ratio", {})
    bs = cfg.get("bco_shift", {})
    clip = cfg.get("component_grad_clip", {})
    assert not clip.get("kto") and not clip.get("odds_ratio")
    pol = torch.tensor(inp["policy_logps"], requires_grad=True)
    ref = torch.tensor(inp["ref_logps"])
    lab = torch.tensor(inp["labels"], dtype=torch.bool)
    n = pol.numel()
    d = torch.where(lab, 1.0, -1.0)
    lam_i = torch.where(lab, dw, uw)
    r = pol - ref
    has_kl = "kl_policy_logps" in inp
    z0 = torch.zeros(())
    if cfg.get("estimate_kl", True):
        z0 = (torch.tensor(inp["kl_policy_logps"]) - torch.tensor(inp["kl_ref_logps"])).mean().clamp(min=0)
    rho, z = 0.0, z0
    if bs.get("enabled", False):
        if "delta" not in state:
            state["delta"] = RunningMoments(bs.get("momentum"))
        if inp["training"]:
            state["delta"].update(r.detach())
        t, s0, ramp = inp["step"], bs.get("start_step", 0), bs.get("ramp_steps", 0)
        rho = 0.0 if t < s0 else min(1.0, (t - s0 + 1) / max(1, ramp))
        z = (1 - rho) * z0 + rho * state["delta"].mean
    h = beta * d * (r - z)
    q = h
    if vf.get("enabled", True):
        ag, al = vf.get("alpha_gain", 0.88), vf.get("alpha_loss", 0.88)
        lam, eps = vf.get("lambda", 2.25), vf.get("eps", 0.01)
        hp, hn = torch.where(h >= 0, h, 0.0), torch.where(h < 0, -h, 0.0)
        q = torch.where(h >= 0, (hp + eps) ** ag - eps ** ag, -lam * ((hn + eps) ** al - eps ** al))
    p = torch.sigmoid(q)
    w = p
    if pw.get("enabled", True):
        form = pw.get("form", "tversky_kahneman")
        if form == "prelec":
            g = pw.get("gamma", 0.65)
            w = torch.exp(-((-torch.log(p)) ** g))
        else:
            g = pw.get("gamma", 0.61)
            w = p ** g / (p ** g + (1 - p) ** g) ** (1 / g)
    kto_i = lam_i * (1 - w)
    mu = orc.get("weight", 0.1) if orc.get("enabled", True) else 0.0
    or_i = torch.zeros(n)
    if mu != 0:
        A = pol / torch.tensor(inp["lengths"]).clamp(min=1)
        lo = log_odds_direct(A)
        ids = inp.get("pair_ids", [-1] * n)
        partner = {}
        used = set()
        for i in range(n):
            if i in used or ids[i] < 0:
                continue
            for j in range(i + 1, n):
                if j not in used and ids[j] == ids[i] and bool(lab[j]) != bool(lab[i]):
                    used |= {i, j}
                    partner[i], partner[j] = j, i
                    break
        parts = []
        for i in range(n):
            if i in partner:
                wi, li = (i, partner[i]) if lab[i] else (partner[i], i)
                parts.append(0.5 * -F.logsigmoid(lo[wi] - lo[li]))
            else:
                b = torch.zeros(())
                if has_kl:
                    ka = torch.tensor(inp["kl_policy_logps"][i]) / max(1.0, inp["kl_lengths"][i])
                    b = log_odds_direct(ka)
                parts.append(-F.logsigmoid(d[i] * (lo[i] - b)))
        or_i = torch.stack(parts)
    loss = (kto_i + mu * or_i).mean()
    loss.backward()
    m = {"loss": float(loss), "kl": float(z0), "z0": float(z0), "loss/kto": float(kto_i.mean()),
         "value/gain_fraction": float((h > 0).double().mean())}
    add_unpaired_metrics(m, beta * r.detach(), pol.detach(), lab)
    if pw.get("enabled", True):
        m["weighting/mean_w"] = float(w.mean())
    if mu != 0:
        m["loss/odds_ratio"] = float(or_i.mean())
        for k, mask in (("chosen", lab), ("rejected", ~lab)):
            v = masked_mean(lo.detach(), mask)
            if v is not None:
                m["odds/log_odds_" + k] = v
    if bs.get("enabled", False):
        m["bco/delta"] = state["delta"].mean
        m["bco/rho"] = rho
    return float(loss), m, {"policy_logps": lst(pol.grad)}


# ---------------------------------------------------------------- BCO (TRL bco_loss)
def bco_ref(inp, cfg, state):
    beta = cfg.get("beta", 0.1)
    if "delta" not in state:
        state["delta"] = RunningMoments()
    pol = torch.tensor(inp["policy_logps"], requires_grad=True)
    ref = torch.tensor(inp["ref_logps"])
    lab = torch.tensor(inp["labels"], dtype=torch.bool)
    cr = beta * (pol[lab] - ref[lab])
    rr = beta * (pol[~lab] - ref[~lab])
    if inp["training"]:
        state["delta"].update(torch.cat((cr, rr)).detach())
    delta = state["delta"].mean
    loss = torch.cat((-F.logsigmoid(cr - delta), -F.logsigmoid(-(rr - delta)))).nanmean()
    loss.backward()
    m = {"loss": float(loss), "delta": delta}
    add_unpaired_metrics(m, beta * (pol - ref).detach(), pol.detach(), lab)
    return float(loss), m, {"policy_logps": lst(pol.grad)}


# ---------------------------------------------------------------- paired families
def paired_metrics(m, cr, rr, cl, rl):
    m["rewards/chosen"] = float(cr.mean())
    m["rewards/rejected"] = float(rr.mean())
    m["rewards/accuracies"] = float((cr > rr).double().mean())
    m["rewards/margins"] = float((cr - rr).mean())
    m["logps/chosen"] = float(cl.mean())
    m["logps/rejected"] = float(rl.mean())


def dpo_ref(inp, cfg, state):
    beta, lt, eps = cfg.get("beta", 0.1), cfg.get("loss_type", "sigmoid"), cfg.get("label_smoothing", 0.0)
    pc = torch.tensor(inp["chosen_logps"], requires_grad=True)
    pr = torch.tensor(inp["rejected_logps"], requires_grad=True)
    rc, rr = torch.tensor(inp["ref_chosen_logps"]), torch.tensor(inp["ref_rejected_logps"])
    c, r_, a, b = pc, pr, rc, rr
    if lt == "ipo":
        lc, lr = torch.tensor(inp["chosen_lengths"]).clamp(min=1), torch.tensor(inp["rejected_lengths"]).clamp(min=1)
        c, r_, a, b = pc / lc, pr / lr, rc / lc, rr / lr
    logits = (c - a) - (r_ - b)
    if lt == "sigmoid":
        losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    elif lt == "robust":
        losses = (-F.logsigmoid(beta * logits) * (1 - eps) + F.logsigmoid(-beta * logits) * eps) / (1 - 2 * eps)
    elif lt == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        losses = torch.relu(1 - beta * logits)
    loss = losses.mean()
    loss.backward()
    m = {"loss": float(loss)}
    paired_metrics(m, beta * (c - a).detach(), beta * (r_ - b).detach(), c.detach(), r_.detach())
    return float(loss), m, {"chosen_logps": lst(pc.grad), "rejected_logps": lst(pr.grad)}


def orpo_ref(inp, cfg, state):
    beta = cfg.get("beta", 0.1)
    pc = torch.tensor(inp["chosen_logps"], requires_grad=True)
    pr = torch.tensor(inp["rejected_logps"], requires_grad=True)
    ns = torch.tensor(inp["nll_sum"], requires_grad=True)
    ac, ar = pc / torch.tensor(inp["chosen_lengths"]), pr / torch.tensor(inp["rejected_lengths"])
    log_odds = (ac - ar) - (torch.log1p(-torch.exp(ac)) - torch.log1p(-torch.exp(ar)))
    ratio = F.logsigmoid(log_odds)
    nll = ns / inp["nll_count"]
    loss = nll - (beta * ratio).mean()
    loss.backward()
    m = {"loss": float(loss), "nll_loss": float(nll), "log_odds_ratio": float(ratio.mean()),
         "log_odds_chosen": float(log_odds.mean())}
    paired_metrics(m, beta * ac.detach(), beta * ar.detach(), ac.detach(), ar.detach())
    return float(loss), m, {"chosen_logps": lst(pc.grad), "rejected_logps": lst(pr.grad), "nll_sum": [float(ns.grad)]}


def simpo_ref(inp, cfg, state):
    beta, gamma = cfg.get("beta", 0.1), cfg.get("simpo_gamma", 0.5)
    eps, alpha = cfg.get("label_smoothing", 0.0), cfg.get("cpo_alpha", 1.0)
    pc = torch.tensor(inp["chosen_logps"], requires_grad=True)
    pr = torch.tensor(inp["rejected_logps"], requires_grad=True)
    ns = torch.tensor(inp["nll_sum"], requires_grad=True)
    ac, ar = pc / torch.tensor(inp["chosen_lengths"]), pr / torch.tensor(inp["rejected_lengths"])
    logits = (ac - ar) - gamma / beta
    losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    loss = losses.mean()
    m = {}
    if alpha != 0:
        nll = ns / inp["nll_count"]
        loss = loss + alpha * nll
        m["nll_loss"] = float(nll)
    loss.backward()
    m["loss"] = float(loss)
    paired_metrics(m, beta * ac.detach(), beta * ar.detach(), ac.detach(), ar.detach())
    grads = {"chosen_logps": lst(pc.grad), "rejected_logps": lst(pr.grad)}
    if alpha != 0:
        grads["nll_sum"] = [float(ns.grad)]
    return float(loss), m, grads


def sft_ref(inp, cfg, state):
    ns = torch.tensor(inp["nll_sum"], requires_grad=True)
    loss = ns / max(1.0, inp["nll_count"])
    loss.backward()
    return float(loss), {"loss": float(loss)}, {"nll_sum": [float(ns.grad)]}


REFS = {"kto": kto_ref, "apo_zero_unpaired": kto_ref, "enhanced_kto": enhanced_ref, "bco": bco_ref,
        "dpo": dpo_ref, "orpo": orpo_ref, "simpo": simpo_ref, "sft": sft_ref}


# ---------------------------------------------------------------- inputs
def unpaired_inputs(n, step=0, training=True, labels=None, pair_ids=None, kl=True):
    lengths = randint(n, 3, 40)
    pol = -lengths * rand(n, 0.05, 2.5)
    ref = pol + rand(n, -3, 3)
    lab = labels if labels is not None else [bool(x) for x in (torch.rand(n, generator=G) < 0.5)]
    inp = {"policy_logps": lst(pol), "ref_logps": lst(ref), "lengths": lst(lengths), "labels": lab,
           "step": step, "training": training}
    if kl:
        kll = randint(n, 3, 40)
        klp = -kll * rand(n, 0.1, 3.0)
        inp.update({"kl_policy_logps": lst(klp), "kl_ref_logps": lst(klp + rand(n, -2, 2.5)),
                    "kl_lengths": lst(kll)})
    if pair_ids is not None:
        inp["pair_ids"] = pair_ids
    return inp


def paired_inputs(m):
    lc, lr = randint(m, 3, 40), randint(m, 3, 40)
    pc, pr = -lc * rand(m, 0.05, 2.0), -lr * rand(m, 0.05, 2.0)
    return {"chosen_logps": lst(pc), "rejected_logps": lst(pr), "ref_chosen_logps": lst(pc + rand(m, -3, 3)),
            "ref_rejected_logps": lst(pr + rand(m, -3, 3)), "chosen_lengths": lst(lc),
            "rejected_lengths": lst(lr), "nll_sum": float(rand(1, 20, 80)[0]), "nll_count": 37.0,
            "step": 0, "training": True}


def case(name, cfg, steps):
    state = {}
    out = []
    for inp in steps:
        loss, metrics, grads = REFS[cfg["type"]](inp, cfg, state)
        out.append({"inputs": inp, "loss": loss, "metrics": metrics, "grads": grads})
    return {"name": name, "config": cfg, "steps": out}


def main():
    cases = []
    mixed = [True, False, True, True, False, False, True, False]
    cases.append(case("kto_mixed", {"type": "kto"}, [unpaired_inputs(8, labels=mixed)]))
    cases.append(case("kto_weighted", {"type": "kto", "beta": 0.25, "desirable_weight": 1.33,
                                       "undesirable_weight": 0.8}, [unpaired_inputs(7)]))
    cases.append(case("kto_all_desirable", {"type": "kto"}, [unpaired_inputs(5, labels=[True] * 5)]))
    cases.append(case("apo_zero_unpaired", {"type": "apo_zero_unpaired", "beta": 0.3},
                      [unpaired_inputs(6, labels=[True, False, False, True, True, False], kl=False)]))

    pairs = [0, 0, 1, 1, 2, -1, 5, 7]
    pair_labels = [True, False, False, True, True, False, True, False]
    cases.append(case("enhanced_kto_default", {"type": "enhanced_kto"},
                      [unpaired_inputs(8, labels=pair_labels, pair_ids=pairs)]))
    cases.append(case("enhanced_kto_prelec_weighted", {
        "type": "enhanced_kto", "beta": 0.5, "desirable_weight": 1.2, "undesirable_weight": 0.9,
        "value_function": {"alpha_gain": 0.7, "alpha_loss": 0.9, "lambda": 1.5, "eps": 0.05},
        "probability_weighting": {"form": "prelec", "gamma": 0.5},
        "odds_ratio": {"weight": 0.3}}, [unpaired_inputs(7)]))
    cases.append(case("enhanced_kto_value_only", {
        "type": "enhanced_kto", "probability_weighting": {"enabled": False}, "odds_ratio": {"enabled": False},
        "value_function": {"lambda": 3.0}}, [unpaired_inputs(6)]))
    cases.append(case("enhanced_kto_weighting_only_tk_gamma_0.4", {
        "type": "enhanced_kto", "beta": 1.0, "value_function": {"enabled": False}, "odds_ratio": {"enabled": False},
        "probability_weighting": {"gamma": 0.4}}, [unpaired_inputs(6)]))
    cases.append(case("enhanced_kto_or_no_kl", {
        "type": "enhanced_kto", "estimate_kl": False, "odds_ratio": {"weight": 0.5}},
        [unpaired_inputs(6, kl=False, pair_ids=[3, -1, 3, 4, -1, 9], labels=[True, True, False, False, True, False])]))
    # BCO shift, exact running mean, staged: start_step 1, ramp 2 -> ρ = 0, 0.5, 1, 1; eval at the end.
    cases.append(case("enhanced_kto_bco_shift_staged", {
        "type": "enhanced_kto", "bco_shift": {"enabled": True, "start_step": 1, "ramp_steps": 2}},
        [unpaired_inputs(5, step=0), unpaired_inputs(6, step=1), unpaired_inputs(4, step=2),
         unpaired_inputs(5, step=3), unpaired_inputs(5, step=4, training=False)]))
    cases.append(case("enhanced_kto_bco_shift_ema", {
        "type": "enhanced_kto", "odds_ratio": {"enabled": False},
        "bco_shift": {"enabled": True, "momentum": 0.9}},
        [unpaired_inputs(4, step=0), unpaired_inputs(4, step=1), unpaired_inputs(4, step=2)]))

    cases.append(case("bco_sequence", {"type": "bco", "beta": 0.2},
                      [unpaired_inputs(6, kl=False), unpaired_inputs(4, kl=False),
                       unpaired_inputs(5, kl=False, training=False), unpaired_inputs(7, kl=False)]))

    for lt, eps in (("sigmoid", 0.0), ("sigmoid", 0.1), ("robust", 0.2), ("ipo", 0.0), ("hinge", 0.0)):
        cfg = {"type": "dpo", "beta": 0.1 if lt != "hinge" else 0.3, "loss_type": lt}
        if eps:
            cfg["label_smoothing"] = eps
        cases.append(case("dpo_" + lt + ("_eps" if eps else ""), cfg, [paired_inputs(5)]))
    cases.append(case("orpo", {"type": "orpo", "beta": 0.25}, [paired_inputs(5)]))
    cases.append(case("simpo_cpo", {"type": "simpo", "beta": 2.0, "simpo_gamma": 0.7}, [paired_inputs(5)]))
    cases.append(case("simpo_pure_smoothed", {"type": "simpo", "beta": 2.5, "simpo_gamma": 1.0,
                                              "label_smoothing": 0.1, "cpo_alpha": 0.0}, [paired_inputs(4)]))
    cases.append(case("sft", {"type": "sft"}, [paired_inputs(1)]))

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "losses.json")
    with open(path, "w") as f:
        json.dump({"generator": "tests/golden/loss/make_loss_golden.py", "torch": torch.__version__,
                   "cases": cases}, f, indent=1)
    print("wrote", path, len(cases), "cases")


if __name__ == "__main__":
    main()
