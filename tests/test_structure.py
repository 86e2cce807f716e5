"""Structure costs nothing (issue 3): eye, kron, pad, stack, concatenate, reshape and sliding
windows are index arithmetic, never arrays; checked against numpy, with tracemalloc."""

import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyein as le
from lazyein.api import clear_plan_cache
from lazyein.testing import tolerance, traced_working_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from problem4_convolution import (  # noqa: E402
    dense_operator,
    operator_by_loop,
    operator_loop_free,
    shift_and_add,
)

MB = 2**20

# The same builders run twice: with lazyein (structure stays lazy) and with numpy (the eager
# oracle, which builds every structured operand in full).
NP = SimpleNamespace(lazy=np.asarray, eye=np.eye, kron=np.kron, pad=np.pad, stack=np.stack,
                     concatenate=np.concatenate, reshape=np.reshape, einsum=np.einsum,
                     tensordot=np.tensordot, matmul=np.matmul, transpose=np.transpose,
                     moveaxis=np.moveaxis, trace=np.trace)


def _close(got, want, rtol=1e-9):
    """`got` is an ndarray of `want`'s shape and dtype, equal to rounding."""
    assert isinstance(got, np.ndarray), type(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    scale = float(np.max(np.abs(want), initial=1.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def _costs_nothing(t, want, dense_bytes, limit=None):
    """`t` computes `want`; with its plan cached, computing it again allocates far less than
    `dense_bytes` (the structured operand built in full), and nothing is materialized."""
    _close(t.compute(), want)  # plans, and caches the plan
    got, working = traced_working_bytes(t.compute)
    _close(got, want)
    limit = dense_bytes // 32 if limit is None else limit
    assert working < limit, (f"traced working memory {working:,} B, the structured operand in "
                             f"full is {dense_bytes:,} B")
    plan = t.explain()
    assert plan.materialized == (), plan.materialized
    return plan


rng = np.random.default_rng(2024)


def _r(*shape):
    return rng.standard_normal(shape)


# -- one structural rule per case ------------------------------------------------------------
# name -> (build(ns, arrays) -> (result, structured operand), shapes of the arrays). The
# structured operand is many MB in full; the legitimate work (inputs excepted) is a few hundred
# KB at most.
N = 2000
W16, W8, W30 = _r(16, 64), _r(8, 16), _r(30, 30)
RULES = {
    "A @ eye(N)": (lambda ns, a: (ns.lazy(a[0]) @ (e := ns.eye(N)), e), [(64, N)]),
    "eye(N) @ A": (lambda ns, a: ((e := ns.eye(N)) @ ns.lazy(a[0]), e), [(N, 64)]),
    "A + eye(N)": (lambda ns, a: (ns.lazy(a[0]) + (e := ns.eye(N)), e), [(N, N)]),
    "A - 2 eye(N, k=7) + eye(N, k=-7)": (
        lambda ns, a: (ns.lazy(a[0]) - 2 * (e := ns.eye(N, k=7)) + ns.eye(N, k=-7), e),
        [(N, N)]),
    "A * eye(N)": (lambda ns, a: (ns.lazy(a[0]) * (e := ns.eye(N)), e), [(N, N)]),
    "einsum ij,jk eye(N, M, k=4)": (
        lambda ns, a: (ns.einsum("ij,jk->ik", e := ns.eye(N, N + 10, k=4), ns.lazy(a[0])), e),
        [(N + 10, 3)]),
    "einsum ji,jk eye(N, M, k=-4)": (
        lambda ns, a: (ns.einsum("ji,jk->ik", e := ns.eye(N + 10, N, k=-4), ns.lazy(a[0])), e),
        [(N + 10, 3)]),
    "einsum ij,ij->i eye(k=3) (a diagonal)": (
        lambda ns, a: (ns.einsum("ij,ij->i", ns.lazy(a[0]), e := ns.eye(N, k=3)), e),
        [(N, N)]),
    "trace(A @ eye(k=-2))": (
        lambda ns, a: (ns.trace(ns.lazy(a[0]) @ (e := ns.eye(N, k=-2))), e), [(N, N)]),
    "kron(eye(64), W) @ x": (
        lambda ns, a: ((k := ns.kron(ns.eye(64), W16)) @ ns.lazy(a[0]), k), [(64 * 64, 8)]),
    "kron(W, eye(64)) @ x": (
        lambda ns, a: ((k := ns.kron(W16, ns.eye(64))) @ ns.lazy(a[0]), k), [(64 * 64, 8)]),
    "x @ kron(eye(64), W).T": (
        lambda ns, a: (ns.lazy(a[0]) @ (k := ns.kron(ns.eye(64), W16)).T, k), [(8, 64 * 64)]),
    "kron(eye(64, k=1), W) @ x": (
        lambda ns, a: ((k := ns.kron(ns.eye(64, k=1), W16)) @ ns.lazy(a[0]), k),
        [(64 * 64, 8)]),
    "kron(W, eye(64, 66, k=-1)) @ x": (
        lambda ns, a: ((k := ns.kron(W16, ns.eye(64, 66, k=-1))) @ ns.lazy(a[0]), k),
        [(64 * 66, 8)]),
    "kron(kron(eye(16), W), eye(8)) @ x": (
        lambda ns, a: ((k := ns.kron(ns.kron(ns.eye(16), W8), ns.eye(8))) @ ns.lazy(a[0]), k),
        [(16 * 16 * 8, 4)]),
    "kron(W, kron(eye(32), W)) @ x": (
        lambda ns, a: ((k := ns.kron(W8[:4, :4], ns.kron(ns.eye(32), W8))) @ ns.lazy(a[0]), k),
        [(4 * 32 * 16, 4)]),
    "reshape(kron) splits, einsum with a dense operand": (
        lambda ns, a: (ns.einsum("abcd,cde->abe",
                                 k := ns.reshape(ns.kron(ns.eye(64), W16), (64, 16, 64, 64)),
                                 ns.lazy(a[0])), k), [(64, 64, 5)]),
    "reshape merges an einsum of eye and W, matmul with a dense operand": (
        lambda ns, a: ((k := ns.reshape(ns.einsum("ij,pq->ipjq", ns.eye(64), W16),
                                        (64 * 16, 64 * 64))) @ ns.lazy(a[0]), k),
        [(64 * 64, 5)]),
    "reshape(eye) splits": (
        lambda ns, a: (ns.einsum("abc,cd->abd", e := ns.reshape(ns.eye(N), (40, 50, N)),
                                 ns.lazy(a[0])), e), [(N, 3)]),
    "reshape merges eye (x) eye": (
        lambda ns, a: ((e := ns.reshape(ns.einsum("ij,kl->ikjl", ns.eye(40), ns.eye(50)),
                                        (N, N))) @ ns.lazy(a[0]), e), [(N, 3)]),
    "pad(A) @ v": (
        lambda ns, a: ((p := ns.pad(ns.lazy(a[0]), ((700, 800), (900, 700)))) @ ns.lazy(a[1]),
                       p), [(500, 400), (2000, 3)]),
    "v @ pad(A)": (
        lambda ns, a: (ns.lazy(a[1]).T @ (p := ns.pad(ns.lazy(a[0]), ((700, 800), (0, 1600)))),
                       p), [(500, 400), (2000, 3)]),
    "pad(A) @ pad(B)": (
        lambda ns, a: ((p := ns.pad(ns.lazy(a[0]), ((700, 800), (900, 700))))
                       @ ns.pad(ns.lazy(a[1]), ((1000, 600), (0, 0))), p),
        [(500, 400), (400, 3)]),
    "stack([eye, 2 eye, eye(k=1)]) @ x": (
        lambda ns, a: ((s := ns.stack([ns.eye(N), 2 * ns.eye(N), ns.eye(N, k=1)]))
                       @ ns.lazy(a[0]), s), [(N, 3)]),
    "concatenate([eye, eye(k=-2)], axis=1) @ x": (
        lambda ns, a: ((c := ns.concatenate([ns.eye(N), ns.eye(N, k=-2)], axis=1))
                       @ ns.lazy(a[0]), c), [(2 * N, 3)]),
    "concatenate([eye, eye(k=-2)], axis=0) @ x": (
        lambda ns, a: ((c := ns.concatenate([ns.eye(N), ns.eye(N, k=-2)], axis=0))
                       @ ns.lazy(a[0]), c), [(N, 3)]),
    "einsum of a stack with a dense operand": (
        lambda ns, a: (ns.einsum("sij,jk->ski", s := ns.stack([ns.eye(N), ns.eye(N, k=3)]),
                                 ns.lazy(a[0])), s), [(N, 2)]),
    "stack of sums @ x": (
        lambda ns, a: ((s := ns.stack([ns.eye(1200) + ns.eye(1200, k=1),
                                       2 * ns.eye(1200) - ns.eye(1200, k=-1),
                                       ns.kron(ns.eye(40), W30) - ns.kron(ns.eye(40, k=1), W30)]))
                       @ ns.lazy(a[0]), s), [(1200, 2)]),
    "pad of a kron @ x": (
        lambda ns, a: ((p := ns.pad(ns.kron(ns.eye(64), W16), ((3, 4), (6, 4))))
                       @ ns.lazy(a[0]), p), [(64 * 64 + 10, 4)]),
    "pad of a kron, rows only, @ x": (
        lambda ns, a: ((p := ns.pad(ns.kron(ns.eye(64), W16), ((3, 4), (0, 0))))
                       @ ns.lazy(a[0]), p), [(64 * 64, 4)]),
    "reshape of a pad (the other axis split), einsum": (
        lambda ns, a: (ns.einsum("ab,bcd->acd", ns.lazy(a[0]),
                                 r := ns.reshape(ns.pad(ns.eye(N), ((2, 4), (0, 0))),
                                                 (N + 6, N // 10, 10))), r), [(4, N + 6)]),
    "reshape of a pad (the padded axis split), einsum": (
        lambda ns, a: (ns.einsum("abc,bcd->ad",
                                 r := ns.reshape(ns.pad(ns.eye(N), ((0, 0), (10, 10))),
                                                 (N, N // 10 + 2, 10)), ns.lazy(a[0])), r),
        [(N // 10 + 2, 10, 3)]),
    "reshape merging a padded outer axis @ x": (
        lambda ns, a: ((r := ns.reshape(ns.pad(ns.reshape(ns.eye(N), (40, 50, N)),
                                               ((1, 1), (0, 0), (0, 0))), (42 * 50, N)))
                       @ ns.lazy(a[0]), r), [(N, 3)]),
    "reshape merging a padded inner axis @ x": (
        lambda ns, a: ((r := ns.reshape(ns.pad(ns.reshape(ns.eye(N), (40, 50, N)),
                                               ((0, 0), (1, 1), (0, 0))), (40 * 52, N)))
                       @ ns.lazy(a[0]), r), [(N, 3)]),
    "reshape merging a stacked axis @ x": (
        lambda ns, a: ((r := ns.reshape(ns.stack([ns.eye(N), ns.eye(N, k=1)]), (2 * N, N)))
                       @ ns.lazy(a[0]), r), [(N, 3)]),
    "kron of a pad @ x": (
        lambda ns, a: ((k := ns.kron(ns.eye(64), ns.pad(ns.lazy(a[0]), ((1, 1), (2, 0)))))
                       @ ns.lazy(a[1]), k), [(28, 30), (64 * 32, 3)]),
    "transposed kron @ x": (
        lambda ns, a: ((k := ns.transpose(ns.kron(ns.eye(64), W16))) @ ns.lazy(a[0]), k),
        [(64 * 16, 3)]),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_structured_operand_is_never_allocated(rule):
    build, shapes = RULES[rule]
    arrays = [_r(*shape) for shape in shapes]
    want, dense = build(NP, arrays)
    t, structured = build(le, arrays)
    assert isinstance(t, le.LazyTensor) and isinstance(structured, le.LazyTensor)
    assert structured.shape == dense.shape and structured.nbytes == dense.nbytes
    assert dense.nbytes >= 16 * MB, dense.nbytes  # the check below is meaningful
    del dense
    _costs_nothing(t, want, structured.nbytes)


def test_a_plus_eye_writes_only_the_diagonal():
    A = _r(N, N)
    t = le.lazy(A) + le.eye(N, k=5)
    plan = _costs_nothing(t, A + np.eye(N, k=5), N * N * 8)
    # the eye term has no factor: a constant written on the N - 5 diagonal entries
    assert plan.num_terms == 2
    assert sorted(len(term.factors) for term in plan.terms) == [0, 1]


def test_eye_with_a_dense_operand_is_a_view_of_it():
    A = _r(64, N)
    plan = (le.lazy(A, name="A") @ le.eye(N)).explain()
    assert plan.num_terms == 1 and plan.flops <= A.size
    plan = le.einsum("ij,ij->i", le.lazy(_r(N, N), name="S"), le.eye(N, k=3)).explain()
    assert "diagonal" in plan.terms[0].factors[0], plan.terms[0].factors


def test_kron_with_eye_is_split_not_merged():
    x = le.lazy(_r(64 * 64, 8), name="x")
    plan = (le.kron(le.eye(64), W16) @ x).explain()
    assert plan.num_terms == 1
    assert any(f.startswith("x ") and "split" in f for f in plan.terms[0].factors), plan
    assert plan.flops <= 2 * 64 * 16 * 64 * 8  # the rewrite's FLOPs, not the kron matrix's


@pytest.mark.parametrize("constant", [2.0, -1.5, ((1.0, 2.0), (3.0, 4.0))])
def test_nonzero_pad_constant_costs_a_few_small_terms(constant):
    A, v = _r(500, 400), _r(2000, 3)
    widths = ((700, 800), (900, 700))
    t = le.pad(A, widths, constant_values=constant) @ v
    want = np.pad(A, widths, constant_values=constant) @ v
    plan = _costs_nothing(t, want, 2000 * 2000 * 8)
    zero = (le.pad(A, widths) @ v).explain()
    # one term per slab of the frame at most, each a sum over a slice of v
    assert plan.num_terms <= zero.num_terms + 2 * A.ndim
    assert plan.flops <= zero.flops + 2 * A.ndim * v.size, (plan.flops, zero.flops)


def test_pad_reads_a_slice_of_the_dense_operand():
    plan = (le.pad(_r(500, 400), ((700, 800), (900, 700))) @ le.lazy(_r(2000, 3), name="v"))
    plan = plan.explain()
    assert plan.num_terms == 1
    assert any(f.startswith("v ") and "slice" in f for f in plan.terms[0].factors), plan


# -- sliding windows: shifted copies of one operand -------------------------------------------
def conv1d_operator(k, n, stride=1, shifts=None):
    """W[u, x] = k[x - shift_u]: a stack of pads of `k` (shifts u * stride unless given)."""
    kk = len(k)
    if shifts is None:
        shifts = range(0, n - kk + 1, stride)
    return le.stack([le.pad(k, (s, n - kk - s)) for s in shifts])


def conv2d_strided_operator(K, m1, m2, s):
    """The loop of PROBLEMS.md with the kernel moved by `s` per output pixel."""
    k1, k2 = K.shape[:2]
    w1, w2 = (m1 - k1) // s + 1, (m2 - k2) // s + 1
    return le.stack([le.stack([le.moveaxis(le.pad(K, ((s * i, m1 - s * i - k1),
                                                       (s * j, m2 - s * j - k2), (0, 0), (0, 0))),
                                           3, 0) for j in range(w2)]) for i in range(w1)])


def _windowed(plan, name):
    return [f for f in plan.terms[0].factors if f.startswith(name + " ") and "window" in f]


def test_conv1d_stack_of_pads_is_one_window():
    n, kk = 4000, 7
    k, x = _r(kk), _r(n)
    W = conv1d_operator(k, n)
    t = W @ le.lazy(x, name="x")
    want = np.convolve(x, k[::-1], mode="valid")
    plan = _costs_nothing(t, want, W.nbytes)
    assert W.nbytes >= 64 * MB
    assert plan.num_terms == 1 and _windowed(plan, "x"), plan
    assert plan.flops <= 4 * n * kk


def test_conv1d_batched_and_as_concatenation():
    n, kk = 4000, 7
    k, X = _r(kk), _r(n, 5)
    want = np.stack([np.convolve(X[:, j], k[::-1], mode="valid") for j in range(5)], axis=1)
    W = conv1d_operator(k, n)
    _costs_nothing(W @ X, want, W.nbytes)
    # the same rows concatenated as (1, n) blocks, and as blocks of two rows
    rows = le.concatenate([le.reshape(le.pad(k, (u, n - kk - u)), (1, n))
                           for u in range(n - kk + 1)])
    _costs_nothing(rows @ X, want, rows.nbytes)
    pairs = le.concatenate([le.stack([le.pad(k, (2 * u, n - kk - 2 * u)),
                                      le.pad(k, (2 * u + 1, n - kk - 2 * u - 1))])
                            for u in range((n - kk + 1) // 2)])
    plan = _costs_nothing(pairs @ le.lazy(X, name="X"), want[:pairs.shape[0]], pairs.nbytes)
    assert plan.num_terms == 1 and _windowed(plan, "X"), plan


@pytest.mark.parametrize("stride", [2, 3])
def test_conv1d_strided_window(stride):
    n, kk = 4000, 7
    k, x = _r(kk), _r(n)
    W = conv1d_operator(k, n, stride)
    t = W @ le.lazy(x, name="x")
    want = np.convolve(x, k[::-1], mode="valid")[::stride]
    plan = _costs_nothing(t, want, W.nbytes)
    assert plan.num_terms == 1 and _windowed(plan, "x"), plan


def test_conv2d_stride_two_is_one_window():
    m, kk, nch, nf = 41, 3, 3, 8
    A, K = _r(m, m, nch), _r(kk, kk, nch, nf)
    W = conv2d_strided_operator(K, m, m, 2)
    w = (m - kk) // 2 + 1
    assert W.shape == (w, w, nf, m, m, nch)
    want = sum(A[a:a + 2 * w - 1:2, b:b + 2 * w - 1:2, :] @ K[a, b]
               for a in range(kk) for b in range(kk))
    t = le.tensordot(W, le.lazy(A, name="image"), 3)
    plan = _costs_nothing(t, want, W.nbytes)
    assert W.nbytes >= 64 * MB
    assert plan.num_terms == 1 and _windowed(plan, "image"), plan
    # the operator itself, small, against the dense loop
    small = conv2d_strided_operator(K[:2, :2, :1, :2], 7, 6, 2).compute()
    dense = np.zeros_like(small)
    for i, j in np.ndindex(*small.shape[:2]):
        dense[i, j, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2, :] = np.moveaxis(K[:2, :2, :1, :2], 3, 0)
    _close(small, dense, rtol=0)


def test_transposed_window_adds_up_overlapping_outputs():
    """Contracting the axis that counts the copies keeps the window in the result: the
    copies overlap there (a transposed convolution), so their contributions add up."""
    n, kk = 600, 5
    k, y = _r(kk), _r(n - kk + 1)
    W = conv1d_operator(k, n)
    _close((y @ W).compute(), np.convolve(y, k))  # (y @ W)[x] = sum_u y[u] k[x - u]
    _close(le.tensordot(y, W, 1).compute(), np.convolve(y, k))
    dense = np.stack([np.pad(k, (u, n - kk - u)) for u in range(n - kk + 1)])
    _close(W.sum(axis=0).compute(), dense.sum(axis=0))
    x = np.array([2.0, 1.0])  # the smallest case: two copies overlapping in one entry
    S = le.stack([le.pad(x, (0, 1)), le.pad(x, (1, 0))], axis=1)
    _close((S @ x).compute(), np.stack([np.pad(x, (0, 1)), np.pad(x, (1, 0))], axis=1) @ x)


_X3, _Y23 = np.ones(3), _r(2, 3)
COPIES_SUMMED = {
    "concatenate([pad(x, (1, 0))] * 2).sum()":
        lambda ns: ns.concatenate([ns.pad(_X3, (1, 0))] * 2).sum(),
    "concatenate([pad(x, 1, constant_values=1)] * 3).sum()":
        lambda ns: ns.concatenate([ns.pad(_X3, 1, constant_values=1)] * 3).sum(),
    "concatenate([pad(y, 1)] * 2, axis=1).sum(axis=1)":
        lambda ns: ns.concatenate([ns.pad(_Y23, 1)] * 2, axis=1).sum(axis=1),
    "einsum ij->i of 4 padded copies":
        lambda ns: ns.einsum("ij->i", ns.concatenate([ns.pad(_Y23, ((0, 0), (2, 1)))] * 4, axis=1)),
}


@pytest.mark.parametrize("case", list(COPIES_SUMMED))
def test_summing_concatenated_copies_counts_every_copy(case):
    """Equal copies concatenated along an axis, that axis summed: every copy counts."""
    make = COPIES_SUMMED[case]
    _close(make(le).compute(), np.asarray(make(NP)))


@pytest.mark.parametrize("build", [operator_by_loop, operator_loop_free])
def test_problem4_adjoint_is_the_transposed_convolution(build):
    """tensordot(G, W_K, 3): the operator's transpose applied, as in a convolution's gradient."""
    K, G = _r(3, 3, 2, 4), _r(6, 6, 4)
    _close(le.tensordot(G, build(K, 8, 8), 3).compute(),
           np.tensordot(G, dense_operator(K, 8, 8), 3))


@pytest.mark.parametrize("case", ["non-uniform", "a few", "decreasing", "sum of shifts"])
def test_shifted_copies_that_are_no_window_stay_right(case):
    """Copies whose shifts are not uniform (or overlap in the output) are no window: the
    result is still numpy's, and memory beyond the views is spent only on what explain()
    reports as materialized."""
    n, kk = 1200, 5
    k, x = _r(kk), _r(n)
    every = n - kk + 1
    if case == "sum of shifts":  # copies overlapping in the output: no axis counts them
        shifts = range(0, every, 7)
        W = sum((le.pad(k, (s, n - kk - s)) for s in shifts), start=le.lazy(np.zeros(n)))
        want = sum(np.pad(k, (s, n - kk - s)) for s in shifts) @ x
    else:
        shifts = {"non-uniform": sorted({int(s) for s in rng.integers(0, every, 60)}),
                  "a few": [0, 1, 2, 4, 8, 16],
                  "decreasing": list(range(every - 1, -1, -1))}[case]
        W = conv1d_operator(k, n, shifts=shifts)
        want = np.stack([np.pad(k, (s, n - kk - s)) for s in shifts]) @ x
    t = W @ x
    _close(t.compute(), want)
    got, working = traced_working_bytes(t.compute)
    _close(got, want)
    plan = t.explain()
    if plan.materialized:
        assert working < 2 * W.nbytes + MB
    else:  # one term per copy, each a slice of x
        assert working < MB, working
        assert plan.num_terms <= len(shifts) + 1


def test_both_forms_of_the_convolution_operator_are_the_dense_loop():
    K = _r(3, 2, 2, 3)
    dense = dense_operator(K, 7, 6)
    _close(operator_by_loop(K, 7, 6).compute(), dense, rtol=0)
    _close(operator_loop_free(K, 7, 6).compute(), dense, rtol=0)


# -- problem 1 at full size -------------------------------------------------------------------
@pytest.fixture(scope="module")
def problem1():
    gen = np.random.default_rng(1)
    W0 = gen.standard_normal((30, 784))
    data = gen.standard_normal((1666, 23520))
    expert = data.reshape(-1, 784).dot(W0.T).reshape(-1, 900).T
    return W0, data, expert


PROBLEM1_FORMS = {
    "kron @ lazy(data).T": lambda W0, data: le.kron(le.eye(30), W0) @ le.lazy(data).T,
    "le.matmul": lambda W0, data: le.matmul(le.kron(le.eye(30), W0), le.transpose(data)),
    "lazy_einsum": lambda W0, data: le.lazy_einsum("ij,kj->ik", le.kron(le.eye(30), W0),
                                                   data),
}


@pytest.mark.parametrize("form", list(PROBLEM1_FORMS))
def test_problem1_full_size_is_the_expert_rewrite(problem1, form):
    W0, data, expert = problem1
    t = PROBLEM1_FORMS[form](W0, data)
    assert t.shape == (900, 1666)
    clear_plan_cache()  # the cold compute plans too, within the same bound
    got, working = traced_working_bytes(t.compute)
    _close(got, expert)
    assert working < 4 * MB, f"{working:,} B; the kron alone is {900 * 23520 * 8:,} B"
    plan = t.explain()
    assert plan.materialized == () and plan.num_terms == 1, plan
    assert plan.flops <= 2 * 1666 * 30 * 30 * 784  # the expert rewrite's FLOPs


# -- problem 4 both ways at the sizes -------------------------------------------------
@pytest.mark.parametrize("m, k, nch, nf, form, cold", [
    (64, 3, 3, 16, "loop-free", True),
    (64, 3, 3, 16, "loop", True),
    (128, 5, 3, 32, "loop-free", True),
    # planning 3844 pads under tracemalloc takes ~10 s: measured with the plan cached
    (128, 5, 3, 32, "loop", False),
])
def test_problem4_convolution_operator_never_built(m, k, nch, nf, form, cold):
    gen = np.random.default_rng(m + k)
    A, K = gen.standard_normal((m, m, nch)), gen.standard_normal((k, k, nch, nf))
    build = operator_loop_free if form == "loop-free" else operator_by_loop
    W_K = build(le.lazy(K, name="kernel"), m, m)
    w = m - k + 1
    assert W_K.shape == (w, w, nf, m, m, nch)
    assert W_K.nbytes > 5 * 2**30  # 6 GB and 190 GB: never allocated
    t = le.tensordot(W_K, le.lazy(A, name="image"), 3)
    clear_plan_cache()
    if not cold:  # plan first, outside tracemalloc
        _close(t.compute(), shift_and_add(A, K))
    got, working = traced_working_bytes(t.compute)  # when cold, planning is measured too
    _close(got, shift_and_add(A, K))
    assert working < 32 * MB, f"{working:,} B"
    plan = t.explain()
    assert plan.num_terms == 1 and plan.materialized == (), plan
    assert _windowed(plan, "image"), plan.terms[0].factors


# -- property: compositions of structural operations against eager numpy ---------------------
_MAX_SIZE = 1500  # elements of any node
_MAX_WORK = 40_000  # product of the label sizes of the final contraction
# per program: the dtypes its leaves are drawn from
_LEAF_DTYPES = (("float64",) * 6 + ("float32", "int64", "complex128"),
                ("float64",), ("float32",), ("int64",), ("int64", "float32"))


class _Big(Exception):
    """A drawn node would be too big: the caller keeps its operand instead."""


@dataclass(frozen=True)
class Program:
    """Lines building one expression, run with NS = le (L = le.lazy) and NS = np (L = no-op).

    ``repr`` is a reproducer script."""

    inputs: dict
    lines: tuple

    def run(self, lazy: bool):
        ns = {"np": np, "NS": le if lazy else np, "L": le.lazy if lazy else np.asarray,
              **self.inputs}
        exec("\n".join(self.lines), ns)  # noqa: S102 - our own drawn code
        return ns["out"]

    def __repr__(self):
        arrays = [f"{k} = np.array({v.tolist()!r}, dtype={v.dtype.name!r})"
                  for k, v in self.inputs.items()]
        return "\n".join(["import numpy as np", "import lazyein as le", *arrays,
                          "NS, L = le, le.lazy  # numpy reference: NS, L = np, np.asarray",
                          *self.lines, "# expect out.compute() == the numpy reference"])


class _Drawer:
    def __init__(self, draw):
        self.draw = draw
        self.dtypes = self.pick(_LEAF_DTYPES)
        self.inputs, self.lines = {}, []
        self.env = {"np": np, "NS": np, "L": np.asarray}

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, seq):
        return self.draw(st.sampled_from(tuple(seq)))

    def emit(self, expr):
        """A new node ``expr``: its name and its eager numpy value."""
        value = np.asarray(eval(expr, self.env))  # noqa: S307 - our own drawn code
        if value.size > _MAX_SIZE or value.ndim > 5:
            raise _Big(expr)
        name = f"n{len(self.lines)}"
        self.env[name] = value
        self.lines.append(f"{name} = {expr}")
        return name, value

    def dense(self, shape, dtype=None):
        dtype = self.pick(self.dtypes) if dtype is None else dtype
        gen = np.random.default_rng(self.int(0, 2**16))
        x = gen.integers(-3, 4, shape).astype(dtype)
        if np.dtype(dtype).kind == "c":
            x = x + 1j * gen.integers(-3, 4, shape)
        name = f"x{len(self.inputs)}"
        self.inputs[name] = self.env[name] = x
        return self.emit(f"L({name})")

    def eye(self, n=None, m=None):
        n = self.int(1, 5) if n is None else n
        m = self.pick((None, 1, 2, 3, 5)) if m is None else m
        k = self.int(-3, 3)
        dtype = self.pick(("", "", "", ", dtype=np.int64", ", dtype=np.float32"))
        return self.emit(f"NS.eye({n}, {m}, {k}{dtype})")

    def leaf(self):
        if self.int(0, 2) == 0:
            return self.eye()
        return self.dense(tuple(self.int(1, 4) for _ in range(self.pick((1, 2, 2, 3)))))

    def node(self, depth):
        """A structured node composed of `depth` levels of structural operations at most."""
        if depth == 0 or self.int(0, 5) == 0:
            return self.leaf()
        op = self.pick(("kron", "kron", "pad", "pad", "stack_sums", "shifted", "shifted", "shifted",
                        "reshape", "reshape", "transpose", "eye_einsum", "eye_matmul", "add"))
        a = self.node(depth - 1)
        try:
            return getattr(self, "_" + op)(a, depth)
        except _Big:
            return a

    # -- structural operations, each applied to the drawn node `a` --
    def _kron(self, a, depth):
        b = self.node(depth - 1)
        if a[1].size * b[1].size > _MAX_SIZE:
            return b  # the newer structure: `a` is kept by the caller otherwise
        x, y = (a, b) if self.int(0, 1) else (b, a)
        return self.emit(f"NS.kron({x[0]}, {y[0]})")

    def _pad(self, a, depth):
        name, v = a
        widths = tuple((self.int(0, 3), self.int(0, 3)) for _ in range(v.ndim))
        kind = self.pick(("zero", "zero", "scalar", "pairs"))
        if kind == "zero":
            return self.emit(f"NS.pad({name}, {widths})")
        cv = (self.pick((1, -2, 3)) if kind == "scalar"
              else tuple((self.int(-2, 2), self.int(-2, 2)) for _ in range(v.ndim)))
        return self.emit(f"NS.pad({name}, {widths}, constant_values={cv!r})")

    def _stack_sums(self, a, depth):
        name, v = a
        forms = ["{a}", "2 * {a}", "-{a}", "{a} + {a}", "{a} + {d}", "{a} - {d}"]
        if v.ndim == 2:
            forms += ["{a} + {e}", "{a} - 2 * {e}"]
        items = []
        for _ in range(self.int(2, 3)):
            form = self.pick(forms)
            d = self.dense(v.shape)[0] if "{d}" in form else None
            e = self.eye(*v.shape)[0] if "{e}" in form else None
            items.append(self.emit(form.format(a=name, d=d, e=e))[0])
        axis = self.int(-v.ndim - 1, v.ndim)
        fn = self.pick(("stack", "concatenate")) if v.ndim else "stack"
        if fn == "concatenate":
            axis = self.int(-v.ndim, v.ndim - 1)
        return self.emit(f"NS.{fn}([{', '.join(items)}], axis={axis})")

    def _shifted(self, a, depth):
        """Copies of `a` padded along one axis by shifts, stacked or concatenated: uniform
        shifts (a sliding window), strided ones, or irregular ones."""
        name, v = a
        ax = self.int(0, v.ndim - 1)
        count = self.int(2, 5)
        kind = self.pick(("uniform", "uniform", "strided", "irregular", "decreasing"))
        if kind == "irregular":
            shifts = [self.int(0, 6) for _ in range(count)]
        else:
            step = 2 if kind == "strided" else 1
            shifts = [step * u for u in range(count)]
            if kind == "decreasing":
                shifts.reverse()
        total = v.shape[ax] + max(shifts) + self.int(0, 2)
        copies = []
        for s in shifts:
            widths = [(0, 0)] * v.ndim
            widths[ax] = (s, total - v.shape[ax] - s)
            copies.append(f"NS.pad({name}, {tuple(widths)})")
        if self.int(0, 1):
            return self.emit(f"NS.stack([{', '.join(copies)}], axis={self.int(0, v.ndim)})")
        return self.emit(f"NS.concatenate([{', '.join(copies)}], axis={self.int(0, v.ndim - 1)})")

    def _reshape(self, a, depth):
        name, v = a
        primes, m, p = [], v.size, 2
        while m > 1:
            while m % p == 0:
                primes.append(p)
                m //= p
            p += 1
        shape = [1] * self.int(1, 4)
        for f in primes:
            shape[self.int(0, len(shape) - 1)] *= f
        if self.int(0, 3) == 0:
            shape[self.int(0, len(shape) - 1)] = -1
        return self.emit(f"NS.reshape({name}, {tuple(shape)})")

    def _transpose(self, a, depth):
        name, v = a
        perm = tuple(self.draw(st.permutations(range(v.ndim))))
        form = self.pick(("NS.transpose({a}, {p})", "{a}.T", "NS.moveaxis({a}, 0, -1)"))
        return self.emit(form.format(a=name, p=perm))

    def _eye_einsum(self, a, depth):
        """`a` with one axis tied to an (offset) eye: contracted, or kept next to the eye's."""
        name, v = a
        ax = self.int(0, v.ndim - 1)
        letters = string.ascii_lowercase[:v.ndim]
        z = "z"
        size = v.shape[ax]
        if self.int(0, 1):
            eye, spec = self.eye(size, self.int(1, 6))[0], letters[ax] + z
        else:
            eye, spec = self.eye(self.int(1, 6), size)[0], z + letters[ax]
        keep = self.pick(("replace", "both", "front"))
        if keep == "replace":
            out = letters.replace(letters[ax], z)
        elif keep == "both":
            out = letters + z
        else:
            out = z + letters.replace(letters[ax], "")
        ops = [(letters, name), (spec, eye)]
        if self.int(0, 1):
            ops.reverse()
        eq = ",".join(s for s, _ in ops) + "->" + out
        return self.emit(f"NS.einsum({eq!r}, {', '.join(x for _, x in ops)})")

    def _eye_matmul(self, a, depth):
        name, v = a
        if self.int(0, 1):
            return self.emit(f"{name} @ {self.eye(v.shape[-1], self.int(1, 6))[0]}")
        rows = v.shape[-2] if v.ndim >= 2 else v.shape[0]
        return self.emit(f"{self.eye(self.int(1, 6), rows)[0]} @ {name}")

    def _add(self, a, depth):
        name, v = a
        other = self.dense(v.shape[-self.int(1, v.ndim):])[0]
        return self.emit(self.pick(("{a} + {o}", "{o} - {a}", "{a} * {o}")).format(a=name,
                                                                                 o=other))

    def final(self, a):
        """The operation under test: `a` alone, or contracted with a dense operand."""
        name, v = a
        kind = self.pick(("einsum", "einsum", "tensordot", "matmul", "alone"))
        if kind == "alone":
            return self.emit(name)
        letters = string.ascii_lowercase[:v.ndim]
        if kind == "matmul":
            if self.int(0, 1):
                d = self.dense((v.shape[-1], self.int(1, 3)))[0]
                return self.emit(f"{name} @ {d}")
            rows = v.shape[-2] if v.ndim >= 2 else v.shape[0]
            d = self.dense((self.int(1, 3), rows))[0]
            return self.emit(f"{d} @ {name}")
        if kind == "tensordot":
            k = self.int(1, v.ndim)
            d = self.dense(v.shape[v.ndim - k:] + (self.int(1, 3),))[0]
            return self.emit(f"NS.tensordot({name}, {d}, {k})")
        chosen = [c for c in letters if self.int(0, 2)] or [letters[0]]
        order = list(self.draw(st.permutations(chosen)))
        extra = self.int(1, 3)
        d = self.dense(tuple(v.shape[letters.index(c)] for c in order) + (extra,))[0]
        kept = [c for c in letters if c not in chosen or self.int(0, 3) == 0]
        work = int(np.prod(v.shape)) * extra
        if work > _MAX_WORK:
            raise _Big("einsum")
        eq = f"{letters},{''.join(order)}y->{''.join(kept)}y"
        return self.emit(f"NS.einsum({eq!r}, {name}, {d})")


@st.composite
def structured_programs(draw, depth=4):
    """An expression composing structural operations (kron of kron, pad of a kron, eye inside
    einsums, stacks of sums, reshapes of pads, concatenations of shifted copies, transposes),
    mostly contracted at the end with a dense operand; integer-valued inputs."""
    d = _Drawer(draw)
    a = d.node(draw(st.integers(2, depth)))
    try:
        name, _ = d.final(a)
    except _Big:
        name = a[0]
    # keep the lines the result depends on: a reproducer without dead code
    need, lines = {name}, [f"out = {name}"]
    for line in reversed(d.lines):
        target, expr = line.split(" = ", 1)
        if target in need:
            lines.append(line)
            need.update(re.findall(r"\b[nx]\d+\b", expr))
    return Program({k: v for k, v in d.inputs.items() if k in need}, tuple(reversed(lines)))


@settings(max_examples=400, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program=structured_programs())
def test_structural_compositions_match_eager_numpy(program):
    want = np.asarray(program.run(lazy=False))
    t = program.run(lazy=True)
    assert isinstance(t, le.LazyTensor), type(t)
    assert t.shape == want.shape and t.dtype == want.dtype, (t.shape, t.dtype, want.dtype)
    got = t.compute()
    rtol = tolerance(want.dtype)
    if rtol == 0:
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    else:
        _close(got, want, rtol)


def test_two_output_windows_sharing_a_label_add_every_product():
    # the Gram matrix of a 1-D convolution operator: x = u + a and y = u + b share u, so
    # several products land on one (x, y); each must be added (from the review's soak)
    k = np.array([1.0, 2.0])
    W = le.stack([le.pad(k, (u, 2 - u - 1 + 1)) for u in range(3)])  # (3, 4): shifted k
    dense = np.stack([np.pad(k, (u, 2 - u)) for u in range(3)])
    _close((W.T @ W).compute(), dense.T @ dense, rtol=0)
    _close(le.einsum("ux,uy->xy", W, W).compute(), dense.T @ dense, rtol=0)


def test_a_window_over_a_padded_input_stays_inside_it():
    # a window whose start is negative, moved in by its offsets (a "same" convolution)
    K = np.array([1.0, 2.0])
    S = le.stack([le.eye(3, 1, k=-(a + 1)).T for a in range(2)])  # S[a, u, x]: x = u + a + 1
    W = le.einsum("aux,a->ux", S, K)
    x = np.array([1.0, 2.0])
    _close((W @ le.pad(x, (1, 0))).compute(), W.compute() @ np.pad(x, (1, 0)), rtol=0)
