"""Sums. Issue 4: an einsum of 4 factors that are each a sum of 8 arrays (4096 products if
fully expanded); lazyein must plan it quickly and run no slower than adding each sum first and
doing one einsum, the obvious hand-written numpy. Issue 12 item 4, sums at numpy speed: the
axpy ``a + 0.1 * b - 2 * c`` on vectors of 160,000 and 10,000,000 float64 (at most 1.2x
numpy), a left-deep sum of 2,000 (200, 200) arrays (at most 1.5x ``sum(X)``), and a GP
operator's matvec ``(kron(K1, K2) + s * eye) @ v`` (at most 1.05x the hand-written one). Every
lazyein candidate builds its expression inside the timed call, as a user writes it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402

N, TERMS = 400, 8
EQ = "ab,bc,cd,de->ae"
REPEAT = 25  # its two candidates are close: more rounds for a steady median
# axpy sizes, with rounds and back-to-back calls per round (a short call is timed in bursts)
AXPY = ((160_000, 41, 20), (10_000_000, 11, 1))
ARRAYS, SIDE = 2000, 200
GP_N, GP_S = 400, 0.3


def einsum_of_sums() -> tuple[str, str]:
    """The einsum of 4 sums of 8: its rows, and a note on planning."""
    rng = np.random.default_rng(0)
    parts = [[rng.standard_normal((N, N)) for _ in range(TERMS)] for _ in range(4)]

    def build():
        sums = [le.lazy(p[0]) for p in parts]
        for k in range(1, TERMS):
            sums = [s + le.lazy(p[k]) for s, p in zip(sums, parts)]
        return le.lazy_einsum(EQ, *sums)

    def by_hand():
        return np.einsum(EQ, *(sum(p[1:], start=p[0].copy()) for p in parts), optimize=True)

    le.api.clear_plan_cache()
    start = time.perf_counter()
    plan = build().explain()
    planning = time.perf_counter() - start
    base = "numpy: add each sum, then one einsum"
    medians = run({base: by_hand, "lazyein build + compute": lambda: build().compute()},
                  baseline=base, repeat=REPEAT, rtol=1e-9, atol=1e-6)
    return rows(f"einsum of 4 sums of {TERMS} ({N}x{N}) f64", medians, base), (
        f"The einsum of 4 sums of {TERMS}: planned in {planning * 1e3:.0f} ms (cold cache), "
        f"{plan.num_terms} terms, {len(plan.materialized)} sums computed first.")


def axpy() -> str:
    """``a + 0.1 * b - 2 * c``: numpy allocates four temporaries; lazyein writes the first
    term, then scales each other one slab by slab into a scratch that stays in cache."""
    rng = np.random.default_rng(1)
    out = []
    for n, repeat, calls in AXPY:
        a, b, c = (rng.standard_normal(n) for _ in range(3))

        def in_place(a=a, b=b, c=c):  # hand-fused numpy: one new array, one temporary
            result = np.multiply(b, 0.1)
            result += a
            result -= np.multiply(c, 2, out=np.empty_like(c))
            return result
        base = "numpy a + 0.1*b - 2*c"
        medians = run({base: lambda a=a, b=b, c=c: a + 0.1 * b - 2 * c,
                       "numpy with out= (one temporary)": in_place,
                       "lazyein build + compute": lambda a=a, b=b, c=c: (
                           le.lazy(a) + 0.1 * le.lazy(b) - 2 * le.lazy(c)).compute()},
                      baseline=base, repeat=repeat, calls=calls, rtol=1e-12, atol=1e-12)
        out.append(rows(f"axpy a + 0.1*b - 2*c, {n:,} f64", medians, base))
    return "\n".join(out)


def many_arrays() -> str:
    """A left-deep sum of 2,000 arrays built in the loop: 4,000 nodes built, one plan looked
    up, 2,000 in-place adds."""
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((SIDE, SIDE)) for _ in range(ARRAYS)]

    def lazy_sum():
        total = le.lazy(arrays[0])
        for x in arrays[1:]:
            total = total + x
        return total.compute()
    base = "numpy sum(X)"
    medians = run({base: lambda: sum(arrays), "lazyein build + compute": lazy_sum},
                  baseline=base, repeat=11, rtol=1e-12, atol=1e-9)
    return rows(f"sum of {ARRAYS:,} ({SIDE}, {SIDE}) f64", medians, base)


def gp_matvec() -> str:
    """``(kron(K1, K2) + s * eye) @ v`` with a new v each call: the scaled identity's term is
    added into the kron term's own product (adopted as the result) in place."""
    rng = np.random.default_rng(3)
    k1, k2 = rng.standard_normal((GP_N, GP_N)), rng.standard_normal((GP_N, GP_N))
    op = le.kron(k1, k2) + GP_S * le.eye(GP_N * GP_N)
    vs = [rng.standard_normal(GP_N * GP_N) for _ in range(4)]
    turn = iter(range(1 << 62))  # each candidate's calls cycle over the vectors

    def by_hand():
        v = vs[next(turn) % len(vs)]
        return (k1 @ v.reshape(GP_N, GP_N) @ k2.T).ravel() + GP_S * v
    base = "numpy (K1 @ V @ K2.T).ravel() + s*v"
    medians = run({base: by_hand,
                   "lazyein (op @ v).compute()": lambda: (op @ vs[next(turn) % len(vs)])
                   .compute()}, baseline=base, repeat=41, check=lambda name: False)
    return rows(f"GP matvec kron({GP_N}x{GP_N}, {GP_N}x{GP_N}) + s*eye", medians, base)


def main() -> tuple[str, str]:
    """The table's rows, and a note on planning."""
    table, note = einsum_of_sums()
    return "\n".join((table, axpy(), many_arrays(), gp_matvec())), note


if __name__ == "__main__":
    table, note = main()
    print(HEADER, table, "", note, sep="\n")
