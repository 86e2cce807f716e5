"""Issue 13: indexing computes only the entries asked for, and roll is index arithmetic.

`E[:5, :7]` of a (20000 x 200) @ (200 x 20000) product (3.2 GB if built) against numpy's
``A[:5] @ B[:, :7]``; the periodic 2-D Laplacian on a 2000 x 2000 grid written as a Kronecker
sum of rolled identities, applied to u within 64 MB, against numpy's np.roll stencil."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402
from lazyein.testing import traced_working_bytes  # noqa: E402

ROWS, INNER = 20000, 200
GRID = 2000


def _corner() -> tuple[str, str]:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((ROWS, INNER)), rng.standard_normal((INNER, ROWS))
    corner = le.lazy_einsum("ij,jk->ik", a, b)[:5, :7]  # built once: reuse plans nothing
    plan = corner.explain(max_bytes="1MB")
    base = "numpy A[:5] @ B[:, :7]"
    medians = run({base: lambda: a[:5] @ b[:, :7],
                   "lazyein E[:5, :7].compute(1MB)": lambda: corner.compute(max_bytes="1MB"),
                   "lazyein build + compute": lambda: le.lazy_einsum(
                       "ij,jk->ik", a, b)[:5, :7].compute(max_bytes="1MB")},
                  baseline=base, repeat=7, calls=200, rtol=1e-9)
    _, working = traced_working_bytes(lambda: corner.compute(max_bytes="1MB"))
    return rows(f"E[:5, :7] of ({ROWS}x{INNER}) @ ({INNER}x{ROWS}) f64", medians, base), (
        f"E[:5, :7]: {plan.flops:,} FLOPs planned (2*5*7*{INNER} = {2 * 5 * 7 * INNER:,}), "
        f"{working:,} B traced working memory (budget 1 MB).")


def laplacian(n: int):
    """The periodic 2-D Laplacian on an n x n grid: a Kronecker sum of rolled identities."""
    eye = le.eye(n)
    shift = le.roll(eye, 1, axis=0)
    second = shift + shift.T - 2 * eye
    return le.kron(second, eye) + le.kron(eye, second)


def _laplacian() -> tuple[str, str]:
    rng = np.random.default_rng(1)
    u = rng.standard_normal(GRID * GRID)
    grid = u.reshape(GRID, GRID)
    applied = laplacian(GRID) @ u

    def stencil():
        return (np.roll(grid, 1, 0) + np.roll(grid, -1, 0) + np.roll(grid, 1, 1)
                + np.roll(grid, -1, 1) - 4 * grid).reshape(-1)

    base = "numpy np.roll stencil"
    medians = run({base: stencil,
                   "lazyein (L @ u).compute(64MB)": lambda: applied.compute(max_bytes="64MB")},
                  baseline=base, repeat=7, rtol=1e-9, atol=1e-9)
    plan = applied.explain(max_bytes="64MB")
    _, working = traced_working_bytes(lambda: applied.compute(max_bytes="64MB"))
    _, numpy_working = traced_working_bytes(stencil)
    return rows(f"periodic Laplacian {GRID}x{GRID} (kron of rolled eyes) @ u", medians, base), (
        f"Laplacian: {plan.num_terms} terms (shifted views of u), {plan.flops:,} FLOPs, "
        f"{len(plan.materialized)} computed first; traced working memory {working / 2**20:.1f} "
        f"MiB (numpy's stencil: {numpy_working / 2**20:.1f} MiB).")


def main() -> tuple[str, str]:
    """The table's rows, and notes on work and memory."""
    corner, corner_note = _corner()
    lap, lap_note = _laplacian()
    return corner + "\n" + lap, corner_note + " " + lap_note


if __name__ == "__main__":
    table, note = main()
    print(HEADER, table, "", note, sep="\n")
