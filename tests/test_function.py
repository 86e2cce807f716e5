"""le.placeholder and le.function (issue 12): numpy is the oracle for values, shapes, dtypes."""

import dataclasses
import functools
import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyein as le
import strategies
from lazyein import testing
from lazyein.testing import convolution_operator, traced_working_bytes

MiB = 1 << 20
rng = np.random.default_rng(0)


# -- placeholders ---------------------------------------------------------------------------

def test_placeholder_builds_like_an_array():
    x = le.placeholder((3, 4), name="x")
    y = le.placeholder((4,), np.float32)
    t = le.kron(x, np.eye(2)) @ le.pad(y, 2)
    assert t.shape == (6,) and t.dtype == np.float64
    assert (x.shape, x.dtype, x.ndim, x.size, x.nbytes) == ((3, 4), np.float64, 2, 12, 96)
    assert y.dtype == np.float32
    assert "placeholder 'x'" in repr(x)
    assert x.node is not le.placeholder((3, 4), name="x").node  # two placeholders are two leaves
    assert (x + x).node is (x + x).node  # ... but one placeholder is one leaf


def test_placeholder_checks_its_arguments():
    with pytest.raises(TypeError, match="numeric"):
        le.placeholder((2,), dtype=object)
    with pytest.raises(le.ShapeError, match=">= 0"):
        le.placeholder((2, -1))
    with pytest.raises(TypeError, match="name"):
        le.placeholder((2,), name=3)
    assert le.placeholder(3).shape == (3,)
    assert le.placeholder(()).shape == ()


def test_computing_an_unbound_placeholder_names_it():
    x = le.placeholder((3,), name="velocity")
    t = 2 * x + np.ones(3)
    for compute in (t.compute, lambda: np.asarray(t), lambda: le.compute(t, t + 1),
                    lambda: le.compute(np.ones(3) + le.lazy(np.ones(3)), t)):
        with pytest.raises(le.LazyeinError, match="velocity"):
            compute()
    # the same twice: a compute never keeps a plan that would skip the check
    with pytest.raises(le.LazyeinError, match="velocity"):
        t.compute()
    plan = t.explain()  # inspection still works
    assert "velocity" in str(plan)
    assert "velocity" in t.to_dot()
    assert t.shape == (3,)
    with pytest.raises(le.LazyeinError, match="velocity"):
        t.compute()
    with pytest.raises(le.LazyeinError, match="unnamed"):
        (le.placeholder((2,)) * 3).compute()


def test_placeholders_stay_out_of_other_libraries():
    x = le.placeholder((2,))
    da = pytest.importorskip("dask.array")
    mixed = x + da.ones(2, chunks=1)
    with pytest.raises(TypeError, match="numpy"):
        le.function(x, mixed)
    with pytest.raises(le.LazyeinError, match="placeholder"):
        mixed.compute()
    xp = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="two libraries"):
        x + xp.ones(2)


# -- values ---------------------------------------------------------------------------------

def test_function_matches_numpy():
    A, B = rng.standard_normal((5, 3)), rng.standard_normal((3, 4))
    x, y = le.placeholder((3, 4), name="x"), le.placeholder((5,), name="y")
    f = le.function([x, y], le.einsum("ij,jk,i->k", A, x, y) + 2 * le.lazy(B).sum(0))
    for _ in range(3):
        X, Y = rng.standard_normal((3, 4)), rng.standard_normal(5)
        got = f(X, Y)
        want = np.einsum("ij,jk,i->k", A, X, Y) + 2 * B.sum(0)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("dtype", ["float32", "int64", "complex128", "bool"])
def test_function_dtypes_follow_numpy(dtype):
    W = np.arange(6).reshape(2, 3)
    x = le.placeholder((3,), dtype)
    f = le.function(x, le.lazy(W) @ x + 1.5 * x.sum())
    X = np.array([1, 0, 1]).astype(dtype)
    want = W @ X + 1.5 * X.sum()
    got = f(X)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want)


