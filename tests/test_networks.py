"""Tensor networks: einsums of many labels in both forms, and ``optimize=``, the optimizer that
orders each term's contraction.

numpy is the oracle where it takes the input (at most 52 labels, ASCII letters); past that,
opt_einsum's own contraction of the same network is.
"""

import re

import numpy as np
import opt_einsum
import pytest

import lazyein as le
from lazyein import caches
from lazyein.paths import Optimizer, optimizer

NAMES = ["auto", "greedy", "optimal", "dp", "branch-2", "branch-all", "random-greedy",
         "auto-hq", "eager"]


def network(n, extra, outputs, seed):
    """A random network of `n` tensors: a random tree, `extra` bonds between tensors a few
    apart (loops, yet a small treewidth, so that contracting it stays cheap), and
    `outputs` open legs. Returns ``(legs, output, sizes)``: per tensor its labels (ints)."""
    rng = np.random.default_rng(seed)
    legs = [[] for _ in range(n)]
    sizes, label = {}, 0

    def bond(*tensors):
        nonlocal label
        sizes[label] = int(rng.integers(2, 4))
        for t in tensors:
            legs[t].append(label)
        label += 1
        return label - 1

    for t in range(1, n):
        bond(t, int(rng.integers(max(0, t - 4), t)))
    for _ in range(extra):
        t = int(rng.integers(0, n - 3))
        bond(t, t + int(rng.integers(1, 4)))
    output = [bond(int(rng.integers(0, n))) for _ in range(outputs)]
    return legs, output, sizes


def arrays_of(legs, sizes, seed):
    rng = np.random.default_rng(seed)
    # entries near 1 so that a product of hundreds neither overflows nor vanishes
    return [rng.uniform(0.6, 1.0, tuple(sizes[ix] for ix in ls)) / np.sqrt(len(ls) or 1)
            for ls in legs]


def equation(legs, output) -> str:
    sym = opt_einsum.get_symbol
    return ",".join("".join(map(sym, ls)) for ls in legs) + "->" + "".join(map(sym, output))


def assert_close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


# -- labels ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,extra,outputs", [(40, 20, 2), (150, 40, 3), (330, 120, 4)],
                         ids=["60-labels", "190-labels", "450-labels"])
def test_many_labels_both_forms(n, extra, outputs):
    legs, output, sizes = network(n, extra, outputs, seed=n)
    assert 60 <= len(sizes) <= 500
    arrays = arrays_of(legs, sizes, seed=n)
    eq = equation(legs, output)
    want = opt_einsum.contract(eq, *arrays, optimize="greedy")
    assert_close(le.einsum(eq, *arrays).compute(), want)
    # the interleaved form: labels any non-negative ints, far apart and out of order
    big = {ix: 10**12 - 7919 * ix for ix in sizes}
    args = [x for a, ls in zip(arrays, legs) for x in (a, [big[ix] for ix in ls])]
    assert_close(le.einsum(*args, [big[ix] for ix in output]).compute(), want)


def test_many_labels_with_numpy_as_oracle():
    """Up to numpy's 52 labels numpy is the oracle, in both forms."""
    legs, output, sizes = network(30, 15, 3, seed=3)
    assert 40 < len(sizes) <= 52
    arrays = arrays_of(legs, sizes, seed=3)
    eq = equation(legs, output)
    want = np.einsum(eq, *arrays, optimize=True)
    assert_close(le.einsum(eq, *arrays).compute(optimize="greedy"), want)
    args = [x for a, ls in zip(arrays, legs) for x in (a, ls)]
    assert_close(le.einsum(*args, output).compute(), np.einsum(*args, output, optimize=True))


def test_interleaved_implicit_output_sorts_the_ints():
    """numpy lists an implicit output's labels in increasing order; so do ints past 51."""
    a, b = np.random.rand(2, 3), np.random.rand(3, 4)
    got = le.einsum(a, [100, 7], b, [7, 3]).compute()
    # the same labels ranked: 3 -> 0, 7 -> 1, 100 -> 2
    np.testing.assert_allclose(got, np.einsum(a, [2, 1], b, [1, 0]))
    assert got.shape == (4, 2)
    np.testing.assert_allclose(le.einsum(a, [60, 7], b, [7, 99], [60, 99]).compute(), a @ b)


def test_non_ascii_letters():
    a, b, c = np.random.rand(2, 3), np.random.rand(3, 4), np.random.rand(4, 4)
    np.testing.assert_allclose(le.einsum("αβ,βγ->αγ", a, b).compute(), a @ b)
    # implicit output in code-point order, as numpy orders ASCII letters
    np.testing.assert_allclose(le.einsum("αβ,βγ", a, b).compute(), np.einsum("ab,bc", a, b))
    np.testing.assert_allclose(le.einsum("γβ,βα", b.T, a.T).compute(),
                               np.einsum("cb,ba", b.T, a.T))
    x = np.random.rand(3, 2, 3)
    np.testing.assert_allclose(le.einsum("ÀiÀ->i", x).compute(), np.einsum("aia->i", x))
    np.testing.assert_allclose(le.einsum("жж", c).compute(), np.trace(c))
    np.testing.assert_allclose(le.einsum("京j,jж", a, b).compute(),
                               opt_einsum.contract("京j,jж", a, b))
    np.testing.assert_allclose(le.einsum("x...α,α->...x", np.ones((2, 5, 3)), np.ones(3))
                               .compute(), np.full((5, 2), 3.0))


