"""Issue 13: structured constants. ``le.diag(v) @ A`` (n = 20,000) against ``v[:, None] * A``,
and the centering matrix ``(le.eye(n) - le.ones((n, n)) / n) @ X`` (n = 100,000) within 16 MB
against ``X - X.mean(0)``: neither builds an n x n array (3.2 GB and 80 GB)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402

N_DIAG, K_DIAG = 20_000, 64
N_CENTER, K_CENTER = 100_000, 8
REPEAT = 15


def main() -> tuple[str, str]:
    """The table's rows, and a note on the plans."""
    rng = np.random.default_rng(0)
    v, a = rng.standard_normal(N_DIAG), rng.standard_normal((N_DIAG, K_DIAG))
    scaled = le.diag(v) @ a
    base = "numpy: v[:, None] * A"
    medians = run({base: lambda: v[:, None] * a,
                   "lazyein compute": lambda: scaled.compute(),
                   "lazyein build + compute": lambda: (le.diag(v) @ a).compute()},
                  baseline=base, repeat=REPEAT)
    table = [rows(f"diag(v) @ A, A ({N_DIAG}x{K_DIAG}) f64", medians, base)]

    x = rng.standard_normal((N_CENTER, K_CENTER))
    n = N_CENTER
    centered = (le.eye(n) - le.ones((n, n)) / n) @ x
    base = "numpy: X - X.mean(0)"
    medians = run({base: lambda: x - x.mean(0),
                   "lazyein compute 16MB": lambda: centered.compute(max_bytes="16MB"),
                   "lazyein build + compute 16MB": lambda: (
                       (le.eye(n) - le.ones((n, n)) / n) @ x).compute(max_bytes="16MB")},
                  baseline=base, repeat=REPEAT)
    table.append(rows(f"centering (I - 11ᵀ/n) @ X, X ({N_CENTER}x{K_CENTER}) f64", medians,
                      base))
    plan = centered.explain(max_bytes="16MB")
    return "\n".join(table), (
        f"Centering: {plan.num_terms} terms (X, and -1/n times its column sum broadcast), "
        f"peak working memory {plan.peak_bytes:,} B, nothing materialized "
        f"({len(plan.materialized)}); diag(v) @ A: "
        f"{scaled.explain().num_terms} term, peak {scaled.explain().peak_bytes:,} B.")


if __name__ == "__main__":
    table, note = main()
    print(HEADER, table, "", note, sep="\n")
