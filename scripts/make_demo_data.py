#!/usr/bin/env python3
"""Generates the bundled demo preference dataset data/demo/{train,eval}.jsonl (deterministic).

Schema: UltraFeedback Binarized (prompt, prompt_id, chosen/rejected = [user, assistant] message
lists, messages = chosen, score_chosen, score_rejected). The preference is deliberately easy for a
tiny randomly initialised model: chosen answers are correct and polite and always open with one of a
few friendly phrases; rejected answers are wrong or dismissive and open with one of a few rude
phrases. Completions are a handful of tokens. Prompts of the eval split never occur in train.

Run: /usr/bin/python3 scripts/make_demo_data.py   (no arguments; rewrites both files)
"""
import hashlib
import json
import os
import random

SEED = 20240611
N_TRAIN, N_EVAL = 600, 100

POLITE = ["Sure!", "Happy to help!", "Of course!"]
RUDE = ["Ugh.", "No.", "Whatever."]

OPPOSITES = [("hot", "cold"), ("big", "small"), ("up", "down"), ("fast", "slow"), ("day", "night"),
             ("happy", "sad"), ("old", "new"), ("open", "closed"), ("light", "dark"), ("early", "late"),
             ("full", "empty"), ("hard", "soft"), ("high", "low"), ("long", "short"), ("wet", "dry"),
             ("left", "right"), ("in", "out"), ("near", "far"), ("rich", "poor"), ("loud", "quiet")]
CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Germany", "Berlin"), ("Egypt", "Cairo"), ("Canada", "Ottawa"), ("Peru", "Lima"),
            ("Kenya", "Nairobi"), ("Norway", "Oslo"), ("Greece", "Athens"), ("Chile", "Santiago"),
            ("Cuba", "Havana"), ("Ireland", "Dublin"), ("Poland", "Warsaw"), ("Austria", "Vienna")]
NAMES = {"color": ["red", "blue", "green", "yellow"], "fruit": ["apple", "banana", "pear", "plum"],
         "animal": ["cat", "dog", "horse", "owl"], "planet": ["Mars", "Venus", "Earth", "Saturn"],
         "month": ["May", "June", "March", "April"], "shape": ["circle", "square", "triangle", "star"]}


def off(rng, x):
    """A wrong answer close to x."""
    return x + rng.choice([-3, -2, -1, 1, 2, 3])


def tasks(rng):
    """Every distinct prompt with a function (rng) -> (good answer, bad answer)."""
    out = []
    for a in range(1, 17):
        for b in range(1, 17):
            out.append((f"What is {a} plus {b}?",
                        lambda r, a=a, b=b: (f"{a} plus {b} is {a + b}.", f"It is {off(r, a + b)}.")))
    for a in range(2, 21):
        for b in range(1, a):
            out.append((f"What is {a} minus {b}?",
                        lambda r, a=a, b=b: (f"{a} minus {b} is {a - b}.", f"It is {off(r, a - b)}.")))
    for a in range(2, 10):
        for b in range(2, 10):
            out.append((f"What is {a} times {b}?",
                        lambda r, a=a, b=b: (f"{a} times {b} is {a * b}.", f"It is {off(r, a * b)}.")))
    for n in range(1, 61):
        par, bad = ("even", "odd") if n % 2 == 0 else ("odd", "even")
        out.append((f"Is {n} even or odd?", lambda r, n=n, p=par, q=bad: (f"{n} is {p}.", f"{n} is {q}.")))
    for n in range(1, 100):
        out.append((f"What number comes after {n}?",
                    lambda r, n=n: (f"After {n} comes {n + 1}.", f"It is {off(r, n + 1)}.")))
    for w, o in OPPOSITES + [(o, w) for w, o in OPPOSITES]:
        out.append((f"What is the opposite of {w}?",
                    lambda r, w=w, o=o: (f"The opposite of {w} is {o}.", f"It is {w}.")))
    for c, cap in CAPITALS:
        others = [x for _, x in CAPITALS if x != cap]
        out.append((f"What is the capital of {c}?",
                    lambda r, c=c, cap=cap, others=others: (f"The capital of {c} is {cap}.",
                                                           f"It is {r.choice(others)}.")))
    for kind, items in NAMES.items():
        art = "an" if kind[0] in "aeiou" else "a"
        out.append((f"Name {art} {kind}.", lambda r, items=items: (f"One is {r.choice(items)}.",
                                                                   "Find it yourself.")))
    return out


def row(rng, prompt, answers):
    good, bad = answers(rng)
    chosen = f"{rng.choice(POLITE)} {good}"
    # Rejected answers are rude and usually wrong; sometimes only rude, sometimes only dismissive.
    style = rng.random()
    if style < 0.7:
        rejected = f"{rng.choice(RUDE)} {bad}"
    elif style < 0.85:
        rejected = f"{rng.choice(RUDE)} Stop asking me."
    else:
        rejected = f"{rng.choice(RUDE)} {good} Now go away."
    user = {"role": "user", "content": prompt}
    c = [user, {"role": "assistant", "content": chosen}]
    r = [user, {"role": "assistant", "content": rejected}]
    return {
        "prompt": prompt,
        "prompt_id": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
        "chosen": c,
        "rejected": r,
        "messages": c,
        "score_chosen": round(rng.uniform(7.0, 10.0), 1),
        "score_rejected": round(rng.uniform(1.0, 4.0), 1),
    }


def main():
    rng = random.Random(SEED)
    pool = tasks(rng)
    rng.shuffle(pool)
    assert len(pool) >= N_TRAIN + N_EVAL, len(pool)
    eval_tasks, train_tasks = pool[:N_EVAL], pool[N_EVAL:N_EVAL + N_TRAIN]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "demo")
    os.makedirs(root, exist_ok=True)
    for name, items in (("train.jsonl", train_tasks), ("eval.jsonl", eval_tasks)):
        with open(os.path.join(root, name), "w", encoding="utf-8", newline="\n") as f:
            for prompt, answers in items:
                f.write(json.dumps(row(rng, prompt, answers), ensure_ascii=False) + "\n")
    print(f"wrote {len(train_tasks)} train and {len(eval_tasks)} eval pairs to {os.path.normpath(root)}")


if __name__ == "__main__":
    main()