def test_safe_casts_are_cast_others_refused():
    x = le.placeholder((3,), np.float64, name="x")
    f = le.function(x, 2 * x)
    for arg in (np.arange(3, dtype=np.int32), np.arange(3, dtype=np.float32), [1, 2, 3],
                np.arange(3, dtype=">f8"), np.array([True, False, True])):
        np.testing.assert_array_equal(f(arg), 2 * np.asarray(arg, dtype=float))
    with pytest.raises(TypeError, match="does not cast safely"):
        f(np.ones(3, complex))
    z = le.placeholder((3,), np.int32)
    with pytest.raises(TypeError, match="does not cast safely.*int32"):
        le.function(z, z)(np.ones(3, np.int64))
    with pytest.raises(TypeError, match="numeric"):
        f(np.array(["a", "b", "c"]))


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_array_subclasses_lists_and_scalars(tmp_path):
    x = le.placeholder((4, 1))
    f = le.function(x, x.reshape(2, 2) @ np.ones((2, 2)))
    want = np.arange(4.0).reshape(2, 2) @ np.ones((2, 2))
    got = f(np.matrix(np.arange(4.0)).T)  # np.matrix reshapes only to 2-D: read as ndarray
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, want)
    disk = np.memmap(tmp_path / "x.dat", dtype=float, mode="w+", shape=(4, 1))
    disk[:, 0] = np.arange(4.0)
    np.testing.assert_array_equal(f(disk), want)
    np.testing.assert_array_equal(f([[0], [1], [2], [3]]), want)
    s = le.placeholder((), np.complex128)
    got = le.function(s, 3 * s)(2)
    assert got.shape == () and got.dtype == np.complex128 and got == 6


def test_wrong_shapes_and_counts():
    x, y = le.placeholder((3,), name="x"), le.placeholder((2, 3), name="y")
    f = le.function([x, y], y @ x)
    with pytest.raises(le.ShapeError, match=r"argument 0 \(x \[3\] float64\) has shape \(4,\)"):
        f(np.ones(4), np.ones((2, 3)))
    with pytest.raises(le.ShapeError, match=r"shape \(3, 2\), expected \(2, 3\)"):
        f(np.ones(3), np.ones((3, 2)))
    with pytest.raises(TypeError, match="takes 2 array"):
        f(np.ones(3))
    with pytest.raises(TypeError, match="takes 2 array"):
        f(np.ones(3), np.ones((2, 3)), np.ones(3))
    with pytest.raises(TypeError, match="numpy array"):
        f(le.lazy(np.ones(3)), np.ones((2, 3)))


def test_construction_errors():
    x, y = le.placeholder((3,), name="x"), le.placeholder((3,), name="y")
    with pytest.raises(le.LazyeinError, match="placeholder y .* not among the inputs"):
        le.function(x, x + y)
    with pytest.raises(TypeError, match=r"must be placeholders .*; input 0 is a ndarray"):
        le.function(np.ones(3), x)
    with pytest.raises(TypeError, match="input 1 is a LazyTensor of add"):
        le.function([x, x + y], x)
    with pytest.raises(TypeError, match="input 0 is a LazyTensor of leaf"):
        le.function(le.lazy(np.ones(3)), x)
    with pytest.raises(ValueError, match="given twice"):
        le.function([x, x], x)
    with pytest.raises(TypeError, match="outputs must be LazyTensors"):
        le.function(x, np.ones(3))
    with pytest.raises(le.MemoryBudgetError):
        le.function(x, (np.ones((500, 3)) @ x) @ np.ones((500, 500)), max_bytes=1)


def test_unused_input_and_constant_output():
    x, y = le.placeholder((3,), name="x"), le.placeholder((2,), name="y")
    C = np.arange(3.0)
    f = le.function([x, y], [2 * x, le.lazy(C) + 0])
    a, b = f(np.ones(3), np.zeros(2))
    np.testing.assert_array_equal(a, [2, 2, 2])
    np.testing.assert_array_equal(b, C)
    assert not np.shares_memory(b, C)
    g = le.function(x, x)  # an output that is the input itself: a new array, as numpy's copy
    X = np.ones(3)
    assert not np.shares_memory(g(X), X)


