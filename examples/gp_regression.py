"""Gaussian-process regression on a 400 x 400 grid: 160,000 points, whose dense covariance
would take 205 GB, solved with scipy's conjugate gradients on a lazy operator.

On a grid, an RBF kernel is separable: K = kron(K1, K2), one factor per axis. The system
(K + s I) alpha = y is solved by `scipy.sparse.linalg.cg` on
``le.aslinearoperator(le.kron(K1, K2) + s * le.eye(N))``, written as the maths reads, and
against a hand-written LinearOperator whose matvec is ``(K1 @ V @ K2.T).ravel() + s * v``.
lazyein finds the same two matrix products; its matvec is a `le.function`, planned once.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import check, human, peak_working_bytes, report_memory, report_time  # noqa: E402

import lazyein as le  # noqa: E402

GRID = 400      # points per axis: N = GRID**2 = 160,000 observations
NOISE = 0.5     # the observation noise variance s
LENGTH = 0.005  # the RBF kernel's length scale on [0, 1] (two grid steps: cg converges fast)
RTOL = 1e-6


def rbf(x: np.ndarray, length: float) -> np.ndarray:
    """The RBF kernel matrix of the 1-D points `x`, with a small nugget: SPD, well
    conditioned."""
    return np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / length**2) + 1e-6 * np.eye(len(x))


def hand_operator(K1: np.ndarray, K2: np.ndarray, s: float) -> LinearOperator:
    """What one writes by hand: (kron(K1, K2) + s I) v as two matrix products."""
    n1, n2 = len(K1), len(K2)
    return LinearOperator((n1 * n2, n1 * n2), dtype=K1.dtype,
                          matvec=lambda v: (K1 @ v.reshape(n1, n2) @ K2.T).ravel() + s * v)


def solve(operator, y, maxiter=1000):
    """cg to `RTOL` (or `maxiter` iterations), and its number of iterations."""
    iterations = []
    alpha, info = cg(operator, y, rtol=RTOL, maxiter=maxiter,
                     callback=lambda xk: iterations.append(1))
    assert info == 0 or maxiter < 1000, f"cg did not converge (info={info})"
    return alpha, len(iterations)


def main() -> bool:
    n, s = GRID, NOISE
    N = n * n
    print(f"GP regression on a {n}x{n} grid: N = {N:,} points; the dense covariance would be "
          f"{human(N * N * 8)}")
    x = np.linspace(0, 1, n)
    K1, K2 = rbf(x, LENGTH), rbf(x, 1.5 * LENGTH)
    rng = np.random.default_rng(0)
    truth = np.sin(6 * x)[:, None] * np.cos(4 * x)[None, :]
    y = (truth + np.sqrt(s) * rng.standard_normal((n, n))).ravel()

    lazy = le.aslinearoperator(le.kron(K1, K2) + s * le.eye(N))
    hand = hand_operator(K1, K2, s)
    ok = check("one matvec: lazyein vs hand", lazy.matvec(y), hand.matvec(y))

    start = time.perf_counter()
    alpha_lazy, iters_lazy = solve(lazy, y)
    t_lazy = time.perf_counter() - start
    start = time.perf_counter()
    alpha_hand, iters_hand = solve(hand, y)
    t_hand = time.perf_counter() - start
    print(f"  cg to rtol {RTOL:g}: {iters_lazy} iterations (hand-written: {iters_hand})")
    ok &= check("solution alpha: lazyein vs hand", alpha_lazy, alpha_hand, rtol=1e-6,
                atol=1e-8 * np.abs(alpha_hand).max())
    mean = (K1 @ alpha_lazy.reshape(n, n) @ K2.T)  # the posterior mean on the grid
    print(f"  posterior mean vs the noiseless truth: rms error "
          f"{np.sqrt(np.mean((mean - truth) ** 2)):.3f} (noise sd {np.sqrt(s):.3f})")
    report_time(t_lazy, "hand-written LinearOperator", t_hand)
    print(f"  per iteration: lazyein {t_lazy / iters_lazy * 1e3:.1f} ms, hand-written "
          f"{t_hand / iters_hand * 1e3:.1f} ms")

    # memory over a few iterations (each iteration allocates the same again)
    m_lazy = peak_working_bytes(lambda: solve(lazy, y, maxiter=3)[0])
    m_hand = peak_working_bytes(lambda: solve(hand, y, maxiter=3)[0])
    report_memory(m_lazy, "hand-written LinearOperator", m_hand)
    print(f"  (both include cg's own vectors; the operator's plan: "
          f"{human(lazy._function('A', y).explain().peak_bytes)} per matvec)")
    ok &= m_lazy <= m_hand + 4 * 2**20
    print(f"  GP regression: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
