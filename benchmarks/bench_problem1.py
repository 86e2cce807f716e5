"""PROBLEMS.md problem 1: kron(eye(30), W0) @ data.T at full size (data 1666 x 23520).

float64: lazyein against the expert rewrite `data.reshape(-1, 784).dot(W0.T)` and against
materializing the kron for one matmul. float32 data within max_bytes='32MB': numpy's
promotion to float64 copies the whole input in the rewrite; lazyein casts chunk by chunk.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402

K, N, ROWS = 784, 30, 1666
REPEAT = 7
BUDGET = "32MB"


def _rewrite(x, W0):
    return x.reshape(-1, K).dot(W0.T).reshape(-1, N * N).T


EXPERT = "expert rewrite data.reshape(-1, 784).dot(W0.T)"


def float64_rows(W0, data) -> str:
    medians = run({
        EXPERT: lambda: _rewrite(data, W0),
        "lazyein build + compute": lambda: (le.kron(le.eye(N), W0) @ le.lazy(data).T).compute(),
        "np.kron + one matmul": lambda: np.kron(np.eye(N), W0) @ data.T,
    }, baseline=EXPERT, repeat=REPEAT, rtol=1e-9, atol=1e-9)
    return rows(f"problem 1 kron(eye(30), W0) @ data.T, {ROWS}x{N * K} f64", medians, EXPERT)


def float32_rows(W0, data32) -> tuple[str, str]:
    medians = run({
        EXPERT: lambda: _rewrite(data32, W0),
        f"lazyein max_bytes={BUDGET}": lambda: (le.kron(le.eye(N), W0) @ le.lazy(data32).T)
        .compute(max_bytes=BUDGET),
    }, baseline=EXPERT, repeat=REPEAT, rtol=1e-9, atol=1e-9)
    plan = (le.kron(le.eye(N), W0) @ le.lazy(data32).T).explain(max_bytes=BUDGET)
    return rows("problem 1, data float32 (promoted to f64)", medians, EXPERT), (
        f"Problem 1 with float32 data within {BUDGET}: {plan.num_chunks} chunks "
        f"({'; '.join(plan.terms[0].sliced)}), estimated peak "
        f"{plan.peak_bytes / 2**20:.1f} MiB.")


def main() -> tuple[str, str]:
    """The table's rows, and a note on the budgeted plan."""
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((N, K))
    data = rng.standard_normal((ROWS, N * K))
    table = float64_rows(W0, data)
    data32 = data.astype(np.float32)
    del data  # one copy of the input at a time
    more, note = float32_rows(W0, data32)
    return table + "\n" + more, note


if __name__ == "__main__":
    table, note = main()
    print(HEADER, table, "", note, sep="\n")
