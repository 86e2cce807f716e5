"""PROBLEMS.md problem 2: einsum('ijk,ikj->k', C + C2, C + C2) of two lazy outer products."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import opt_einsum

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, fmt_ratio, fmt_seconds, rows, run  # noqa: E402

import lazyein as le  # noqa: E402

# (n = q, rounds, calls per round of the fast candidates): at 400 every eager 3-D array is
# 512 MB and one eager run takes a second or two, so it runs once per round
SIZES = ((100, 25, 20), (400, 7, 50))
EAGER = ("eager np.einsum (optimize=False)", "eager np.einsum (optimize=True)")

HAND = ("i,jk,i,kj->k", "j,ik,k,ij->k", "i,jk,k,ij->k", "j,ik,i,kj->k")


def _data(n: int, q: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, n)), rng.normal(size=(q,)), rng.normal(size=(n,)),
            rng.normal(size=(q, n)))


def _hand_operands(A, B, Y2, Z2):
    return ((B, A, B, A), (Y2, Z2, Y2, Z2), (B, A, Y2, Z2), (Y2, Z2, B, A))


def candidates(A, B, Y2, Z2) -> dict:
    """name -> zero-argument callable computing E."""
    ops = _hand_operands(A, B, Y2, Z2)

    def eager(**kw):
        C = np.einsum("i,jk->ijk", B, A, **kw)
        C2 = np.einsum("j,ik->ijk", Y2, Z2, **kw)
        S = C + C2
        del C, C2
        return np.einsum("ijk,ikj->k", S, S, **kw)

    def lazy():
        C = le.lazy_einsum("i,jk->ijk", B, A)
        C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
        return le.lazy_einsum("ijk,ikj->k", C + C2, C + C2).compute()

    return {
        "hand-expanded np.einsum x4 (optimal)":
            lambda: sum(np.einsum(eq, *o, optimize="optimal") for eq, o in zip(HAND, ops)),
        "hand-expanded opt_einsum.contract x4":
            lambda: sum(opt_einsum.contract(eq, *o) for eq, o in zip(HAND, ops)),
        "eager np.einsum (optimize=False)": lambda: eager(optimize=False),
        "eager np.einsum (optimize=True)": lambda: eager(optimize=True),
        "lazyein build + compute": lazy,
    }


def cold_call(A, B, Y2, Z2, times: int = 3) -> float:
    """Median seconds of a first call: the plan cache emptied before each one."""
    results = []
    for _ in range(times):
        le.api.clear_plan_cache()  # internal; only the benchmark reaches for it
        gc.collect()
        start = time.perf_counter()
        C = le.lazy_einsum("i,jk->ijk", B, A)
        C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
        le.lazy_einsum("ijk,ikj->k", C + C2, C + C2).compute()
        results.append(time.perf_counter() - start)
    return statistics.median(results)


def main() -> str:
    out = []
    hand = "hand-expanded np.einsum x4 (optimal)"
    for n, repeat, calls in SIZES:
        args = _data(n, n)
        cands = candidates(*args)
        medians = run(cands, baseline=hand, repeat=repeat,
                      calls={name: 1 if name in EAGER else calls for name in cands})
        eager = min(EAGER, key=medians.get)  # the eager baseline: the faster of the two
        cold = cold_call(*args)
        title = f"problem 2, n=q={n}"
        out.append(rows(title, medians, hand, others=(eager,)))
        out.append(f"| {title} | lazyein first call (plan cache cleared) | {fmt_seconds(cold)} "
                   f"| {fmt_ratio(cold / medians[hand])} "
                   f"| {fmt_ratio(cold / medians[eager])} vs {eager} |")
        del cands, args
        gc.collect()
    return "\n".join(out)


if __name__ == "__main__":
    print(HEADER)
    print(main())
