"""lazyein on dask: dask arrays as lazy leaves, ``to_dask()`` and ``compute(scheduler=)``.

Numpy is the oracle throughout (value, shape and dtype). Most runs use dask's synchronous
scheduler; the four problems of PROBLEMS.md and a share of the random expressions also run
on a two-worker ``distributed.LocalCluster`` on loopback, started and torn down here. The
per-task ``max_bytes`` bound is measured task by task with a dask callback and tracemalloc.
"""

import re
import subprocess
import sys
import tracemalloc

import dask
import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback
from distributed import Client, LocalCluster, get_task_stream
from hypothesis import given, note, settings
from hypothesis import strategies as st

import lazyein as le
import strategies
from lazyein import testing

MiB = 1 << 20  # the slack API.md allows over max_bytes: interpreter and tracemalloc noise

# a falsifying Case prints as a runnable script, and its chunks are noted
_SETTINGS = strategies.deterministic(shrink=False)


# -- helpers ----------------------------------------------------------------------------------

assert_matches = testing.assert_like_numpy


def assert_case(got, case):
    """`got` equals the first reference of a drawn `strategies.Case`."""
    assert_matches(got, case.ref, case.rtol, case.bound)


def chunked(x, chunks):
    return da.from_array(x, chunks=chunks)


class Computed(Exception):
    """Raised by a chunk that must not be computed."""


def exploding(shape, chunks, dtype=np.float64, calls=None):
    """A dask array whose every chunk raises `Computed` (and is logged in `calls`)."""
    def explode(block):
        if calls is not None:
            calls.append(block.shape)
        raise Computed("a chunk was computed")

    meta = np.empty((0,) * len(shape), dtype)  # given, so dask never calls `explode` for it
    return da.map_blocks(explode, da.zeros(shape, chunks=chunks, dtype=dtype), dtype=dtype,
                         meta=meta)


# -- the four problems (PROBLEMS.md), each a lazy expression over dask arrays and numpy's value

def problem1(rows=24, chunks=(12, 784 * 6), seed=2):
    """kron(eye(30), W) @ x, the data (float32, under 20% nonzero) a chunked dask array."""
    rng = np.random.default_rng(seed)
    W0 = rng.standard_normal((30, 784))
    data = rng.standard_normal((rows, 30 * 784), dtype=np.float32)
    data *= rng.random(data.shape, dtype=np.float32) < 0.2
    t = le.kron(le.eye(30), W0) @ le.lazy(chunked(data, chunks)).T
    return t, np.kron(np.identity(30), W0) @ data.T


_HAND = ("i,jk,i,kj->k", "j,ik,k,ij->k", "i,jk,k,ij->k", "j,ik,i,kj->k")


def problem2(n, q, chunks, seed=1):
    """The einsum over the sums C + C2, A and Z2 chunked dask arrays; the reference is eager
    numpy where the 3-D arrays are small, else the four hand-expanded einsums."""
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((n, n)), rng.standard_normal(q)
    Y2, Z2 = rng.standard_normal(n), rng.standard_normal((q, n))
    C = le.lazy_einsum("i,jk->ijk", B, chunked(A, chunks))
    C2 = le.lazy_einsum("j,ik->ijk", Y2, chunked(Z2, chunks))
    E = le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)
    if n * n * q <= 10**7:
        S = np.einsum("i,jk->ijk", B, A) + np.einsum("j,ik->ijk", Y2, Z2)
        return E, np.einsum("ijk,ikj->k", S, S)
    ops = ((B, A, B, A), (Y2, Z2, Y2, Z2), (B, A, Y2, Z2), (Y2, Z2, B, A))
    return E, sum(np.einsum(eq, *o, optimize="optimal") for eq, o in zip(_HAND, ops))


