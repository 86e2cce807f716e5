"""PROBLEMS.md problem 2: einsum('ijk,ikj->k', C + C2, C + C2) with C, C2 never built."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    best_time,
    check,
    human,
    peak_working_bytes,
    report_memory,
    report_time,
)

import lazyein as le  # noqa: E402

HAND = ("i,jk,i,kj->k", "j,ik,k,ij->k", "i,jk,k,ij->k", "j,ik,i,kj->k")
EAGER_LIMIT = 2 * 2**30  # run the eager computation only when it needs less than this


def make_data(n: int, q: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, n)), rng.normal(size=(q,)), rng.normal(size=(n,)),
            rng.normal(size=(q, n)))


def lazy_E(A, B, Y2, Z2) -> le.LazyTensor:
    C = le.lazy_einsum("i,jk->ijk", B, A)       # (q, n, n), not computed
    C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)    # (q, n, n), not computed
    return le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)


def eager_E(A, B, Y2, Z2) -> np.ndarray:
    C = np.einsum("i,jk->ijk", B, A)
    C2 = np.einsum("j,ik->ijk", Y2, Z2)
    return np.einsum("ijk,ikj->k", C + C2, C + C2)


def hand_E(A, B, Y2, Z2) -> np.ndarray:
    ops = ((B, A, B, A), (Y2, Z2, Y2, Z2), (B, A, Y2, Z2), (Y2, Z2, B, A))
    return sum(np.einsum(eq, *o, optimize="optimal") for eq, o in zip(HAND, ops))


def run(n: int, q: int) -> bool:
    print(f"problem 2 at n = {n}, q = {q} (float64)")
    args = make_data(n, q)
    E = lazy_E(*args)
    plan = E.explain()
    print(f"  lazyein plan: {plan.num_terms} terms, {plan.flops:,} FLOPs, "
          f"estimated peak {human(plan.peak_bytes)}")
    for t in plan.terms:
        print(f"    einsum('{t.equation}')  order {list(t.path)}")
    start = time.perf_counter()
    got = E.compute()
    cold = time.perf_counter() - start
    lazy = lambda: lazy_E(*args).compute()
    hand = lambda: hand_E(*args)
    ok = check("lazyein vs four hand-expanded einsums", got, hand())
    # the literal eager code holds C, C2 and (C + C2) twice at once
    eager_bytes = 4 * q * n * n * 8
    eager_ran = eager_bytes < EAGER_LIMIT
    if eager_ran:
        ok &= check("lazyein vs eager numpy", got, eager_E(*args))
    t_lazy = best_time(lazy, 5)
    print(f"  time lazyein first call (plans the expression): {cold * 1e3:.2f} ms; "
          "below, build + compute with the plan cached")
    report_time(t_lazy, "hand-expanded einsums", best_time(hand, 5))
    if eager_ran:
        report_time(t_lazy, "eager numpy", best_time(lambda: eager_E(*args), 3))
    m_lazy = peak_working_bytes(E.compute)
    report_memory(m_lazy, "hand-expanded einsums", peak_working_bytes(hand))
    if eager_ran:
        report_memory(m_lazy, "eager numpy", peak_working_bytes(lambda: eager_E(*args)))
    else:
        report_memory(m_lazy, "eager numpy", eager_bytes, ran=False)
        print(f"  (eager not run: each 3-D array is {human(q * n * n * 8)}; C, C2 and "
              f"C + C2 twice are alive at once)")
    return ok


def main() -> bool:
    ok = run(100, 100)
    ok &= run(1000, 1000)
    print(f"  problem 2: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    main()
