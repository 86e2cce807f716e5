"""PROBLEMS.md problem 1: kron(eye(30), W) @ x without building the Kronecker product."""

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

SIZES = [784, 30, 10]
ROWS = 1666
LOOP_ROWS = 20  # the original per-row loop is timed on a few rows and extrapolated


def make_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    W0 = rng.standard_normal((SIZES[1], SIZES[0]))                  # (30, 784)
    data = rng.standard_normal((ROWS, SIZES[1] * SIZES[0]))           # (1666, 23520)
    data *= rng.random(data.shape) < 0.2                              # ~20% nonzeros
    return W0, data


def main() -> bool:
    print("problem 1: kron(eye(30), W0) @ data.T, never building the (900, 23520) kron")
    W0, data = make_data()
    n = SIZES[1]
    print(f"  W0 {W0.shape}, data {data.shape} float64, "
          f"{np.count_nonzero(data) / data.size:.0%} nonzero ({human(data.nbytes)})")

    def lazy():
        return (le.kron(le.eye(n), W0) @ le.lazy(data).T).compute()

    def expert():  # the hand rewrite of the original post; transposed to (900, 1666)
        return data.reshape(-1, SIZES[0]).dot(W0.T).reshape(-1, n * SIZES[1]).T

    def dense_kron():  # materialize foo once, then one matmul
        foo = np.kron(np.identity(n), W0)
        return foo @ data.T

    t = le.kron(le.eye(n), W0) @ le.lazy(data).T
    plan = t.explain()
    print(f"  lazyein plan: {plan.num_terms} term(s), {plan.flops:,} FLOPs, "
          f"estimated peak {human(plan.peak_bytes)}; term: einsum('{plan.terms[0].equation}')")

    start = time.perf_counter()
    got = lazy()
    cold = time.perf_counter() - start
    ok = check("lazyein vs expert rewrite", got, expert())
    ok &= check("lazyein vs dense np.kron @ data.T", got, dense_kron())

    t_lazy, t_expert, t_dense = best_time(lazy), best_time(expert), best_time(dense_kron, 1)
    foo = np.kron(np.identity(n), W0)
    start = time.perf_counter()
    for i in range(LOOP_ROWS):
        np.dot(foo, data[i])
    t_loop = (time.perf_counter() - start) * ROWS / LOOP_ROWS
    del foo
    print(f"  time lazyein first call (plans the expression): {cold * 1e3:.2f} ms; "
          "below, build + compute with the plan cached")
    report_time(t_lazy, "expert rewrite", t_expert)
    report_time(t_lazy, "dense np.kron + matmul", t_dense)
    print(f"  time original per-row loop over the dense kron: ~{t_loop:.1f} s "
          f"(extrapolated from {LOOP_ROWS} rows)")

    m_lazy = peak_working_bytes(lazy)
    report_memory(m_lazy, "expert rewrite", peak_working_bytes(expert))
    report_memory(m_lazy, "dense np.kron + matmul", peak_working_bytes(dense_kron))
    print(f"  (the dense kron alone is {human(n * n * W0.size * 8)}; "
          f"lazyein's plan estimated {human(plan.peak_bytes)} of working memory)")
    print(f"  problem 1: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    main()
