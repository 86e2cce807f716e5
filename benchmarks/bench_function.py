"""le.function and le.aslinearoperator: an operator built and planned once, applied to new
arrays, against the best hand-written numpy (and opt_einsum's compiled contract_expression).

(a) the convolution of problem 4 as ``le.function(A, tensordot(W_K, A, 3))`` on a new image
each call; (b) the GP covariance kron(K1, K2) + s I of examples/gp_regression.py: one matvec,
and 50 iterations of scipy's cg; (c) per-call overhead at 10 x 10.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import opt_einsum

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))
from gp_regression import hand_operator, rbf  # noqa: E402
from harness import HEADER, POOL, cycling, rows, run  # noqa: E402
from problem4_convolution import operator_by_loop, shift_and_add  # noqa: E402

import lazyein as le  # noqa: E402


def convolution(m, k, nch, nf, repeat) -> str:
    rng = np.random.default_rng(0)
    K = rng.standard_normal((k, k, nch, nf))
    images = [(rng.standard_normal((m, m, nch)),) for _ in range(POOL)]
    A = le.placeholder((m, m, nch), name="A")
    f = le.function(A, le.tensordot(operator_by_loop(K, m, m), A, 3))

    def by_einsum(image):
        windows = np.lib.stride_tricks.sliding_window_view(image, (k, k), axis=(0, 1))
        return np.einsum("uvcab,abcf->uvf", windows, K, optimize=True)

    base, other = "sliding_window_view einsum", "shift-and-add (numpy)"
    medians = run({
        base: cycling(by_einsum, images),
        other: cycling(lambda image: shift_and_add(image, K), images),
        "le.function (loop of pads)": cycling(f, images),
    }, baseline=base, repeat=repeat, calls=3, rtol=1e-9, atol=1e-9)
    return rows(f"function: conv {m}x{m}x{nch} * {k}x{k}x{nch}x{nf}, new image each call",
                medians, base, others=(other,))


def gp(repeat) -> str:
    n, s = 400, 0.5
    N = n * n
    x = np.linspace(0, 1, n)
    K1, K2 = rbf(x, 0.005), rbf(x, 0.0075)
    rng = np.random.default_rng(0)
    vectors = [(rng.standard_normal(N),) for _ in range(POOL)]
    operator = le.kron(K1, K2) + s * le.eye(N)
    v = le.placeholder((N,), name="v")
    f = le.function(v, operator @ v)
    base = "hand (K1 @ V @ K2.T).ravel() + s * v"
    matvec = run({
        base: cycling(lambda b: (K1 @ b.reshape(n, n) @ K2.T).ravel() + s * b, vectors),
        "le.function(v, op @ v)": cycling(f, vectors),
    }, baseline=base, repeat=repeat, calls=5)

    from scipy.sparse.linalg import cg

    lazy, hand = le.aslinearoperator(operator), hand_operator(K1, K2, s)
    b = vectors[0][0]

    def iterations(op):
        return lambda: cg(op, b, rtol=1e-30, atol=0, maxiter=50)[0]

    cg_base = "cg x50, hand-written LinearOperator"
    solves = run({cg_base: iterations(hand), "cg x50, le.aslinearoperator": iterations(lazy)},
                 baseline=cg_base, repeat=max(3, repeat // 4), rtol=1e-6, atol=1e-9)
    return "\n".join((rows(f"function: GP matvec, N = {N:,}", matvec, base),
                      rows(f"function: GP cg, 50 iterations, N = {N:,}", solves, cg_base)))


def overhead(repeat) -> str:
    rng = np.random.default_rng(0)
    eq = "ij,jk,kl->il"
    triples = [tuple(rng.standard_normal((10, 10)) for _ in range(3)) for _ in range(64)]
    a, b, c = (le.placeholder((10, 10), name=n) for n in "abc")
    f = le.function([a, b, c], le.einsum(eq, a, b, c))
    expression = opt_einsum.contract_expression(eq, (10, 10), (10, 10), (10, 10))
    base = "opt_einsum.contract_expression"
    chain = run({
        base: cycling(expression, triples),
        "le.function": cycling(f, triples),
        "a @ b @ c (floor)": cycling(lambda a, b, c: a @ b @ c, triples),
    }, baseline=base, repeat=repeat, calls=200)

    A, B = rng.standard_normal((10, 10)), rng.standard_normal((10, 10))
    v = le.placeholder((100,), name="v")
    g = le.function(v, le.kron(A, B) @ v)
    vectors = [(rng.standard_normal(100),) for _ in range(64)]
    hand = "hand (A @ v.reshape(10, 10) @ B.T).ravel()"
    kron = run({
        hand: cycling(lambda x: (A @ x.reshape(10, 10) @ B.T).ravel(), vectors),
        "le.function(v, kron(A, B) @ v)": cycling(g, vectors),
    }, baseline=hand, repeat=repeat, calls=200)
    return "\n".join((rows("function: overhead ij,jk,kl->il 10x10 (per call)", chain, base),
                      rows("function: overhead kron(A, B) @ v 10x10 (per call)", kron, hand)))


def main() -> str:
    return "\n".join((convolution(64, 3, 3, 16, repeat=21), convolution(128, 5, 3, 32, repeat=9),
                      gp(repeat=21), overhead(repeat=41)))


if __name__ == "__main__":
    print(HEADER, main(), sep="\n")