def test_several_outputs_share_one_plan():
    A = rng.standard_normal((30, 30))
    x = le.placeholder((30,), name="x")
    Ax = le.lazy(A) @ x
    f = le.function(x, [Ax, 2 * Ax, Ax @ Ax])
    X = rng.standard_normal(30)
    got = f(X)
    assert isinstance(got, tuple) and len(got) == 3
    np.testing.assert_allclose(got[0], A @ X)
    np.testing.assert_allclose(got[1], 2 * (A @ X))
    np.testing.assert_allclose(got[2], (A @ X) @ (A @ X))
    # A @ x once, as le.compute plans it
    assert f.explain().flops < 2 * 2 * 30 * 30 + 1000
    same = le.function(x, [Ax, Ax])(X)
    assert not np.shares_memory(*same)
    np.testing.assert_array_equal(same[0], same[1])
    one = le.function(x, (Ax,))(X)  # a tuple of one output gives a tuple of one array
    assert isinstance(one, tuple) and len(one) == 1


def test_strides_of_a_call_are_planned_for():
    """A call's arrays may have any strides: another plan for them, within max_bytes."""
    A = rng.standard_normal((40, 50))
    x = le.placeholder((50, 30), name="x")
    f = le.function(x, (le.lazy(A) @ x).reshape(1200), max_bytes="64KB")
    base = rng.standard_normal((120, 100))
    for X in (base[:50, :30].copy(), base[:50, :30], base[:100:2, :60:2], base[:30, :50].T,
              np.broadcast_to(base[0, :30], (50, 30)), base[49::-1, :30]):
        want = (A @ X).reshape(1200)
        f(X)
        got, working = traced_working_bytes(lambda X=X: f(X))
        np.testing.assert_allclose(got, want)
        assert working <= 64_000 + MiB
    assert len(f._layouts) == 5  # all but the C-ordered copy


def test_function_plans_once_and_reuses():
    calls = []
    x = le.placeholder((4,), name="x")
    f = le.function(x, le.kron(np.eye(2), np.ones((2, 2))) @ x)
    import lazyein.runtime as runtime

    real = runtime.plan_for
    runtime.plan_for = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        for _ in range(3):
            f(rng.standard_normal(4))
    finally:
        runtime.plan_for = real
    assert calls == []


def test_explain_and_repr():
    x = le.placeholder((3,), name="x")
    f = le.function(x, le.lazy(np.ones((2, 3)), name="W") @ x)
    text = str(f.explain())
    assert "x" in text and "W" in text and "term 0" in text
    assert isinstance(f.explain(), le.Plan)
    assert repr(f) == "<lazyein function (x [3] float64) -> ([2] float64)>"


# -- out= -----------------------------------------------------------------------------------

def test_out():
    x = le.placeholder((2, 3), name="x")
    f = le.function(x, 2 * x)
    out = np.zeros((2, 3))
    assert f(np.ones((2, 3)), out=out) is out
    np.testing.assert_array_equal(out, 2)
    out = np.zeros((2, 3), complex)  # float64 casts safely to complex
    f(np.ones((2, 3)), out=out)
    np.testing.assert_array_equal(out, 2)
    g = le.function(x, [x.sum(0), 3 * x])
    a, b = np.zeros(3), np.zeros((2, 3))
    got = g(np.ones((2, 3)), out=(a, None))
    assert got[0] is a and got[1] is not b
    np.testing.assert_array_equal(a, 2)
    np.testing.assert_array_equal(got[1], 3)


