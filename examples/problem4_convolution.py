"""PROBLEMS.md problem 4: a 2-D convolution as a lazy linear operator W_K, never built.

W_K (w1, w2, nf, m1, m2, nch) is written two ways: the loop of pads and stacks of
PROBLEMS.md, and a loop-free form from offset identities. Either way lazyein recognizes the
stacked, uniformly shifted copies of the kernel as one sliding window over the image, and
`tensordot(W_K, A, 3)` runs as shift-and-add: one matrix product of strided views per kernel
offset. W_K would be 6 GB at 64x64 and 190 GB at 128x128.
"""

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

# (image m x m x nch, kernel k x k x nch x nf): the sizes of issue 3
SIZES = ((64, 3, 3, 16), (128, 5, 3, 32))


def operator_by_loop(K, m1: int, m2: int) -> le.LazyTensor:
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


def operator_loop_free(K, m1: int, m2: int) -> le.LazyTensor:
    """The same W_K from offset identities: S1[a, x, u] = 1 where x = u + a, that is
    ``eye(m1, w1, k=-a)`` stacked over the kernel rows a (S2 likewise over the columns), and
    W_K[u, v, f, x, y, c] = sum over a, b of S1[a, x, u] S2[b, y, v] K[a, b, c, f]."""
    k1, k2 = K.shape[:2]
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    S1 = le.stack([le.eye(m1, w1, k=-a) for a in range(k1)])
    S2 = le.stack([le.eye(m2, w2, k=-b) for b in range(k2)])
    return le.lazy_einsum("axu,byv,abcf->uvfxyc", S1, S2, K)


def dense_operator(K: np.ndarray, m1: int, m2: int) -> np.ndarray:
    """The loop of PROBLEMS.md, materializing W_K (only for a small image)."""
    k1, k2, nch, nf = K.shape
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    W = np.zeros((w1, w2, nf, m1, m2, nch))
    for i, j in np.ndindex(w1, w2):
        W[i, j, :, i:i + k1, j:j + k2, :] = K.transpose(3, 0, 1, 2)
    return W


def shift_and_add(A: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The best hand-written numpy: one matrix product of views per kernel offset."""
    k1, k2 = K.shape[:2]
    w1, w2 = A.shape[0] - k1 + 1, A.shape[1] - k2 + 1
    return sum(A[a:a + w1, b:b + w2, :] @ K[a, b] for a in range(k1) for b in range(k2))


def one_size(m: int, k: int, nch: int, nf: int, rng) -> bool:
    A = rng.standard_normal((m, m, nch))
    K = rng.standard_normal((k, k, nch, nf))
    w = m - k + 1
    dense = w * w * nf * m * m * nch * 8
    print(f"  image {m}x{m}x{nch}, kernel {k}x{k}x{nch}x{nf}: W_K would be {human(dense)}")
    start = time.perf_counter()
    by_loop = le.tensordot(operator_by_loop(K, m, m), A, 3)
    built = time.perf_counter() - start
    plan = by_loop.explain()
    planned = time.perf_counter() - start - built
    print(f"    loop of {w * w} pads: built in {built * 1e3:.0f} ms, planned in "
          f"{planned * 1e3:.0f} ms: {plan.num_terms} term, {len(plan.materialized)} "
          f"materialized; {plan.terms[0].factors[1]}; {'; '.join(plan.terms[0].sliced)}")
    reference = shift_and_add(A, K)
    ok = check("loop form vs shift-and-add", by_loop.compute(), reference)

    def loop_free():
        return le.tensordot(operator_loop_free(K, m, m), A, 3).compute()

    ok &= check("loop-free form vs shift-and-add", loop_free(), reference)
    t_ref = best_time(lambda: shift_and_add(A, K), 7)
    report_time(best_time(by_loop.compute, 7), "shift-and-add (loop form, built once)", t_ref)
    report_time(best_time(loop_free, 7), "shift-and-add (loop-free form, build + compute)",
                t_ref)
    m_lazy = peak_working_bytes(loop_free)
    report_memory(m_lazy, "shift-and-add", peak_working_bytes(lambda: shift_and_add(A, K)))
    ok &= m_lazy < 32 * 2**20
    return ok


def main() -> bool:
    print("problem 4: a convolution as tensordot(W_K, A, 3), W_K never built")
    rng = np.random.default_rng(0)
    K = rng.standard_normal((3, 3, 3, 4))
    ok = check("10x10: loop form of W_K vs the dense loop",
               operator_by_loop(K, 10, 10).compute(), dense_operator(K, 10, 10))
    ok &= check("10x10: loop-free form of W_K vs the dense loop",
                operator_loop_free(K, 10, 10).compute(), dense_operator(K, 10, 10))
    for size in SIZES:
        ok &= one_size(*size, rng)
    print(f"  problem 4: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    main()
