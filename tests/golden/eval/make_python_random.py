#!/usr/bin/env python3
"""Golden values for prospect::eval::PyRandom (tests/eval/test_python_random.cpp), from CPython's
random.Random itself. Run with /usr/bin/python3; writes python_random.json next to this script."""
import json
import os
import random
import sys

out = {"python": sys.version.split()[0], "seeds": [], "samples": [], "harness_sequence": {}}
for seed in [0, 1, 42, 1234, 2**32 + 7, 2**40 + 5]:
    r = random.Random(seed)
    u32 = [r.getrandbits(32) for _ in range(5)]
    bits = [r.getrandbits(k) for k in (1, 7, 31, 33, 40, 64)]
    floats = [r.random() for _ in range(3)]
    below = [r._randbelow(n) for n in (1, 2, 3, 10, 1000, 39905, 2**33 + 1)]
    out["seeds"].append({"seed": seed, "u32": u32, "bits": [str(b) for b in bits], "floats": floats,
                         "randbelow": below})

# sample(range(n), k): both algorithms (pool when n <= setsize, else set) and their boundary:
# k = 11 gives setsize = 21 + 4**ceil(log(33, 4)) = 85.
for seed, n, k in [(1234, 10, 3), (1234, 10, 10), (1234, 85, 11), (1234, 86, 11), (1234, 39905, 11),
                   (7, 21, 5), (7, 22, 5), (99, 1000, 6), (1234, 5, 0)]:
    r = random.Random(seed)
    out["samples"].append({"seed": seed, "n": n, "k": k, "result": r.sample(range(n), k)})

# The harness keeps one random.Random(1234) per task and calls sample() once per evaluated doc.
r = random.Random(1234)
out["harness_sequence"] = {"seed": 1234, "n": 40, "k": 11, "draws": [r.sample(range(40), 11) for _ in range(4)]}

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_random.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