@pytest.mark.parametrize("bad", ["i j\u3000", "ij->i\u00a0"])
def test_non_ascii_whitespace_is_no_letter(bad):
    with pytest.raises(le.SubscriptError, match="letters"):
        le.einsum(bad, np.ones((2, 2)))


def test_negative_sublist_label():
    with pytest.raises(le.SubscriptError, match="-3"):
        le.einsum(np.ones((2, 2)), [0, -3])


def test_many_labels_print_readably():
    """Past a-z and A-Z, explain and DOT name a label by its number in brackets: one name
    per label, never a character that looks like another."""
    legs, output, sizes = network(50, 20, 2, seed=5)
    t = le.einsum(equation(legs, output), *arrays_of(legs, sizes, seed=5))
    text = str(t.explain())
    eq = re.search(r"einsum\('([^']*)'\)", text).group(1)
    names = re.findall(r"\[\d+\]|[a-zA-Z]", eq)
    assert "".join(names) == eq.replace(",", "").replace("->", "")
    assert {"[52]", "[60]"} <= set(names) and len(set(names)) == len(sizes)
    assert "[52]" in repr(t) and "[52]" in t.to_dot() and "[52]" in t.to_dot(planned=True)


# -- optimize= ---------------------------------------------------------------------------------

def _chain():
    rng = np.random.default_rng(0)
    arrays = [rng.random(s) for s in ((8, 30), (30, 5), (5, 40), (40, 6), (6, 9))]
    return arrays, le.einsum("ab,bc,cd,de,ef->af", *arrays)


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_names(name):
    arrays, t = _chain()
    want = np.linalg.multi_dot(arrays)
    np.testing.assert_allclose(t.compute(optimize=name), want)
    np.testing.assert_allclose(t.compute(optimize=name, max_bytes=200), want)
    assert f"contraction orders: opt_einsum {name!r}" in str(t.explain(optimize=name))


@pytest.mark.parametrize("make", [lambda: opt_einsum.RandomGreedy(max_repeats=4),
                                  lambda: opt_einsum.DynamicProgramming(),
                                  lambda: opt_einsum.BranchBound(nbranch=1)],
                         ids=["RandomGreedy", "DynamicProgramming", "BranchBound"])
def test_optimizer_objects(make):
    """A stateful optimizer (it refuses, or misanswers, a second contraction) serves many
    terms and expressions: each contraction is asked of a copy."""
    opt = make()
    arrays, t = _chain()
    np.testing.assert_allclose(t.compute(optimize=opt), np.linalg.multi_dot(arrays))
    # a sum of two terms of different contractions, each sliced within the budget
    legs, output, sizes = network(20, 8, 2, seed=9)
    net = arrays_of(legs, sizes, seed=9)
    eq = equation(legs, output)
    x, y = np.random.rand(sizes[output[0]], 7), np.random.rand(7, sizes[output[1]])
    u = le.einsum(eq, *net) + le.lazy(x) @ y
    assert_close(u.compute(optimize=opt, max_bytes=2_000), opt_einsum.contract(eq, *net) + x @ y)
    assert f"contraction orders: opt_einsum {type(opt).__name__}" in \
        str(u.explain(optimize=opt))
    # the object itself was never tied to a contraction: it still serves one of its own
    opt_einsum.contract_path("ab,bc->ac", (2, 3), (3, 4), shapes=True, optimize=opt)


@pytest.mark.filterwarnings("ignore:Couldn't import `kahypar`")
def test_cotengra_optimizers():
    ctg = pytest.importorskip("cotengra")
    arrays, t = _chain()
    legs, output, sizes = network(30, 12, 2, seed=4)
    net = arrays_of(legs, sizes, seed=4)
    u = le.einsum(equation(legs, output), *net)
    want = opt_einsum.contract(equation(legs, output), *net)
    for opt in (ctg.HyperOptimizer(max_repeats=2, parallel=False),
                ctg.ReusableHyperOptimizer(max_repeats=2, parallel=False)):
        np.testing.assert_allclose(t.compute(optimize=opt), np.linalg.multi_dot(arrays))
        assert_close(u.compute(optimize=opt), want)
        assert f"cotengra {type(opt).__name__}" in str(u.explain(optimize=opt))
    # the budget's search asks the optimizer about each chunk shape it prices (~40 here)
    assert_close(u.compute(optimize=opt, max_bytes=2_000), want)


