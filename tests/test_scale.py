"""Expressions as deep as users write them (API.md, Scope): a left-deep sum of 100,000 terms
and a chain of 10,000 products build, plan and compute, and no walk of any op recurses (each
deep case below is twice Python's recursion limit deep, in nodes). numpy is the oracle."""

import sys
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyein as le
import strategies
from lazyein.ops.einsum import MAX_FACTORS

rng = np.random.default_rng(11)

# The bound for the two big cases together; each takes a fraction of it. A walk
# quadratic in the depth would take many minutes: this catches it, not a slow machine.
_SECONDS = 60

# the small deep cases: deeper than any recursion through the DAG could go
DEPTH = 2 * sys.getrecursionlimit()


def _close(got, want, rtol=1e-9):
    assert isinstance(got, np.ndarray) and got.shape == want.shape, (type(got), want.shape)
    scale = float(np.max(np.abs(want), initial=1.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def _within_bound(started: float):
    elapsed = time.perf_counter() - started
    assert elapsed < _SECONDS, f"{elapsed:.1f} s"


# -- the two big cases -------------------------------------------------------------------------

def test_left_deep_sum_of_100000_distinct_terms():
    started = time.perf_counter()
    xs = rng.standard_normal((100_000, 3))
    coeffs = np.where(np.arange(len(xs)) % 3 == 1, rng.uniform(-2, 2, len(xs)), 1.0)
    t = le.lazy(xs[0])
    for k in range(1, len(xs)):  # each row its own array: 100,000 leaves, nothing merges
        if k % 5 == 0:
            t = t - xs[k]
            coeffs[k] = -1.0
        elif k % 3 == 1:
            t = t + float(coeffs[k]) * le.lazy(xs[k])  # scaled lazily, not by numpy
        else:
            t = t + xs[k]
    _close(t.compute(), np.sum(coeffs[:, None] * xs, axis=0))
    assert t.explain().num_terms == len(xs)
    _within_bound(started)


def test_left_deep_sum_of_100000_terms_that_merge():
    # seven arrays added 100,000 times with various scalings: their terms merge into one
    # each, coefficients summed; the first is added and taken away in turn: exactly zero
    started = time.perf_counter()
    xs = rng.standard_normal((7, 4, 3))
    leaves = [le.lazy(x) for x in xs]  # each added many times: one leaf each
    coeffs = rng.uniform(-1, 1, 100_000)
    coeffs[7::14] = -coeffs[0::14]
    t = float(coeffs[0]) * leaves[0]
    total = np.zeros(7)
    total[0] = coeffs[0]
    for k in range(1, len(coeffs)):
        t = t + float(coeffs[k]) * leaves[k % 7]
        total[k % 7] += coeffs[k]
    assert total[0] == 0
    assert t.explain().num_terms == 6
    _close(t.compute(), np.einsum("k,kij->ij", total, xs))
    _within_bound(started)


def test_chain_of_10000_matmuls():
    started = time.perf_counter()
    # orthogonal factors: the product stays orthogonal, its entries within [-1, 1]
    ms, _ = np.linalg.qr(rng.standard_normal((10_000, 20, 20)))
    t, want = le.lazy(ms[0]), ms[0]
    for m in ms[1:]:
        t, want = t @ m, want @ m
    _close(t.compute(), want, rtol=1e-8)
    plan = t.explain()
    # the product is computed a part at a time, and explain() says so, part by part
    assert len(plan.materialized) >= len(ms) // MAX_FACTORS, len(plan.materialized)
    assert all("a product of" in line for line in plan.materialized), plan.materialized[:3]
    _within_bound(started)


# -- every op, deep ----------------------------------------------------------------------------

def test_deep_pads():
    x = rng.standard_normal((2, 3))
    t, want = le.lazy(x), x
    for k in range(DEPTH):
        widths = ((k % 2, 0), (0, (k + 1) % 2))
        constant = 1.5 if k % 700 == 7 else 0  # a few frames of a constant: terms of their own
        t = le.pad(t, widths, constant_values=constant)
        want = np.pad(want, widths, constant_values=constant)
    _close(t.compute(), want)


def test_deep_reshapes():
    x = rng.standard_normal((4, 6))
    t, want = le.lazy(x), x
    shapes = [(24,), (2, 2, 6), (2, 12), (4, 3, 2), (4, 6)]  # each a split or merge of labels
    for k in range(DEPTH):
        t, want = t.reshape(shapes[k % 5]), want.reshape(shapes[k % 5])
    _close(t.compute(), want)
    assert t.explain().materialized == ()


def test_deep_reshapes_without_views():
    # a padded axis reshaped across its padding has no view: each of these reshapes is
    # computed by numpy from the one before, a chain of computed nodes as deep as the loop
    x = rng.standard_normal((2, 3))
    t, want = le.lazy(x), x
    for _ in range(DEPTH // 4):
        t = le.pad(t, ((0, 0), (0, 1))).reshape(4, 2).reshape(2, 4) @ le.eye(4, 3)
        want = np.pad(want, ((0, 0), (0, 1))).reshape(4, 2).reshape(2, 4) @ np.eye(4, 3)
    _close(t.compute(), want)
    plan = t.explain()
    assert sum("no split or merge" in line for line in plan.materialized) == DEPTH // 4


def test_deep_krons():
    x = rng.standard_normal((2, 3))
    t, want = le.lazy(x), x
    for k in range(DEPTH):
        if k % 2:
            c = rng.uniform(0.5, 1.5, (1, 1))  # one more factor: a long product
            t, want = le.kron(t, c), np.kron(want, c)
        else:
            t, want = le.kron(le.eye(1), t), np.kron(np.eye(1), want)
    _close(t.compute(), want)


def test_deep_stacks():
    x0, x = rng.standard_normal(3), rng.standard_normal(3)
    t = le.lazy(x0)
    for _ in range(DEPTH):
        t = le.einsum("ij->j", le.stack([t, x]))  # the stack's rows summed: t + x
    _close(t.compute(), x0 + DEPTH * x)
    assert t.explain().num_terms == 2


def test_einsum_of_deep_sums():
    xs = rng.standard_normal((DEPTH, 4, 4))
    t = le.lazy(xs[0])
    for x in xs[1:]:
        t = t + x
    s = xs.sum(axis=0)
    _close(le.einsum("ij,jk->ik", t, t).compute(), s @ s)
    _close(le.trace(t).compute(), np.trace(s))


def test_deep_scaled_and_broadcast_sum():
    # scalings of the sum so far (each scales every term below it) and rows broadcast
    xs = rng.standard_normal((DEPTH, 3))
    t, want = le.lazy(np.ones((4, 3))), np.ones((4, 3))
    for k, x in enumerate(xs):
        t = 0.999 * t + x if k % 3 else t - 2 * x
        want = 0.999 * want + x if k % 3 else want - 2 * x
    _close(t.compute(), want)


def test_deep_matrix_vector_chain():
    ms, _ = np.linalg.qr(rng.standard_normal((DEPTH, 8, 8)))
    v = rng.standard_normal(8)
    t, want = le.lazy(v), v
    for m in ms:
        t, want = m @ t, m @ want
    _close(t.compute(), want, rtol=1e-8)


def test_deep_expression_prints_draws_and_plans_within_a_budget():
    xs = rng.standard_normal((DEPTH, 3))
    t = le.lazy(xs[0])
    for x in xs[1:]:
        t = t - x
    assert repr(t.node).count("\n") > DEPTH
    assert t.to_dot().count("->") == 3 * (DEPTH - 1)  # t - x is t + (-1 * x)
    assert t.explain(max_bytes="1MB").num_terms == DEPTH
    _close(t.compute(max_bytes="1MB"), xs[0] - xs[1:].sum(axis=0))


# -- deep random chains ------------------------------------------------------------------------

_M = np.linalg.qr(rng.standard_normal((3, 3)))[0]
_X = rng.standard_normal((3, 3))
_C = np.array([[0.5]])

# steps that keep a (3, 3) value (and its size bounded), each with its numpy twin
_STEPS = {
    "add": (lambda t: t + _X, lambda a: a + _X),
    "scale": (lambda t: -0.5 * t, lambda a: -0.5 * a),
    "transpose": (lambda t: t.T, lambda a: a.T),
    "matmul": (lambda t: t @ _M, lambda a: a @ _M),
    "kron": (lambda t: le.kron(t, _C), lambda a: np.kron(a, _C)),
    "reshape": (lambda t: t.reshape(9).reshape(3, 3), lambda a: a.reshape(9).reshape(3, 3)),
    "pad": (lambda t: le.eye(3, 5, k=1) @ le.pad(t, 1) @ le.eye(5, 3, k=-1),
            lambda a: np.eye(3, 5, k=1) @ np.pad(a, 1) @ np.eye(5, 3, k=-1)),
    "stack": (lambda t: le.einsum("kij->ij", le.stack([t, _X])),
              lambda a: np.stack([a, _X]).sum(axis=0)),
}


@settings(max_examples=3, **strategies.deterministic(shrink=False))
@given(st.lists(st.sampled_from(sorted(_STEPS)), min_size=DEPTH // 2, max_size=DEPTH // 2))
def test_deep_random_chains_match_numpy(steps):
    t, want = le.lazy(np.eye(3)), np.eye(3)
    for name in steps:
        lazy_step, numpy_step = _STEPS[name]
        t, want = lazy_step(t), numpy_step(want)
    _close(t.compute(), want, rtol=1e-8)


def test_deep_chain_of_transposes_is_one_view():
    x = rng.standard_normal((2, 3))
    t = le.lazy(x)
    for _ in range(DEPTH + 1):
        t = t.T
    _close(t.compute(), x.T)
    assert t.explain().flops == 0
