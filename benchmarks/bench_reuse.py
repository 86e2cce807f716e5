"""Implicit reuse: an operator built once, applied to new arrays by ``(op @ v).compute()`` (no
le.function), against the best hand-written numpy; and what building and planning cost at
scale (the loops of pads of problem 4, a chain of 300 products), timed cold.

(a) the convolution of problem 4, ``le.tensordot(W_K, A, 3).compute()`` on a new image each
call; (b) the GP covariance ``kron(K1, K2) + s I`` (examples/gp_regression.py) applied to a
new vector; (c) a chain of 300 products of 20 x 20 matrices, built and computed each call.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))
from harness import HEADER, POOL, cycling, fmt_seconds, rows, run  # noqa: E402
from problem4_convolution import operator_by_loop, shift_and_add  # noqa: E402

import lazyein as le  # noqa: E402


def convolution(m=64, k=3, nch=3, nf=16, repeat=31) -> str:
    rng = np.random.default_rng(0)
    K = rng.standard_normal((k, k, nch, nf))
    images = [(rng.standard_normal((m, m, nch)),) for _ in range(POOL)]
    W = operator_by_loop(K, m, m)  # built once, as a user keeps an operator
    le.tensordot(W, images[0][0], 3).compute()  # and applied once before the timing

    def windowed(A):
        windows = np.lib.stride_tricks.sliding_window_view(A, (k, k), axis=(0, 1))
        return np.einsum("uvcab,abcf->uvf", windows, K, optimize=True)

    base = "sliding_window_view einsum"
    medians = run({
        base: cycling(windowed, images),
        "shift-and-add (numpy)": cycling(lambda A: shift_and_add(A, K), images),
        "lazyein tensordot(W, A, 3).compute(), new A": cycling(
            lambda A: le.tensordot(W, A, 3).compute(), images),
    }, baseline=base, repeat=repeat, calls=POOL, rtol=1e-9, atol=1e-9)
    return rows(f"reuse: conv {m}x{m}x{nch} * {k}x{k}x{nch}x{nf}, new image", medians, base,
                others=("shift-and-add (numpy)",))


def gp_matvec(n=400, s=0.1, repeat=21) -> str:
    rng = np.random.default_rng(0)
    K1, K2 = (_rbf(n, length) for length in (0.05, 0.1))
    op = le.kron(K1, K2) + s * le.eye(n * n)
    vectors = [(rng.standard_normal(n * n),) for _ in range(POOL)]
    (op @ vectors[0][0]).compute()
    base = "hand: (K1 @ V @ K2.T).ravel() + s v"
    medians = run({
        base: cycling(lambda v: (K1 @ v.reshape(n, n) @ K2.T).ravel() + s * v, vectors),
        "lazyein (op @ v).compute(), new v": cycling(lambda v: (op @ v).compute(), vectors),
    }, baseline=base, repeat=repeat, calls=POOL, rtol=1e-9, atol=1e-9)
    return rows(f"reuse: GP matvec kron(K1, K2) + s I, N={n * n}", medians, base)


def _rbf(n, length):
    x = np.linspace(0, 1, n)
    return np.exp(-0.5 * ((x[:, None] - x[None, :]) / length) ** 2)


def chain(count=300, size=20, repeat=21) -> str:
    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((size, size)) / np.sqrt(size) for _ in range(count)]

    def lazy():
        t = le.lazy(mats[0])
        for m in mats[1:]:
            t = t @ m
        return t.compute()

    base = "functools.reduce(np.matmul, ...)"
    medians = run({base: lambda: functools.reduce(np.matmul, mats),
                   "lazyein build + compute": lazy},
                  baseline=base, repeat=repeat, calls=5, rtol=1e-8, atol=1e-8)
    return rows(f"chain of {count} @ ({size}x{size}) f64", medians, base)


def _cold(fn, times=3) -> float:
    """Median seconds of `fn` run with lazyein's caches emptied first."""
    found = []
    for _ in range(times):
        le.api.clear_plan_cache()
        start = time.perf_counter()
        fn()
        found.append(time.perf_counter() - start)
    return statistics.median(found)


def planning() -> str:
    """Cold: building the loops of pads and planning their tensordot with an image; planning
    a chain of 300 products (already built)."""
    rng = np.random.default_rng(0)
    found = []
    for m, k, nch, nf in ((64, 3, 3, 16), (128, 5, 3, 32)):
        K = rng.standard_normal((k, k, nch, nf))
        A = rng.standard_normal((m, m, nch))

        def build_and_plan(K=K, A=A, m=m):
            le.tensordot(operator_by_loop(K.copy(), m, m), A, 3).explain()
        seconds = _cold(build_and_plan)
        found.append(f"the {m - k + 1}x{m - k + 1} loop of pads {fmt_seconds(seconds)}")
    mats = [rng.standard_normal((20, 20)) for _ in range(300)]
    t = le.lazy(mats[0])
    for mat in mats[1:]:
        t = t @ mat
    found.append(f"planning a chain of 300 products {fmt_seconds(_cold(t.explain))}")
    return "Building and planning, cold (median of 3): " + "; ".join(found) + "."


def main() -> tuple[str, str]:
    return "\n".join([convolution(), gp_matvec(), chain()]), planning()


if __name__ == "__main__":
    table, note = main()
    print(HEADER, table, "", note, sep="\n")