def test_plan_cache_is_per_optimizer():
    arrays, t = _chain()
    caches.clear()
    t.compute(optimize="greedy")
    t.compute(optimize="dp")
    assert len(caches.PLAN_CACHE) == 2
    t.compute(optimize="dp")
    t.compute(optimize="DP")  # opt_einsum's names are case-blind
    assert len(caches.PLAN_CACHE) == 2
    opt = opt_einsum.RandomGreedy(max_repeats=2)
    t.compute(optimize=opt)
    t.compute(optimize=opt)
    assert len(caches.PLAN_CACHE) == 3
    t.compute(optimize=opt_einsum.RandomGreedy(max_repeats=2))  # another object: a new plan
    assert len(caches.PLAN_CACHE) == 4
    plans = caches.ROOT_PLANS[t.node]
    assert sum(1 for key in plans if key[-1] == Optimizer(opt)) == 1
    assert t.explain(optimize="greedy") is t.explain(optimize="greedy")
    assert t.explain(optimize="greedy") is not t.explain(optimize="dp")


class _Unhashable(opt_einsum.paths.PathOptimizer):
    """An optimizer with ``__eq__`` and no hash: keyed by identity all the same."""

    __hash__ = None

    def __eq__(self, other):
        return isinstance(other, _Unhashable)

    def __call__(self, inputs, output, size_dict, memory_limit=None):
        return [(0, 1)] * (len(inputs) - 1)


def test_unhashable_optimizer_keyed_by_identity():
    arrays, t = _chain()
    caches.clear()
    first, second = _Unhashable(), _Unhashable()
    for opt in (first, first, second):
        np.testing.assert_allclose(t.compute(optimize=opt), np.linalg.multi_dot(arrays))
    assert len(caches.PLAN_CACHE) == 2
    assert "contraction order: [(0, 1), (0, 1), (0, 1), (0, 1)]" in str(t.explain(optimize=first))


@pytest.mark.parametrize("bad", ["nope", 3, None, True, [(0, 1)], lambda *a: [(0, 1)]],
                         ids=["unknown-name", "int", "None", "True", "path", "function"])
def test_invalid_optimize(bad):
    arrays, t = _chain()
    x = le.placeholder((8, 30))
    for call in (lambda: t.compute(optimize=bad), lambda: t.explain(optimize=bad),
                 lambda: le.compute(t, t, optimize=bad), lambda: t.to_dask(optimize=bad),
                 lambda: le.function(x, x @ arrays[1], optimize=bad)):
        with pytest.raises(ValueError, match="greedy.*PathOptimizer"):
            call()


def test_function_with_optimize():
    arrays, _ = _chain()
    x = le.placeholder((8, 30), name="x")
    f = le.function(x, le.einsum("ab,bc,cd,de,ef->af", x, *arrays[1:]), optimize="dp")
    np.testing.assert_allclose(f(arrays[0]), np.linalg.multi_dot(arrays))
    np.testing.assert_allclose(f(np.asfortranarray(arrays[0])), np.linalg.multi_dot(arrays))
    assert "contraction orders: opt_einsum 'dp'" in str(f.explain())
    g = le.function(x, x @ arrays[1], optimize=opt_einsum.RandomGreedy(max_repeats=2))
    np.testing.assert_allclose(g(arrays[0]), arrays[0] @ arrays[1])


def test_le_compute_with_optimize():
    arrays, t = _chain()
    got = le.compute(t, t.sum(), optimize="optimal")
    np.testing.assert_allclose(got[0], np.linalg.multi_dot(arrays))
    np.testing.assert_allclose(got[1], np.linalg.multi_dot(arrays).sum())


def test_default_explain_names_auto():
    _, t = _chain()
    assert str(t.explain()).endswith("contraction orders: opt_einsum 'auto'")
    assert optimizer("auto") is optimizer("AUTO")


def test_dask_with_optimize():
    da = pytest.importorskip("dask.array")
    legs, output, sizes = network(25, 10, 2, seed=6)
    net = arrays_of(legs, sizes, seed=6)
    eq = equation(legs, output)
    want = opt_einsum.contract(eq, *net)
    t = le.einsum(eq, da.from_array(net[0]), *net[1:])
    for opt in ("dp", opt_einsum.RandomGreedy(max_repeats=2)):
        assert_close(t.compute(optimize=opt, scheduler="sync"), want)
        assert_close(t.to_dask(max_bytes=4_000, optimize=opt).compute(scheduler="sync"), want)


def test_array_api_with_optimize():
    xp = pytest.importorskip("array_api_strict")
    arrays, _ = _chain()
    t = le.einsum("ab,bc,cd,de,ef->af", *map(xp.asarray, arrays))
    got = t.compute(optimize="dp", max_bytes=400)
    np.testing.assert_allclose(np.asarray(got), np.linalg.multi_dot(arrays))
    assert "contraction orders: opt_einsum 'dp'" in str(t.explain(optimize="dp"))