def _halves(x):
    return tuple(max(1, (d + 1) // 2) for d in x.shape)


def problem3(seed=3):
    """einsum as the language: lazy einsums of dask operands, and numpy's values."""
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    K = rng.standard_normal((2, 3, 6, 4)).astype(np.float32)
    M, N = rng.standard_normal((6, 6)), rng.standard_normal((6, 4))
    V, T3 = rng.standard_normal(6), rng.standard_normal((3, 6, 6))
    ints = rng.integers(-3, 4, size=(4, 5))
    cases = [
        ("bimd,bind->bimn", Q, K),  # batched multi-head attention
        ("ij->ji", M), ("ij->", M), ("ij->i", M), ("ij", N),
        ("ii", M), ("ii->", M), ("ii->i", M), ("bii->b", T3), ("bii->bi", T3), ("jii->j", T3),
        ("ij,jk", M, N), ("ij,jk->ik", M, N), ("i,i", V, V), ("i,j->ij", V, V),
        ("ij,ij->ij", M, M), ("ij,ji", M, M),
        ("...ij,...jk->...ik", T3, M), ("b...,b...->...", T3, T3), ("...ii->...i", T3),
        ("ij,jk,kl->il", ints, ints.T, ints),  # integers: exact
    ]
    lazy, refs = [], []
    for spec, *ops in cases:
        lazy.append(le.einsum(spec, *(chunked(x, _halves(x)) for x in ops)))
        refs.append(np.einsum(spec, *ops))
    # the interleaved form
    lazy.append(le.einsum(chunked(M, 4), [0, 1], chunked(N, 3), [1, 2], [0, 2]))
    refs.append(np.einsum(M, [0, 1], N, [1, 2], [0, 2]))
    return lazy, refs


def conv_operator(K, m1, m2):
    """W_K built lazily with pad and stack, exactly the loop of PROBLEMS.md."""
    k1, k2, _, _ = K.shape
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    return le.stack([
        le.stack([le.moveaxis(le.pad(K, ((i, m1 - i - k1), (j, m2 - j - k2), (0, 0), (0, 0))),
                              3, 0) for j in range(w2)])
        for i in range(w1)])


def problem4(chunks=(8, 6, 2), seed=4):
    """The convolution operator (pad + stack) tensordot'ed with a dask image."""
    rng = np.random.default_rng(seed)
    m1, m2, nch, k1, k2, nf = 16, 16, 3, 3, 3, 4
    K, A = rng.standard_normal((k1, k2, nch, nf)), rng.standard_normal((m1, m2, nch))
    B = le.tensordot(conv_operator(K, m1, m2), chunked(A, chunks), 3)
    W_K = np.zeros((m1 - k1 + 1, m2 - k2 + 1, nf, m1, m2, nch))
    for i, j in np.ndindex(m1 - k1 + 1, m2 - k2 + 1):
        W_K[i, j, :, i:i + k1, j:j + k2, :] = K.transpose(3, 0, 1, 2)
    return B, np.tensordot(W_K, A, 3)


def chain(n=300, chunks=100, seed=0):
    rng = np.random.default_rng(seed)
    ops = [rng.standard_normal((n, n)) for _ in range(4)]
    t = le.einsum("ab,bc,cd,de->ae", *(chunked(x, chunks) for x in ops))
    return t, np.einsum("ab,bc,cd,de->ae", *ops, optimize="optimal")


# -- dask arrays are lazy leaves --------------------------------------------------------------

_Y = np.arange(96.0).reshape(8, 12)

# Expressions of every kind over a (12, 8) array `x`, lazily and in numpy
_FORMS = [
    (lambda x: le.lazy(x), lambda x: x),
    (lambda x: le.lazy(x, name="x") * 2.5, lambda x: x * 2.5),
    (lambda x: le.lazy_einsum("ij,jk->ik", x, _Y) - 1, lambda x: np.einsum("ij,jk->ik", x, _Y) - 1),
    (lambda x: x @ le.lazy(_Y), lambda x: x @ _Y),  # a dask array on the left defers to lazyein
    (lambda x: le.kron(le.eye(2), x), lambda x: np.kron(np.eye(2), x)),
    (lambda x: le.pad(x, ((1, 2), (0, 3))), lambda x: np.pad(x, ((1, 2), (0, 3)))),
    (lambda x: le.stack([x, x, _Y.T]), lambda x: np.stack([x, x, _Y.T])),
    (lambda x: le.concatenate([x, _Y.T], axis=1), lambda x: np.concatenate([x, _Y.T], axis=1)),
    (lambda x: le.transpose(x) + _Y, lambda x: x.T + _Y),
    (lambda x: le.reshape(x, (3, 4, 8)), lambda x: np.reshape(x, (3, 4, 8))),
    (lambda x: le.tensordot(x, _Y.T, 2), lambda x: np.tensordot(x, _Y.T, 2)),
    (lambda x: le.trace(x[:8, :]), lambda x: np.trace(x[:8, :])),
    (lambda x: le.lazy(x).sum(axis=0), lambda x: x.sum(axis=0)),
    (lambda x: le.diagonal(x), lambda x: np.diagonal(x)),
    (lambda x: le.matmul(_Y, x), lambda x: _Y @ x),
    (lambda x: le.dot(x, np.ones(8)), lambda x: x @ np.ones(8)),
    (lambda x: le.moveaxis(le.lazy(x), 0, 1), lambda x: x.T),
    (lambda x: le.swapaxes(le.lazy(x), 0, 1) - x.T, lambda x: x.T - x.T),
    (lambda x: x + le.lazy(_Y).T, lambda x: x + _Y.T),
    (lambda x: x * le.lazy(_Y).T, lambda x: x * _Y.T),
    (lambda x: le.multiply(x, x) - le.add(x, 1), lambda x: x * x - (x + 1)),
]


@pytest.mark.parametrize("kind", ["map_blocks", "delayed"])
def test_building_and_inspecting_never_computes(kind):
    calls = []
    if kind == "map_blocks":
        x = exploding((12, 8), (5, 3), calls=calls)
    else:
        def fail():
            calls.append(())
            raise Computed("a delayed chunk was computed")

        x = da.from_delayed(dask.delayed(fail)(), shape=(12, 8), dtype=np.float64,
                            meta=np.empty((0, 0)))
    for lazy, eager in _FORMS:
        t = lazy(x)
        ref = np.asarray(eager(np.zeros((12, 8))))
        assert isinstance(t, le.LazyTensor)
        assert (t.shape, t.dtype, t.ndim, t.size, t.nbytes) == \
            (ref.shape, ref.dtype, ref.ndim, ref.size, ref.nbytes)
        assert "shape=" in repr(t)
        plan = t.explain()
        assert plan.num_terms >= 1 and "term" in str(plan)
        t.explain(max_bytes="4kB")
        assert t.to_dot().startswith("digraph")
        arr = t.to_dask()
        try:  # planned within a small budget, or refused: either way without computing
            t.to_dask(max_bytes="4kB")
        except le.MemoryBudgetError:
            pass
        t.to_dask(max_bytes="64kB")
        assert isinstance(arr, da.Array) and arr.shape == t.shape and arr.dtype == t.dtype
    assert calls == []
    # and the chunks do raise when computed: the checks above would have seen it
    with pytest.raises(Computed):
        (le.lazy(x) * 2).compute(scheduler="sync")
    assert calls


@pytest.mark.parametrize("budget", [None, "2kB"])
def test_dask_operands_anywhere_match_numpy(budget):
    x = np.arange(96.0).reshape(12, 8) % 7 - 3
    dx = chunked(x, (5, 3))
    for lazy, eager in _FORMS:
        assert_matches(compute_or_required(lazy(dx), budget), np.asarray(eager(x)))
    assert_matches((le.lazy(dx) @ dx.T).compute(scheduler="sync"), x @ x.T)


def compute_or_required(t, budget):
    """`t` computed on dask within `budget`, or, where no task fits in it (a small budget
    for chunks of whole rows of a reshape's merged axes, say), within the budget the error
    names: the refusal must name one that works."""
    try:
        return t.compute(scheduler="sync", max_bytes=budget)
    except le.MemoryBudgetError as error:
        assert budget is not None and error.required_bytes > le.api.parse_bytes(budget)
        return t.compute(scheduler="sync", max_bytes=error.required_bytes)


def test_a_long_chain_of_computed_products_needs_no_recursion():
    """1,500 products, each computed first, over a chunked dask input: the graph is made in
    dependency order, not by one nested call per product (past the recursion limit)."""
    rng = np.random.default_rng(3)
    ms = [np.linalg.qr(rng.standard_normal((4, 4)))[0] for _ in range(1500)]
    x = rng.standard_normal((4, 4))
    t, want = le.lazy(da.from_array(x, chunks=(2, 4))), x
    for m in ms:
        t, want = t @ m, want @ m
    np.testing.assert_allclose(t.compute(scheduler="sync"), want, atol=1e-10)


def test_numpy_and_dask_expressions_compute_together():
    """le.compute of an expression over numpy arrays and one over dask arrays: dask's hold
    numpy chunks, so they are one library, as in one expression."""
    x = np.arange(6.0).reshape(2, 3)
    on_numpy, on_dask = le.lazy(x) * 2, le.lazy(da.from_array(x, chunks=(1, 3))).sum()
    got = le.compute(on_numpy, on_dask, scheduler="sync")
    np.testing.assert_array_equal(got[0], x * 2)
    assert got[1] == x.sum()


def test_unknown_shape_is_refused():
    x = chunked(np.arange(10.0) - 5, 3)
    with pytest.raises(le.ShapeError, match="unknown shape"):
        le.lazy(x[x > 0])


# -- API ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("budget", [None, "2kB"])
def test_to_dask_returns_a_dask_array(budget):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((20, 12)), rng.standard_normal((12, 7))
    for t, ref in [(le.lazy(chunked(x, (6, 5))) @ w + 1, x @ w + 1),  # a dask leaf
                   (le.lazy(x) @ w + 1, x @ w + 1),  # numpy leaves only
                   (le.kron(le.eye(3), w.T), np.kron(np.eye(3), w.T))]:
        arr = t.to_dask(max_bytes=budget)
        assert isinstance(arr, da.Array), type(arr)
        assert arr.shape == ref.shape and arr.dtype == ref.dtype
        assert tuple(sum(c) for c in arr.chunks) == ref.shape
        assert_matches(arr.compute(scheduler="sync"), ref)
        assert_matches(np.asarray(arr.compute(scheduler="threads")), ref)


def test_scheduler_on_numpy_leaves_equals_compute():
    rng = np.random.default_rng(6)
    A, B = rng.standard_normal((30, 20)), rng.standard_normal((20, 30))
    t = le.einsum("ij,jk->ik", A, B) + le.kron(le.eye(2), A[:15, :15]) - 2 * le.lazy(A) @ B
    plain = t.compute()
    for scheduler in ("sync", "threads"):
        assert_matches(t.compute(scheduler=scheduler), plain)
        assert_matches(t.compute(scheduler=scheduler, max_bytes="8kB"), plain)


def test_compute_several_returns_a_tuple():
    x = np.arange(24.0).reshape(4, 6)
    dx = chunked(x, 3)
    a, b = le.lazy(dx) @ x.T, le.lazy(dx).sum(axis=1) * 2
    for kw in ({"scheduler": "sync"}, {"scheduler": "sync", "max_bytes": "1kB"}, {}):
        got = le.compute(a, b, **kw)
        assert isinstance(got, tuple) and len(got) == 2
        assert_matches(got[0], x @ x.T)
        assert_matches(got[1], x.sum(axis=1) * 2)
    got = le.compute(le.lazy(x) + 1, scheduler="sync")  # numpy leaves, on dask
    assert isinstance(got, tuple) and len(got) == 1
    assert_matches(got[0], x + 1)


def test_clear_plan_cache_empties_the_dask_caches():
    from lazyein import caches
    from lazyein.backends import dask as backend

    x = np.arange(24.0).reshape(4, 6)
    t = le.lazy(chunked(x, 3)) @ x.T
    assert_matches(t.compute(scheduler="sync"), x @ x.T)
    assert backend._PROGRAMS and backend._SAMPLES and caches.ROOT_GRAPHS
    le.api.clear_plan_cache()  # the backend registered its own caches with `caches`
    assert not backend._PROGRAMS and not backend._SAMPLES and not caches.ROOT_GRAPHS
    assert_matches(t.compute(scheduler="sync"), x @ x.T)


def test_out_is_filled():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = le.lazy(chunked(x, (3, 4))) @ x.T - 1
    out = np.full((4, 4), np.nan)  # float32 results cast safely to float64
    assert t.compute(out=out) is out
    assert_matches(out, (x @ x.T - 1).astype(np.float64))
    out = np.full((4, 4), np.nan, np.float32)
    assert t.compute(out=out, scheduler="sync", max_bytes="1kB") is out
    assert_matches(out, x @ x.T - 1)


def test_out_is_untouched_when_a_chunk_fails():
    t = le.lazy(exploding((4, 6), 3)) @ np.ones((6, 4))
    out = np.full((4, 4), 7.0)
    with pytest.raises(Computed):
        t.compute(out=out, scheduler="sync")
    np.testing.assert_array_equal(out, 7.0)


def test_progress_bar_on_dask(capsys):
    x = np.arange(30.0).reshape(5, 6)
    got = (le.lazy(chunked(x, 2)) @ x.T).compute(progress=True, scheduler="sync")
    assert_matches(got, x @ x.T)
    assert "100% Completed" in capsys.readouterr().out


def test_too_small_a_budget_raises_before_computing():
    """4 bytes: less than one float64 of the result, so no task can fit."""
    t = le.lazy(exploding((6, 6), 3)) @ np.ones((6, 6))
    with pytest.raises(le.MemoryBudgetError) as info:  # not Computed: raised when planning
        t.compute(max_bytes=4)
    err = info.value
    assert isinstance(err, MemoryError) and isinstance(err, le.LazyeinError)
    assert err.required_bytes >= 8
    assert f"{err.required_bytes:,}" in str(err), str(err)
    assert re.search(r"max_bytes=4\b", str(err)), str(err)
    with pytest.raises(le.MemoryBudgetError):
        t.to_dask(max_bytes="4B")


def test_mixed_leaves_and_scalars():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((9, 7)), rng.standard_normal((7, 9))
    dx, dy = chunked(x, (4, 3)), chunked(y, (7, 2))
    t = 2 * le.lazy(dx) @ y + 1.5 - le.einsum("ij,jk->ki", dx, y) / 4 + x @ dy + 3
    ref = 2 * x @ y + 1.5 - np.einsum("ij,jk->ki", x, y) / 4 + x @ y + 3
    assert_matches(t.compute(scheduler="sync"), ref)
    assert_matches(t.compute(), ref)  # dask leaves: on dask, by dask's default scheduler
    assert_matches(t.compute(max_bytes="4kB"), ref)
    assert_matches(np.asarray(t), ref)


@pytest.mark.parametrize("dtype", ["int64", "int32", "float32", "complex64"])
def test_dtypes_are_preserved(dtype):
    x = (np.arange(35).reshape(5, 7) % 5 - 2).astype(dtype)
    dx = chunked(x, (2, 3))
    cases = [
        (le.lazy(dx) @ x.T, x @ x.T),
        (le.einsum("ij,ij->j", dx, x), np.einsum("ij,ij->j", x, x)),
        (2 * le.lazy(dx) + 1, 2 * x + 1),  # Python scalars are weak (NEP 50)
        (le.kron(le.eye(2, dtype=dtype), dx), np.kron(np.eye(2, dtype=dtype), x)),
        (le.pad(dx, 1) - le.pad(x, 1), np.pad(x, 1) - np.pad(x, 1)),
        (le.lazy(dx) * 0.5, x * 0.5),
    ]
    for t, ref in cases:
        assert t.dtype == ref.dtype, (t.dtype, ref.dtype)
        assert_matches(t.compute(scheduler="sync"), ref)
        assert_matches(t.compute(scheduler="sync", max_bytes="1kB"), ref)


# -- corner cases found while writing these tests ---------------------------------------------

@pytest.mark.parametrize("how, chunks", [
    pytest.param("numpy leaf", None, id="numpy-leaf"),
    pytest.param("dask leaf", (5, 4), id="dask-leaf-one-chunk"),
    pytest.param("dask leaf", (2, 4), id="dask-leaf-2x4"),
    pytest.param("dask leaf", (5, 2), id="dask-leaf-5x2"),
    pytest.param("dask leaf", 1, id="dask-leaf-1x1"),
    pytest.param("computed node", (5, 4), id="node-one-chunk-small-budget"),
    pytest.param("computed node", 2, id="node-2x2-small-budget")])
def test_reshape_no_split_or_merge_expresses(how, chunks):
    """A reshape that no split or merge of axes expresses ((5, 4) -> (2, 10) or (4, 5)) is
    handed to dask's own reshape, which raises NotImplementedError on more than one chunk
    (it only splits or merges axes); numpy reshapes in C order whatever the chunks."""
    x = np.arange(20.0).reshape(5, 4)
    t = {"numpy leaf": lambda: le.lazy(x),
         "dask leaf": lambda: le.lazy(chunked(x, chunks)),
         "computed node": lambda: le.pad(chunked(x, chunks), 0) * 1.0}[how]()
    budget = None if how != "computed node" else 8 * 8  # output chunks of 2 by 4 or so
    for shape in ((2, 10), (4, 5), (20,), (1, 2, 5, 2)):
        got = compute_or_required(t.reshape(shape), budget)
        assert_matches(got, x.reshape(shape))


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (1, 0, 4)])
def test_zero_size_within_a_small_budget(shape):
    """Zero-size results on dask within a small max_bytes (ZeroDivisionError inside dask's
    normalize_chunks("auto", (0, 4), limit=25, ...), called by out_bounds)."""
    z = np.zeros(shape)
    assert_matches((-le.lazy(z)).compute(max_bytes=100, scheduler="sync"), -z)
    assert_matches((le.lazy(chunked(z, 2)) * 2).compute(max_bytes=100), z * 2)


