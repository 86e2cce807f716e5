"""PROBLEMS.md problem 4: a 2-D convolution as a lazy linear operator W_K built by pad and stack."""

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

# Kept small on purpose: the structure rules that make problem 4 fast (one term for the
# whole stack instead of one per window position) are a later issue of the engine.
M1, M2, NCH = 16, 16, 3
K1, K2, NF = 3, 3, 4


def lazy_operator(K: np.ndarray, m1: int, m2: int) -> le.LazyTensor:
    """W_K[i, j] = the kernel padded to the image, axes moved to (nf, m1, m2, nch)."""
    k1, k2 = K.shape[:2]
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    rows = []
    for i in range(w1):
        row = [le.moveaxis(le.pad(K, ((i, m1 - i - k1), (j, m2 - j - k2), (0, 0), (0, 0))),
                           3, 0)
               for j in range(w2)]
        rows.append(le.stack(row))
    return le.stack(rows)  # (w1, w2, nf, m1, m2, nch)


def dense_operator(K: np.ndarray, m1: int, m2: int) -> np.ndarray:
    """The loop of PROBLEMS.md, materializing W_K."""
    k1, k2, nch, nf = K.shape
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    W = np.zeros((w1, w2, nf, m1, m2, nch))
    for i, j in np.ndindex(w1, w2):
        W[i, j, :, i:i + k1, j:j + k2, :] = K.transpose(3, 0, 1, 2)
    return W


def convolve(A: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Reference "valid" convolution: shift and add over the kernel offsets."""
    k1, k2 = K.shape[:2]
    w1, w2 = A.shape[0] - k1 + 1, A.shape[1] - k2 + 1
    return sum(A[a:a + w1, b:b + w2, :] @ K[a, b] for a in range(k1) for b in range(k2))


def main() -> bool:
    print(f"problem 4: convolution of a {M1}x{M2}x{NCH} image with a {K1}x{K2}x{NCH}x{NF} "
          "kernel as tensordot(W_K, A, 3)")
    print("  (small on purpose: the engine's structure rules for problem 4 are a later issue)")
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M1, M2, NCH))
    K = rng.standard_normal((K1, K2, NCH, NF))

    start = time.perf_counter()
    W = lazy_operator(K, M1, M2)
    B = le.tensordot(W, A, 3)
    built = time.perf_counter() - start
    plan = B.explain()
    print(f"  W_K {W.shape} would be {human(W.nbytes)} dense; built lazily in "
          f"{built * 1e3:.1f} ms")
    print(f"  lazyein plan: {plan.num_terms} terms, {plan.flops:,} FLOPs, "
          f"estimated peak {human(plan.peak_bytes)}")
    for what in plan.materialized:
        print(f"  the plan materializes {what}")
    start = time.perf_counter()
    got = B.compute()
    cold = time.perf_counter() - start

    reference = convolve(A, K)
    ok = check("lazyein vs shift-and-add convolution", got, reference)
    ok &= check("dense W_K tensordot vs convolution",
                np.tensordot(dense_operator(K, M1, M2), A, 3), reference)
    ok &= check("lazyein W_K (computed) vs dense W_K", W.compute(), dense_operator(K, M1, M2))

    lazy = lambda: le.tensordot(lazy_operator(K, M1, M2), A, 3).compute()
    eager = lambda: np.tensordot(dense_operator(K, M1, M2), A, 3)
    print(f"  time lazyein first compute (plans the expression): {cold * 1e3:.1f} ms; "
          "below, build + compute with the plan cached")
    t_lazy = best_time(lazy)
    report_time(t_lazy, "dense W_K + np.tensordot", best_time(eager))
    report_time(t_lazy, "shift-and-add convolution",
                best_time(lambda: convolve(A, K)))
    m_lazy = peak_working_bytes(B.compute)
    report_memory(m_lazy, "dense W_K + np.tensordot", peak_working_bytes(eager))
    report_memory(m_lazy, "shift-and-add convolution",
                  peak_working_bytes(lambda: convolve(A, K)))
    small = le.tensordot(lazy_operator(K, 10, 10), A[:10, :10], 3).explain()
    print(f"  (for contrast, a 10x10 image: {small.num_terms} terms, "
          f"{len(small.materialized)} materialized, estimated peak {human(small.peak_bytes)})")
    big = (64 - 3 + 1) ** 2 * 16 * 64 * 64 * 3 * 8
    print(f"  at 64x64x3 with a 3x3x3x16 kernel the dense W_K would need {human(big)}")
    print(f"  problem 4: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    main()
