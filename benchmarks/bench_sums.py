"""Issue 4: an einsum of 4 factors that are each a sum of 8 arrays (4096 products if fully
expanded). lazyein must plan it quickly and run no slower than adding each sum first and
doing one einsum, the obvious hand-written numpy."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402

N, TERMS = 400, 8
EQ = "ab,bc,cd,de->ae"
REPEAT = 25  # its two candidates are close: more rounds for a steady median


def main() -> tuple[str, str]:
    """The table's rows, and a note on planning."""
    rng = np.random.default_rng(0)
    parts = [[rng.standard_normal((N, N)) for _ in range(TERMS)] for _ in range(4)]

    def build():
        sums = [le.lazy(p[0]) for p in parts]
        for k in range(1, TERMS):
            sums = [s + le.lazy(p[k]) for s, p in zip(sums, parts)]
        return le.lazy_einsum(EQ, *sums)

    def by_hand():
        return np.einsum(EQ, *(sum(p[1:], start=p[0].copy()) for p in parts), optimize=True)

    le.api.clear_plan_cache()
    start = time.perf_counter()
    plan = build().explain()
    planning = time.perf_counter() - start
    base = "numpy: add each sum, then one einsum"
    medians = run({base: by_hand, "lazyein build + compute": lambda: build().compute()},
                  baseline=base, repeat=REPEAT, rtol=1e-9, atol=1e-6)
    return rows(f"einsum of 4 sums of {TERMS} ({N}x{N}) f64", medians, base), (
        f"The einsum of 4 sums of {TERMS}: planned in {planning * 1e3:.0f} ms (cold cache), "
        f"{plan.num_terms} terms, {len(plan.materialized)} sums computed first.")


if __name__ == "__main__":
    table, note = main()
    print(HEADER, table, "", note, sep="\n")