def test_required_bytes_is_enough():
    """API.md: MemoryBudgetError names the smallest budget that would work, so computing
    again with it works (it once named 8 here, where 16 is needed)."""
    x = np.array([0.0, 0.0, 3.0, 2.0, -2.0])
    t = le.lazy(x) + chunked(np.array([3.0]), 1)
    with pytest.raises(le.MemoryBudgetError) as info:
        t.compute(max_bytes=1)
    needed = info.value.required_bytes
    assert_matches(t.compute(max_bytes=needed), x + 3)


_TINY_BUDGET = """
import numpy as np, dask.array as da, lazyein as le
from lazyein.backends.dask import MAX_TASKS
rng = np.random.default_rng(0)
ops = [da.from_array(rng.standard_normal((60, 60)), chunks=20) for _ in range(4)]
t = le.einsum("ab,bc,cd,de->ae", *ops)
try:
    t.to_dask(max_bytes=1)
    raise SystemExit("max_bytes=1 did not raise")
except le.MemoryBudgetError as err:
    needed = err.required_bytes
tasks = len(t.to_dask(max_bytes=needed).__dask_graph__())
assert tasks <= 4 * MAX_TASKS, f"{tasks:,} tasks for max_bytes={needed}"
"""


def test_a_tiny_budget_is_planned_promptly():
    """A hopeless max_bytes raises before any heavy work, and the least budget that works
    makes a graph of a bounded size (each term is cut into at most MAX_TASKS blocks): run in
    a subprocess, killed if it takes long (a 60 x 60 chain once made 1.3 million tasks)."""
    try:
        done = subprocess.run([sys.executable, "-c", _TINY_BUDGET], capture_output=True,
                              text=True, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("planning a 60 x 60 chain within max_bytes=1, then within the budget "
                    "the error names, took more than 15 s")
    assert done.returncode == 0, done.stderr[-2000:]


# -- max_bytes bounds every task: measured task by task -----------------------------------------

def _key_name(key):
    return key[0] if isinstance(key, tuple) else str(key)


def task_footprints(run):
    """Call `run` (a computation on the synchronous scheduler) under tracemalloc; return its
    result and, per task, the bytes of its dependencies' values (numpy inputs lazyein holds
    whole in the graph excepted) plus its traced peak over the memory traced at its start."""
    footprints, started = {}, {}

    def pretask(key, dsk, state):
        reads = sum(getattr(state["cache"][dep], "nbytes", 0)
                    for dep in state["dependencies"][key]
                    if not _key_name(dep).startswith("lazyein-input-"))
        started[key] = (tracemalloc.get_traced_memory()[0], reads)
        tracemalloc.reset_peak()

    def posttask(key, result, dsk, state, worker_id):
        peak = tracemalloc.get_traced_memory()[1]
        start, reads = started.pop(key)
        footprints[key] = peak - start + reads

    tracemalloc.start()
    try:
        with Callback(pretask=pretask, posttask=posttask):
            result = run()
    finally:
        tracemalloc.stop()
    return result, footprints


def run_unfused(t, max_bytes=None):
    """`t.to_dask(max_bytes)` on the synchronous scheduler, its tasks as lazyein made them:
    dask's low-level fusion would merge linear chains (a lazyein task with the getter of its
    input chunk, or with the final concatenation) into one task of another name."""
    return task_footprints(
        lambda: dask.compute(t.to_dask(max_bytes), scheduler="sync", optimize_graph=False)[0])


def lazyein_tasks(footprints):
    """The footprints of lazyein's own tasks (not dask's inputs, rechunks or finalize)."""
    own = {k: v for k, v in footprints.items()
           if _key_name(k).startswith("lazyein-") and "-finalize-" not in _key_name(k)}
    assert own, sorted(map(str, footprints))[:10]
    return own


@pytest.mark.parametrize("name", ["problem1", "problem2", "chain"])
def test_each_task_stays_within_max_bytes(name):
    t, ref, budget = {
        "problem1": lambda: (*problem1(rows=40, chunks=(20, 784 * 5)), 10**6),
        "problem2": lambda: (*problem2(400, 400, (100, 100)), 2 * 10**6),
        "chain": lambda: (*chain(300, 100), 10**6),
    }[name]()
    result, footprints = run_unfused(t, budget)
    assert_matches(result, ref, rtol=1e-9)
    own = lazyein_tasks(footprints)
    worst = max(own, key=own.get)
    assert own[worst] <= budget + MiB, (worst, own[worst], budget, len(own))
    # the measure has teeth: a bound much smaller than max_bytes would fail
    assert own[worst] > budget // 32, (worst, own[worst], budget)
    # and compute(max_bytes=, scheduler=) runs the same plan
    assert_matches(t.compute(max_bytes=budget, scheduler="sync"), ref, rtol=1e-9)


def test_task_measure_sees_reads_and_allocations():
    """The measure counts a task's inputs and what it allocates: a task reading a 2 MB
    chunk and allocating 4 MB on the way is seen at 5 MB or more."""
    def grow(block):
        return np.concatenate([block, np.ones(len(block) // 2)])[:1].copy()

    x = da.from_array(np.ones(250_000), chunks=250_000)  # 2 MB
    _, footprints = task_footprints(lambda: dask.compute(
        x.map_blocks(grow, chunks=(1,)), scheduler="sync", optimize_graph=False))
    grown = [v for k, v in footprints.items() if _key_name(k).startswith("grow-")]
    assert grown and max(grown) >= 5 * 10**6, footprints


def test_task_measure_flags_an_unbudgeted_chain():
    """Without max_bytes, the chain in one chunk is one task reading four 720 kB matrices:
    the check of `test_each_task_stays_within_max_bytes` at 1 MB would fail on it."""
    t, ref = chain(300, 300)
    result, footprints = run_unfused(t)
    assert_matches(result, ref)
    own = lazyein_tasks(footprints)
    assert max(own.values()) > 10**6 + MiB, own


# -- random expressions over randomly chunked dask arrays ---------------------------------------

@st.composite
def chunkings(draw, shape):
    """Chunks for `shape`: per axis, regular of a random size, or irregular."""
    chunks = []
    for d in shape:
        if d > 1 and draw(st.booleans()):  # irregular: cut at a random set of places
            cuts = sorted(draw(st.sets(st.integers(1, d - 1), min_size=1, max_size=d - 1)))
        else:  # regular, of a random size (the last chunk shorter)
            size = draw(st.integers(1, max(d, 1)))
            cuts = range(size, d, size)
        bounds = [0, *cuts, d]
        chunks.append(tuple(hi - lo for lo, hi in zip(bounds, bounds[1:])))
    return tuple(chunks)


@st.composite
def dask_cases(draw, **kwargs):
    """A drawn `strategies.Case` and, for most of its inputs, a randomly chunked dask array to
    build it with instead (the others stay numpy)."""
    case = draw(strategies.exprs(**kwargs))
    inputs = {}
    for name, x in case.inputs.items():
        if draw(st.integers(0, 4)) < 4:  # one in five or so stays numpy
            inputs[name] = da.from_array(x, chunks=draw(chunkings(x.shape)))
    note(f"dask inputs and their chunks: {({k: v.chunks for k, v in inputs.items()})}")
    return case, inputs


def _copies(case):
    return {name: x.copy() for name, x in case.inputs.items()}


def _check_inputs_unchanged(case, before):
    for name, x in case.inputs.items():
        np.testing.assert_array_equal(x, before[name], err_msg=f"input {name} was modified")


@settings(max_examples=200, **_SETTINGS)
@given(drawn=dask_cases(min_ops=1, max_ops=6), via_to_dask=st.booleans())
def test_random_expressions_on_sync_match_numpy(drawn, via_to_dask):
    case, inputs = drawn
    before = _copies(case)
    t = case.build(inputs)[0]
    assert t.shape == case.ref.shape and t.dtype == case.ref.dtype
    if via_to_dask:
        arr = t.to_dask()
        assert isinstance(arr, da.Array)
        assert arr.shape == case.ref.shape and arr.dtype == case.ref.dtype
        got = np.asarray(arr.compute(scheduler="sync"))
    else:
        got = t.compute(scheduler="sync")
    assert_case(got, case)
    _check_inputs_unchanged(case, before)


@settings(max_examples=60, **_SETTINGS)
@given(drawn=dask_cases(min_ops=2, max_ops=6, outputs=2, share=True))
def test_several_random_outputs_at_once(drawn):
    """``le.compute(t1, t2, scheduler=)``: shared subexpressions, a tuple of numpy's values."""
    case, inputs = drawn
    got = le.compute(*case.build(inputs), scheduler="sync")
    assert isinstance(got, tuple) and len(got) == 2
    for g, ref, bound, rtol in zip(got, case.refs, case.bounds, case.rtols):
        assert_matches(g, ref, rtol, bound)


@settings(max_examples=150, **_SETTINGS)
@given(drawn=dask_cases(min_ops=1, max_ops=5), budget=st.integers(1, 1 << 13))
def test_random_budgets_compute_or_raise(drawn, budget):
    """Within a random max_bytes, numpy's value or MemoryBudgetError; and then the budget
    the error names works."""
    case, inputs = drawn
    t = case.build(inputs)[0]
    try:
        got = t.compute(max_bytes=budget, scheduler="sync")
    except le.MemoryBudgetError as err:
        assert isinstance(err, MemoryError)
        assert err.required_bytes > budget, (err.required_bytes, budget)
        assert f"{err.required_bytes:,}" in str(err), str(err)
        note(f"max_bytes={budget} raised; retrying with {err.required_bytes}")
        got = t.compute(max_bytes=err.required_bytes, scheduler="sync")
    assert_case(got, case)


# -- on a LocalCluster ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    """A two-worker cluster on loopback, bounded, not the default scheduler (tests make it the
    current one with `client.as_current()` where they mean to)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2)
        yield client


def on_cluster(client, how, compute):
    """`compute(**kwargs)` run on the cluster, by `scheduler=client` or with the client
    current; checks lazyein's tasks ran there."""
    with get_task_stream(client=client) as stream:
        if how == "scheduler":
            result = compute(scheduler=client)
        else:
            with client.as_current():
                result = compute()
    ran = [str(task["key"]) for task in stream.data]
    assert any("lazyein-" in key for key in ran), ran[:10]
    return result


_HOW = ["scheduler", "active"]


@pytest.mark.parametrize("budget", [None, "1MB"])
@pytest.mark.parametrize("how", _HOW)
def test_problem1_on_cluster(client, how, budget):
    t, ref = problem1()
    assert t.shape == (900, 24) and t.dtype == np.float64
    got = on_cluster(client, how, lambda **kw: t.compute(max_bytes=budget, **kw))
    assert_matches(got, ref)


@pytest.mark.parametrize("budget", [None, "100kB"])
@pytest.mark.parametrize("how", _HOW)
def test_problem2_on_cluster(client, how, budget):
    E, ref = problem2(150, 120, (50, 40))
    assert E.explain().num_terms == 4
    got = on_cluster(client, how, lambda **kw: E.compute(max_bytes=budget, **kw))
    assert_matches(got, ref)


def test_progress_bar_on_cluster(client, capsys):
    """progress=True on a Client shows distributed's bar (dask.diagnostics' shows nothing
    there): it ends at the number of tasks, all done."""
    E, ref = problem2(150, 120, (50, 40))
    assert_matches(E.compute(max_bytes="100kB", scheduler=client, progress=True), ref)
    shown = capsys.readouterr().out
    assert "100%" in shown and "Completed" in shown, shown[-300:]


@pytest.mark.parametrize("budget", [None, "2kB"])
@pytest.mark.parametrize("how", _HOW)
def test_problem3_on_cluster(client, how, budget):
    lazy, refs = problem3()
    got = on_cluster(client, how, lambda **kw: le.compute(*lazy, max_bytes=budget, **kw))
    assert isinstance(got, tuple) and len(got) == len(refs)
    for g, ref in zip(got, refs):
        assert_matches(g, ref)
    assert got[0].dtype == np.float32 and got[-2].dtype == np.int64


@pytest.mark.parametrize("budget", [None, "20kB"])
@pytest.mark.parametrize("how", _HOW)
def test_problem4_on_cluster(client, how, budget):
    B, ref = problem4()
    assert B.shape == (14, 14, 4)
    assert B.explain().materialized == ()
    got = on_cluster(client, how, lambda **kw: B.compute(max_bytes=budget, **kw))
    assert_matches(got, ref)


@settings(max_examples=25, **_SETTINGS)
@given(drawn=dask_cases(min_ops=1, max_ops=6))
def test_random_expressions_on_cluster_match_numpy(client, drawn):
    case, inputs = drawn
    t = case.build(inputs)[0]
    assert_case(t.compute(scheduler=client), case)