def test_out_untouched_on_error():
    x = le.placeholder((2, 3), name="x")
    f = le.function(x, 2 * x)
    g = le.function(x, [x.sum(0), 3 * x])
    out = np.full((2, 3), 7.0)
    bad = [(f, (np.ones((3, 2)),), out, le.ShapeError),
           (f, (np.ones((2, 3), complex),), out, TypeError),
           (f, (), out, TypeError),
           (f, (np.ones((2, 3)),), np.full((2, 3), 7, np.float32), TypeError),
           (f, (np.ones((2, 3)),), np.full((3, 2), 7.0), le.ShapeError),
           (g, (np.ones((2, 3)),), (np.full(3, 7.0), np.full((2, 3), 7, int)), TypeError),
           (g, (np.ones((2, 3)),), out, TypeError)]
    for fn, args, target, error in bad:
        before = [t.copy() for t in (target if isinstance(target, tuple) else (target,))]
        with pytest.raises(error):
            fn(*args, out=target)
        for t, b in zip(target if isinstance(target, tuple) else (target,), before):
            np.testing.assert_array_equal(t, b)
            assert t.dtype == b.dtype


# -- memory ---------------------------------------------------------------------------------

def test_call_arrays_are_not_kept():
    A = rng.standard_normal((20, 20))
    x, y = le.placeholder((20,), name="x"), le.placeholder((20, 3), name="y")
    f = le.function([x, y], [le.lazy(A) @ x, le.lazy(A) @ y])
    for strided in (False, True):
        X, Y = rng.standard_normal(20), rng.standard_normal((3, 20)).T
        if not strided:
            Y = Y.copy()
        refs = [weakref.ref(X), weakref.ref(Y)]
        out = f(X, Y)
        del X, Y
        gc.collect()
        assert all(r() is None for r in refs), "a call's arrays are still referenced"
        del out
    np.testing.assert_allclose(f(np.ones(20), np.ones((20, 3)))[0], A.sum(1))


def test_call_within_max_bytes():
    """A call's traced working memory stays within max_bytes (the convolution of problem 4)."""
    K = rng.standard_normal((3, 3, 3, 8))
    A = le.placeholder((40, 40, 3), name="A")
    budget = 256_000
    f = le.function(A, le.tensordot(convolution_operator(K, 40), A, 3), max_bytes=budget)
    assert f.explain().peak_bytes <= budget
    image = rng.standard_normal((40, 40, 3))
    want = sum(image[a:a + 38, b:b + 38, :] @ K[a, b] for a in range(3) for b in range(3))
    f(image)
    got, working = traced_working_bytes(lambda: f(image))
    np.testing.assert_allclose(got, want)
    assert working <= budget + MiB, working
    unlimited = le.function(A, le.tensordot(convolution_operator(K, 40), A, 3))
    assert unlimited.explain().peak_bytes > budget  # the budget did cut the work


# -- property: random expressions with some leaves as placeholders ---------------------------

@settings(max_examples=300, **strategies.deterministic())
@given(case=strategies.exprs(min_ops=1, max_ops=6, outputs=2), data=st.data())
def test_function_of_random_expressions(case, data):
    names = sorted(case.inputs)
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, min_size=1,
                                max_size=len(names)) if names else st.just([]),
                       label="placeholders")
    holders = {n: le.placeholder(case.inputs[n].shape, case.inputs[n].dtype, name=n)
               for n in chosen}
    # a placeholder is named already: le.lazy(A, name='A') of it becomes A
    code = tuple(functools.reduce(lambda line, n: line.replace(f"le.lazy({n}, name={n!r})", n),
                                  chosen, line) for line in case.lazy_code)
    outputs = dataclasses.replace(case, lazy_code=code).build(holders)
    f = le.function([holders[n] for n in chosen], list(outputs))
    args = [case.inputs[n] for n in chosen]
    for _ in range(2):  # planned once, run twice
        got = f(*args)
        for g, ref, bound, rtol in zip(got, case.refs, case.bounds, case.rtols):
            testing.assert_like_numpy(g, ref, rtol, bound)
