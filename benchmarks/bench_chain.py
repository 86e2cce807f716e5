"""Issue 4: the chain 'ab,bc,cd,de->ae' (all dims 1500, float64), unbounded and within 8 MB
(every intermediate is 18 MB), against np.einsum(optimize='optimal'), with effective GFLOP/s
against one plain 2000 x 2000 matmul (what the machine's BLAS can do)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402

N = 1500
EQ = "ab,bc,cd,de->ae"
BUDGET = "8MB"
REPEAT = 7


def main() -> tuple[str, str]:
    """The table's rows, and a note on the budgeted plan."""
    rng = np.random.default_rng(0)
    A, B, C, D = (rng.standard_normal((N, N)) for _ in range(4))
    X, Y = rng.standard_normal((2, 2000, 2000))
    t = le.lazy_einsum(EQ, A, B, C, D)
    sliced = t.explain(max_bytes=BUDGET)
    base = "np.einsum (optimize='optimal')"
    cands = {
        base: lambda: np.einsum(EQ, A, B, C, D, optimize="optimal"),
        "A @ B @ C @ D": lambda: A @ B @ C @ D,
        "lazyein unbounded": lambda: le.lazy_einsum(EQ, A, B, C, D).compute(),
        f"lazyein max_bytes={BUDGET}": lambda: le.lazy_einsum(EQ, A, B, C, D).compute(
            max_bytes=BUDGET),
        "2000x2000 matmul (the limit)": lambda: X @ Y,
    }
    medians = run(cands, baseline=base, repeat=REPEAT, rtol=1e-9, atol=1e-6,
                  check=lambda name: not name.startswith("2000"))
    flops = {name: 2 * 3 * N**3 for name in cands}
    flops["2000x2000 matmul (the limit)"] = 2 * 2000**3
    table = rows(f"chain {EQ} n={N} f64", medians, base,
                 others=("lazyein unbounded",),
                 extra={name: f"{flops[name] / medians[name] / 1e9:.1f} GFLOP/s"
                        for name in cands})
    return table, (f"`{EQ}` within {BUDGET}: {sliced.num_chunks} chunks "
                    f"({'; '.join(sliced.terms[0].sliced)}), estimated peak "
                    f"{sliced.peak_bytes / 2**20:.1f} MiB.")


if __name__ == "__main__":
    table, note = main()
    print(HEADER, table, "", note, sep="\n")
