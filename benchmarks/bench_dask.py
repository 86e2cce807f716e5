"""lazyein on dask: problem 2 against dask's own einsum, and the cost of going through dask.

Problem 2 with A, Z2 (and B, Y2) as chunked dask arrays: ``da.einsum`` on the naive expression
(C + C2 built by ``da.einsum``: two n*n*q arrays, in chunks), ``da.einsum`` on the four
hand-expanded terms, lazyein's plan run on dask, and lazyein on numpy over the same data in
memory. Then in-memory problems computed by lazyein on numpy and on dask (threads).
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import dask
import dask.array as da
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402
from lazyein.backends.dask import compute as run_on_dask  # noqa: E402

HAND = ("i,jk,i,kj->k", "j,ik,k,ij->k", "i,jk,k,ij->k", "j,ik,i,kj->k")
# (n = q, rounds): at 1000 the naive expression's 3-D arrays are 8 GB each, in chunks
SIZES = ((400, 5), (1000, 2))
NAIVE = "da.einsum, naive (C + C2 by da.einsum)"
ON_DASK = "lazyein on dask (threads)"
ON_NUMPY = "lazyein on numpy (same data in memory)"
FLOOR = "dask's floor: one task doing nothing (threads)"


def _problem2(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    A, Z2 = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    B, Y2 = rng.normal(size=n), rng.normal(size=n)
    return A, B, Y2, Z2


def _lazy_problem2(A, B, Y2, Z2):
    C = le.lazy_einsum("i,jk->ijk", B, A)
    C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
    return le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)


def problem2_candidates(n: int) -> dict:
    A, B, Y2, Z2 = _problem2(n)
    half = n // 2  # four chunks per matrix, two per vector
    dA, dZ2 = (da.from_array(x, chunks=(half, half)) for x in (A, Z2))
    dB, dY2 = (da.from_array(x, chunks=half) for x in (B, Y2))

    def naive():
        C = da.einsum("i,jk->ijk", dB, dA)
        C2 = da.einsum("j,ik->ijk", dY2, dZ2)
        return da.einsum("ijk,ikj->k", C + C2, C + C2).compute(scheduler="threads")

    def hand():
        ops = ((dB, dA, dB, dA), (dY2, dZ2, dY2, dZ2), (dB, dA, dY2, dZ2), (dY2, dZ2, dB, dA))
        terms = [da.einsum(eq, *o, optimize="optimal") for eq, o in zip(HAND, ops)]
        return dask.compute(sum(terms), scheduler="threads")[0]

    return {
        NAIVE: naive,
        "da.einsum, hand-expanded x4 (optimal)": hand,
        ON_DASK: lambda: _lazy_problem2(dA, dB, dY2, dZ2).compute(scheduler="threads"),
        ON_NUMPY: lambda: _lazy_problem2(A, B, Y2, Z2).compute(),
    }


def in_memory_cases() -> dict:
    """name -> a built expression over numpy inputs (building is not timed)."""
    rng = np.random.default_rng(1)
    W = rng.normal(size=(30, 784))
    data = rng.normal(size=(1666, 23520)).astype(np.float32)
    Q, K = (rng.normal(size=(8, 8, 256, 64)).astype(np.float32) for _ in range(2))
    image, kernel = rng.normal(size=(64, 64, 3)), rng.normal(size=(3, 3, 3, 16))
    chain = [rng.normal(size=(1500, 1500)) for _ in range(4)]
    return {
        "problem 1, kron(eye(30), W) @ data.T, f32 data": le.kron(le.eye(30), W) @ data.T,
        "problem 2, n=q=400": _lazy_problem2(*_problem2(400)),
        "attention 8x8x256x256x64 f32": le.lazy_einsum("bimd,bind->bimn", Q, K),
        "problem 4, 64x64x3 * 3x3x3x16, loop-free": _convolution(image, kernel),
        "chain ab,bc,cd,de->ae n=1500": le.lazy_einsum("ab,bc,cd,de->ae", *chain),
    }


def _convolution(image, kernel):
    """W_K loop-free (README "A convolution, loop-free"), applied to the image."""
    (m1, m2, _), (k1, k2, _, _) = image.shape, kernel.shape
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    S1 = le.stack([le.eye(m1, w1, k=-a) for a in range(k1)])
    S2 = le.stack([le.eye(m2, w2, k=-b) for b in range(k2)])
    W = le.lazy_einsum("axu,byv,abcf->uvfxyc", S1, S2, kernel)
    return le.tensordot(W, image, 3)


def main() -> str:
    out = []
    for n, repeat in SIZES:
        medians = run(problem2_candidates(n), baseline=NAIVE, repeat=repeat)
        out.append(rows(f"dask: problem 2, n=q={n}", medians, NAIVE, others=(ON_NUMPY,)))
        gc.collect()
    # what any computation through dask's threaded scheduler costs at least: one task that
    # does nothing, run the way lazyein runs its graphs
    trivial = [da.from_array(np.ones(1), chunks=1).map_blocks(np.negative)]
    for title, expr in in_memory_cases().items():
        cands = {ON_NUMPY.split(" (")[0]: expr.compute,
                 ON_DASK: lambda expr=expr: expr.compute(scheduler="threads"),
                 FLOOR: lambda: run_on_dask(trivial, "threads")}
        medians = run(cands, baseline="lazyein on numpy", repeat=7, rtol=1e-4, atol=1e-4,
                      check=lambda name: name != FLOOR)
        out.append(rows(f"dask: {title}", medians, "lazyein on numpy"))
        gc.collect()
    return "\n".join(out)


if __name__ == "__main__":
    print(HEADER)
    print(main())
