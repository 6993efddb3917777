#!/usr/bin/env python3
"""Golden epoch orders for prospect::data::epoch_order, from an independent pure-Python
implementation of std::mt19937_64 (checked against the C++ standard's 10000th-output value),
splitmix64 seeding and Fisher-Yates with rejection sampling.

Run: /usr/bin/python3 tests/golden/data/make_shuffle_golden.py  (writes shuffle_golden.json next to it)
"""
import json
import os

MASK = (1 << 64) - 1


class MT19937_64:
    N, M = 312, 156

    def __init__(self, seed):
        self.mt = [0] * self.N
        self.mt[0] = seed & MASK
        for i in range(1, self.N):
            prev = self.mt[i - 1]
            self.mt[i] = (6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK
        self.idx = self.N

    def _twist(self):
        upper, lower = 0xFFFFFFFF80000000, 0x7FFFFFFF
        for i in range(self.N):
            x = (self.mt[i] & upper) | (self.mt[(i + 1) % self.N] & lower)
            xa = x >> 1
            if x & 1:
                xa ^= 0xB5026F5AA96619E9
            self.mt[i] = self.mt[(i + self.M) % self.N] ^ xa
        self.idx = 0

    def __call__(self):
        if self.idx >= self.N:
            self._twist()
        y = self.mt[self.idx]
        self.idx += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def uniform_below(rng, n):
    limit = MASK - ((MASK % n) + 1) % n
    while True:
        x = rng()
        if x <= limit:
            return x % n


def epoch_order(n, seed, epoch):
    order = list(range(n))
    rng = MT19937_64(splitmix64(splitmix64(seed) ^ epoch))
    for i in range(n, 1, -1):
        j = uniform_below(rng, i)
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


def main():
    rng = MT19937_64(5489)
    for _ in range(9999):
        rng()
    assert rng() == 9981545732273789042, "mt19937_64 reference value mismatch"
    cases = []
    for n, seed, epoch in [(10, 42, 0), (10, 42, 1), (37, 7, 3), (1, 1, 0), (100, 123456789, 2)]:
        cases.append({"n": n, "seed": seed, "epoch": epoch, "order": epoch_order(n, seed, epoch)})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shuffle_golden.json")
    with open(out, "w") as f:
        json.dump({"mt19937_64_seed5489_10000th": 9981545732273789042, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
