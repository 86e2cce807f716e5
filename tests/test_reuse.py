"""Implicit reuse (API.md, "Reuse is cheap"): a built operator applied to new arrays plans
nothing again and walks none of its graph; what is kept with nodes keeps no array alive."""

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings

import lazyein as le
import strategies
from lazyein import caches, ir, lower, plan, runtime, signature
from lazyein.testing import assert_like_numpy, convolution_operator, traced_working_bytes

RNG = np.random.default_rng(7)


def _conv_numpy(A, K):
    windows = np.lib.stride_tricks.sliding_window_view(A, K.shape[:2], axis=(0, 1))
    return np.einsum("uvcab,abcf->uvf", windows, K)


class _Counting:
    """Counts the calls of a module function it replaces (with monkeypatch)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


@pytest.fixture
def counted(monkeypatch):
    """Counters of planning (the budget search), of DAG walks and of nodes lowered."""
    planned = _Counting(runtime.plan_within)
    monkeypatch.setattr(runtime, "plan_within", planned)
    walks = {"toposort": 0}

    def toposort(*roots):
        walks["toposort"] += 1
        return ir.toposort(*roots)
    for module in (runtime, plan):
        monkeypatch.setattr(module, "toposort", toposort)
    lowered = _Counting(lower.Lowering._lowered)
    monkeypatch.setattr(lower.Lowering, "_lowered",
                        lambda self, node: lowered(self, node))
    return planned, walks, lowered


def test_operator_applied_to_new_vectors_plans_once(counted):
    planned, walks, lowered = counted
    K1, K2 = RNG.standard_normal((2, 6, 6))
    op = le.kron(K1, K2) + 0.5 * le.eye(36)
    dense = np.kron(K1, K2) + 0.5 * np.eye(36)
    for _ in range(5):
        v = RNG.standard_normal(36)
        assert_like_numpy((op @ v).compute(), dense @ v)
    assert planned.calls == 1, planned.calls  # the first call only
    assert walks["toposort"] == 0  # the expression is recognized from its signature
    first = lowered.calls
    (op @ RNG.standard_normal((36, 2))).compute()  # a new shape: a new plan ...
    assert planned.calls == 2
    # ... over `op`'s terms kept with it: only the new product is lowered, not kron + eye
    assert lowered.calls - first <= 2, (first, lowered.calls)


def test_convolution_operator_reused_without_walking_it(counted):
    planned, walks, lowered = counted
    K = RNG.standard_normal((3, 3, 2, 4))
    W = convolution_operator(K, 12)
    A = RNG.standard_normal((12, 12, 2))
    assert_like_numpy(le.tensordot(W, A, 3).compute(), _conv_numpy(A, K))
    after_first = lowered.calls
    assert after_first > 300  # the first plan lowered every pad of the loop (100, 3 nodes each)
    for _ in range(3):
        A = RNG.standard_normal((12, 12, 2))
        assert_like_numpy(le.tensordot(W, A, 3).compute(), _conv_numpy(A, K))
    assert planned.calls == 1 and walks["toposort"] == 0
    assert lowered.calls == after_first
    # an image of other strides needs a plan of its own, which lowers only the new product
    B = np.asfortranarray(RNG.standard_normal((12, 12, 2)))
    assert_like_numpy(le.tensordot(W, B, 3).compute(), _conv_numpy(B, K))
    assert planned.calls == 2
    assert lowered.calls - after_first <= 2, (after_first, lowered.calls)
    # and a tighter budget plans anew (the kept terms are per lowering budget)
    assert_like_numpy(le.tensordot(W, A, 3).compute(max_bytes="4KB"), _conv_numpy(A, K))


def test_equal_structures_share_a_plan_and_bind_their_own_arrays():
    a, b, c = RNG.standard_normal((3, 4, 4))
    caches.clear()
    # the same array twice is another structure than two arrays: positions tell them apart
    for x, y in ((a, a), (a, b), (b, b), (c, a), (b, c)):
        t = le.lazy(x) @ le.lazy(y) + le.lazy(x)
        assert_like_numpy(t.compute(), x @ y + x)
    assert len(caches.PLAN_CACHE) == 2
    # built apart, over other arrays, equal DAGs are one structure
    s1, _ = signature.signature((le.lazy(a) @ b + 2 * le.lazy(c)).node)
    s2, _ = signature.signature((le.lazy(b) @ c + 2 * le.lazy(a)).node)
    assert s1 == s2
    s3, _ = signature.signature((le.lazy(b) @ c + 3 * le.lazy(a)).node)
    assert s3 != s1
    # a transposed view of an input is laid out otherwise: another plan
    s4, _ = signature.signature((le.lazy(b) @ c.T + 2 * le.lazy(a)).node)
    assert s4 != s1


def test_many_inputs_fall_back_to_a_walk():
    arrays = list(RNG.standard_normal((signature.MAX_INPUTS + 6, 3, 3)))
    t = le.lazy(arrays[0])
    for x in arrays[1:]:
        t = t + x
    assert signature.signature(t.node) is None
    assert_like_numpy(t.compute(), sum(arrays[1:], arrays[0]))
    again = [x + 1 for x in arrays]
    u = le.lazy(again[0])
    for x in again[1:]:
        u = u + x
    planned = len(caches.PLAN_CACHE)
    assert_like_numpy(u.compute(), sum(again[1:], again[0]))
    assert len(caches.PLAN_CACHE) == planned  # the walk's key finds the plan made above


def test_kept_plans_and_terms_keep_no_array_alive():
    K = RNG.standard_normal((3, 3, 2, 4))
    W = convolution_operator(K, 10)
    refs = []
    for _ in range(3):
        A = RNG.standard_normal((10, 10, 2))
        t = le.tensordot(W, A, 3)
        t.compute()
        t.explain(max_bytes="8KB")
        refs.append(weakref.ref(A))
        del A, t
    gc.collect()
    assert all(r() is None for r in refs), "a cache keeps a call's image alive"
    kernel = weakref.ref(K)
    del K, W
    gc.collect()
    assert kernel() is None, "the operator's terms, kept with its nodes, outlive it"


def test_first_compute_of_a_big_operator_holds_to_its_budget():
    """Signatures are made as nodes are built, and terms kept are few: a first compute of
    a loop of 3,600 pads allocates little beyond what its plan counts."""
    K = RNG.standard_normal((3, 3, 3, 8))
    W = convolution_operator(K, 62)
    A = RNG.standard_normal((62, 62, 3))
    t = le.tensordot(W, A, 3)
    caches.clear()
    result, working = traced_working_bytes(lambda: t.compute(max_bytes="1MB"))
    assert_like_numpy(result, _conv_numpy(A, K))
    assert working <= (1 << 20) + (1 << 20), working


@settings(**strategies.deterministic(), max_examples=60)
@given(case=strategies.exprs(max_ops=6, share=True))
def test_signature_lists_inputs_in_plan_order(case):
    """A signature's inputs are the DAG's leaves in the order a walk meets them (the order
    plans number inputs in), and equal DAGs over copies of the inputs share it."""
    roots = [t.node for t in case.build()]
    found = signature.roots_signature(roots)
    leaves = [n for n in ir.toposort(*roots) if n.op is ir.Op.LEAF]
    if found is None:
        assert len(leaves) > signature.MAX_INPUTS
        return
    key, inputs = found
    assert list(inputs) == leaves
    arrays = {n: x.copy(order="K") for n, x in case.inputs.items()}
    copies = [t.node for t in case.build(arrays)]
    again = signature.roots_signature(copies)
    # (a broadcast or reversed input's copy is laid out otherwise: another structure)
    if all(arrays[n].strides == x.strides for n, x in case.inputs.items()):
        assert again is not None and again[0] == key
        assert runtime._structure(tuple(copies))[0] == runtime._structure(tuple(roots))[0]
    for got, ref in zip(le.compute(*(le.LazyTensor(n) for n in copies)), case.refs):
        assert_like_numpy(got, ref)


def test_kept_terms_of_a_deep_chain_stay_few():
    """Down a chain of 6,000 nodes each node's lowering walks the nodes below it: only the
    topmost terms are kept, so a first compute stays within a small budget."""
    A = RNG.standard_normal((8, 8))
    t = le.lazy(A)
    for _ in range(6000):
        t = t.T
    caches.clear()
    result, working = traced_working_bytes(lambda: t.compute(max_bytes="1MB"))
    assert_like_numpy(result, A)
    assert working <= (1 << 20) + (1 << 20), working
    node, kept = t.node, 0
    while node.src:
        kept += node.memo is not None
        node = node.src[0]
    assert kept <= 2, kept


@settings(**strategies.deterministic(), max_examples=40)
@given(case=strategies.exprs(max_ops=6, outputs=2, share=True))
def test_kept_terms_serve_later_plans(case):
    """Terms kept by one plan's lowering (every node keeps them here) give later plans of
    other roots and budgets numpy's values."""
    from unittest import mock

    with mock.patch.object(lower, "KEEP_WALKED", 1):
        caches.clear()
        roots = case.build()
        for budget in (None, 256, None):
            try:
                results = le.compute(*roots, max_bytes=budget)
            except le.MemoryBudgetError as e:  # too tight: the least that fits
                budget = e.required_bytes
                results = le.compute(*roots, max_bytes=budget)
            for got, ref in zip(results, case.refs):
                assert_like_numpy(got, ref)
            for t, ref in zip(roots, case.refs):
                assert_like_numpy(t.compute(max_bytes=budget), ref)
