"""PROBLEMS.md problem 4: a "valid" 2-D convolution, image 64x64x3, kernel 3x3x3x16.

Side by side: shift-and-add (one matmul of views per kernel offset, the best hand-written
numpy measured here), a sliding_window_view einsum, an im2col tensordot, and lazyein's
`tensordot(W_K, A, 3)` with W_K written as the loop of pads (built once; compute timed) and
in the loop-free form (built and computed each call). The build of the 62 x 62 loop of pads
is timed on its own.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))
from harness import HEADER, fmt_seconds, rows, run  # noqa: E402
from problem4_convolution import (  # noqa: E402
    operator_by_loop,
    operator_loop_free,
    shift_and_add,
)

import lazyein as le  # noqa: E402

M, K_SIZE, NCH, NF = 64, 3, 3, 16
REPEAT = 31


def main() -> tuple[str, str]:
    """The table's rows, and a note on building the loop of pads."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, M, NCH))
    K = rng.standard_normal((K_SIZE, K_SIZE, NCH, NF))
    w = M - K_SIZE + 1
    windows = np.lib.stride_tricks.sliding_window_view(A, (K_SIZE, K_SIZE), axis=(0, 1))

    def im2col():
        patches = np.stack([A[a:a + w, b:b + w, :] for a in range(K_SIZE)
                            for b in range(K_SIZE)], axis=2)  # (w, w, k*k, nch)
        return np.tensordot(patches, K.reshape(K_SIZE * K_SIZE, NCH, NF), 2)

    builds = []
    for _ in range(5):
        fresh = K.copy()  # a new input: no node of an earlier build can be reused
        start = time.perf_counter()
        le.tensordot(operator_by_loop(fresh, M, M), A, 3)
        builds.append(time.perf_counter() - start)
    by_loop = le.tensordot(operator_by_loop(K, M, M), A, 3)
    by_loop.compute()  # planned once, as any repeated use of a built expression
    base = "shift-and-add (numpy)"
    medians = run({
        base: lambda: shift_and_add(A, K),
        "sliding_window_view einsum": lambda: np.einsum("uvcab,abcf->uvf", windows, K,
                                                        optimize=True),
        "im2col tensordot": im2col,
        "lazyein loop of pads, compute": by_loop.compute,
        "lazyein loop-free, build + compute": lambda: le.tensordot(
            operator_loop_free(K, M, M), A, 3).compute(),
    }, baseline=base, repeat=REPEAT, calls=5, rtol=1e-9, atol=1e-9)
    table = rows(f"problem 4 conv {M}x{M}x{NCH} * {K_SIZE}x{K_SIZE}x{NCH}x{NF}", medians, base,
                 others=("sliding_window_view einsum",))
    return table, (f"Problem 4: building the {w}x{w} loop of pads (and the tensordot) takes "
                   f"{fmt_seconds(statistics.median(builds))} (median of 5).")


if __name__ == "__main__":
    table, note = main()
    print(HEADER, table, "", note, sep="\n")
