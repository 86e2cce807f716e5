"""PROBLEMS.md problem 3: a tour of numpy's einsum grammar, each case checked against np.einsum."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, check, peak_working_bytes, report_memory, report_time  # noqa: E402

import lazyein as le  # noqa: E402

rng = np.random.default_rng(0)
a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
u, v = rng.standard_normal(4), rng.standard_normal(4)
s = rng.standard_normal((4, 4))
t3 = rng.standard_normal((4, 4, 3))
x = rng.standard_normal((2, 6, 3, 4))          # a stack of (3, 4) matrices
y = rng.standard_normal((6, 4, 5))             # broadcasts against x's (2, 6) batch
col, row = rng.standard_normal((3, 1)), rng.standard_normal((1, 4))
Q, K = rng.standard_normal((2, 4, 16, 8)), rng.standard_normal((2, 4, 16, 8))
ints = np.arange(12).reshape(3, 4)

# (what it is, the arguments of einsum: numpy's string form or its interleaved form)
TOUR = [
    ("transpose", ("ij->ji", a)),
    ("implicit output (alphabetical): transpose", ("ji", a)),
    ("sum of all entries", ("ij->", a)),
    ("row sums", ("ij->i", a)),
    ("column sums", ("ij->j", a)),
    ("dot product", ("i,i->", u, v)),
    ("implicit dot product", ("i,i", u, v)),
    ("matrix-vector", ("ij,j->i", s, u)),
    ("matrix product", ("ij,jk->ik", a, b)),
    ("implicit matrix product", ("ij,jk", a, b)),
    ("outer product", ("i,j->ij", u, v)),
    ("Hadamard product", ("ij,ij->ij", a, a)),
    ("three-way Hadamard", ("i,i,i->i", u, v, u)),
    ("trace (repeated label)", ("ii->", s)),
    ("implicit trace", ("ii", s)),
    ("diagonal", ("ii->i", s)),
    ("partial trace of a 3-D array", ("iij->j", t3)),
    ("bilinear form u^T S v", ("i,ij,j->", u, s, v)),
    ("batched attention (problem 3)", ("bimd,bind->bimn", Q, K)),
    ("ellipsis: batched matmul with broadcasting", ("...ij,...jk->...ik", x, y)),
    ("ellipsis: implicit output", ("...ij,...jk", x, y)),
    ("ellipsis: sum over the last axis", ("...i->...", x)),
    ("size-1 broadcasting of a label", ("ij,ij->ij", col, row)),
    ("upper- and lower-case labels", ("Ab,bC->AC", a, b)),
    ("integer operands", ("ij,kj->ik", ints, ints)),
    ("interleaved form: matrix product", (a, [0, 1], b, [1, 2], [0, 2])),
    ("interleaved form: implicit output", (a, [0, 1], b, [1, 2])),
    ("interleaved form with Ellipsis", (x, [Ellipsis, 0, 1], y, [Ellipsis, 1, 2],
                                        [Ellipsis, 0, 2])),
]


def tour() -> bool:
    ok = True
    for what, args in TOUR:
        try:
            got = le.lazy_einsum(*args).compute()
        except Exception as e:  # an example reports the failure; it does not hide it
            print(f"  check {what}: FAIL ({type(e).__name__}: {e})")
            ok = False
            continue
        expected = np.einsum(*args)
        same_dtype = got.dtype == expected.dtype
        ok &= check(what + ("" if same_dtype else f" [dtype {got.dtype} != {expected.dtype}]"),
                    got, expected) and same_dtype
    return ok


def attention() -> bool:
    b, h, m, n, d = 8, 8, 256, 256, 64
    eq = "bhmd,bhnd->bhmn"
    q = rng.standard_normal((b, h, m, d), dtype=np.float32)
    k = rng.standard_normal((b, h, n, d), dtype=np.float32)
    print(f"  multi-head attention scores einsum('{eq}') at {(b, h, m, n, d)} float32")
    lazy = lambda: le.lazy_einsum(eq, q, k).compute()
    eager = lambda: np.einsum(eq, q, k, optimize=True)
    ok = check("attention", lazy(), eager(), rtol=1e-4, atol=1e-4)
    report_time(best_time(lazy, 5), "np.einsum(optimize=True)", best_time(eager, 5))
    report_memory(peak_working_bytes(lazy), "np.einsum(optimize=True)",
                  peak_working_bytes(eager))
    return ok


def main() -> bool:
    print("problem 3: einsum as the language; every case against np.einsum")
    start = time.perf_counter()
    ok = tour()
    print(f"  the tour ({len(TOUR)} cases, build + plan + compute each) took "
          f"{(time.perf_counter() - start) * 1e3:.0f} ms")
    ok &= attention()
    print(f"  problem 3: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    main()
