"""Plans on an array-API library: array-api-strict leaves against numpy, as the oracle."""

import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyein as le
import strategies
from lazyein import testing

xp = pytest.importorskip("array_api_strict")
Array = type(xp.asarray(0.0))
pytest.importorskip("array_api_compat")

_SETTINGS = strategies.deterministic(shrink=False)
rng = np.random.default_rng(5)


def _lazy(x, name=None):
    return x if isinstance(x, le.LazyTensor) else le.lazy(x, name)


# the case's code sees `le` with a `lazy` that passes leaves through (see `_strict`)
_LE = types.SimpleNamespace(**{k: getattr(le, k) for k in dir(le) if not k.startswith("__")}
                            | {"lazy": _lazy})


def _strict(case) -> dict:
    """The case's inputs as array-api-strict arrays, wrapped as leaves: that library's own
    operators (``x - t`` with `x` on the left) do not defer to a LazyTensor as numpy's do."""
    return {"le": _LE, **{name: le.lazy(xp.asarray(np.ascontiguousarray(x)), name)
                          for name, x in case.inputs.items()}}


def _check(got, ref, bound, rtol, strict=True):
    """`got` is an array-api-strict array (with `strict`; else numpy's: an expression of
    constants alone) of `ref`'s shape and dtype, equal to it."""
    assert isinstance(got, Array if strict else np.ndarray), type(got)
    assert tuple(got.shape) == ref.shape
    assert np.dtype(str(got.dtype).rsplit(".", 1)[-1]) == ref.dtype, (got.dtype, ref.dtype)
    testing.assert_like_numpy(np.asarray(got), ref, rtol, bound)


@settings(max_examples=500, **_SETTINGS)
@given(case=strategies.exprs(min_ops=1, max_ops=6))
def test_random_dags_on_array_api_strict_match_numpy(case):
    """Every operation, in random DAGs, run in array-api-strict: numpy's values and dtypes."""
    inputs = _strict(case)
    (t,) = case.build(inputs)[:1]
    assert t.shape == case.ref.shape and t.dtype == case.ref.dtype
    # an expression of constants alone (eye, 0-d inputs, which mix with any library) is
    # numpy's
    _check(t.compute(), case.ref, case.bound, case.rtol, t.node.library is not None)


def _check_strict(case, outputs=1):
    """The case built on array-api-strict leaves: each output numpy's value and dtype."""
    ts = case.build(_strict(case))[:outputs]
    results = le.compute(*ts) if outputs > 1 else (ts[0].compute(),)
    # expressions computed together run in one library: an expression of constants alone
    # with the others
    strict = any(t.node.library is not None for t in ts)
    for t, got, ref, bound, rtol in zip(ts, results, case.refs, case.bounds, case.rtols):
        assert t.shape == ref.shape and t.dtype == ref.dtype
        _check(got, ref, bound, rtol, strict)


@pytest.mark.parametrize("op", sorted(strategies.OPERATIONS))
@settings(max_examples=30, **_SETTINGS)
@given(data=st.data())
def test_each_operation_on_array_api_strict(op, data):
    """Each operation family alone, as test_property runs them on numpy."""
    _check_strict(data.draw(strategies.exprs(max_ops=2, ops=(op,)), label="case"))


@settings(max_examples=150, **_SETTINGS)
@given(case=strategies.exprs(min_ops=1, max_ops=4, dtypes=(
    "float32", "int64", "complex128", "float64", "int8", "int16", "int32")))
def test_dtype_promotion_on_array_api_strict(case):
    """Mixed input dtypes (small integers too) with Python and numpy scalars: numpy's
    promotion and wrapping, computed in the other library."""
    _check_strict(case)


@settings(max_examples=100, **_SETTINGS)
@given(case=strategies.exprs(min_ops=1, max_ops=4, share=True))
def test_shared_subexpressions_on_array_api_strict(case):
    """A node used twice by one operation (S * S, stack([S, S]), ...)."""
    _check_strict(case)


@settings(max_examples=60, **_SETTINGS)
@given(case=strategies.exprs(min_ops=2, max_ops=5, outputs=3))
def test_compute_many_on_array_api_strict(case):
    """le.compute of three expressions at once, in array-api-strict."""
    _check_strict(case, outputs=3)


@settings(max_examples=120, **_SETTINGS)
@given(case=strategies.exprs(min_ops=2, max_ops=5))
def test_budgets_that_force_chunks_on_array_api_strict(case):
    """Under a budget below the unbounded plan's peak, the plan chunks (or says what it
    needs) and still computes numpy's values; its accounted peak stays within the budget."""
    (t,) = case.build(_strict(case))[:1]
    peak = t.explain().peak_bytes
    budget = max(peak // 3, 64)
    try:
        plan = t.explain(max_bytes=budget)
    except le.MemoryBudgetError as error:
        assert error.required_bytes > budget
        return
    assert plan.peak_bytes <= budget
    assert plan.backend == ("array_api_strict" if t.node.library else "numpy")
    _check(t.compute(max_bytes=budget), case.ref, case.bound, case.rtol,
           t.node.library is not None)


@settings(max_examples=60, **_SETTINGS)
@given(case=strategies.problem_cases())
def test_problem_scenarios_on_array_api_strict(case):
    """Kron with eye, sums under einsum, convolutions written with pad and stack."""
    (t,) = case.build(_strict(case))[:1]
    _check(t.compute(), case.ref, case.bound, case.rtol, t.node.library is not None)


def test_the_four_problems_at_small_size():
    W = rng.normal(size=(5, 12))
    data = rng.normal(size=(7, 4 * 12))
    t = le.kron(le.eye(4), xp.asarray(W)) @ le.lazy(xp.asarray(data)).T
    _check(t.compute(), np.kron(np.eye(4), W) @ data.T, 100.0, 1e-12)

    n, q = 6, 7
    A, B, Y2, Z2 = (rng.normal(size=s) for s in ((n, n), (q,), (n,), (q, n)))
    C = le.lazy_einsum("i,jk->ijk", xp.asarray(B), xp.asarray(A))
    C2 = le.lazy_einsum("j,ik->ijk", xp.asarray(Y2), xp.asarray(Z2))
    E = le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)
    S = np.einsum("i,jk->ijk", B, A) + np.einsum("j,ik->ijk", Y2, Z2)
    _check(E.compute(), np.einsum("ijk,ikj->k", S, S), 1e3, 1e-12)
    assert E.explain().num_terms == 4

    X = rng.normal(size=(3, 4))
    _check(le.einsum("ij->ji", xp.asarray(X)).compute(), X.T, 1.0, 0)
    _check(le.einsum("ii", xp.asarray(A)).compute(), np.trace(A), 10.0, 1e-12)

    m1, m2, nch, k1, k2, nf = 6, 5, 2, 3, 2, 3
    K, image = rng.normal(size=(k1, k2, nch, nf)), rng.normal(size=(m1, m2, nch))
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    Kt = le.transpose(xp.asarray(K), (3, 0, 1, 2))
    W_K = le.stack([le.stack([le.pad(Kt, ((0, 0), (i, m1 - i - k1), (j, m2 - j - k2), (0, 0)))
                              for j in range(w2)]) for i in range(w1)])
    B = le.tensordot(W_K, xp.asarray(image), 3)
    want = np.einsum("ijxyc,xyck->ijk", np.lib.stride_tricks.sliding_window_view(
        image, (k1, k2), axis=(0, 1)).transpose(0, 1, 3, 4, 2), K)
    _check(B.compute(), want, 1e2, 1e-12)
    # the window has no strided view in the standard: gathered, priced, and said so
    assert "gathered into a copy (array_api_strict has no strided views)" in str(B.explain())
    _check(B.compute(max_bytes=B.explain().peak_bytes // 2 + 4096), want, 1e2, 1e-12)


def test_mixing_libraries_is_a_type_error_when_built():
    a, n = xp.asarray(np.ones((2, 2))), np.ones((2, 2))
    for build in (lambda: le.lazy(a) + n, lambda: le.einsum("ij,jk", a, n),
                  lambda: n @ le.lazy(a), lambda: le.stack([a, n]), lambda: le.kron(n, a)):
        with pytest.raises(TypeError, match="two libraries, (numpy and array_api_strict|"
                                            "array_api_strict and numpy)"):
            build()
    with pytest.raises(TypeError, match="two libraries"):
        le.compute(le.lazy(a), le.lazy(n))


def test_scalars_and_structure_mix_freely():
    x = rng.normal(size=(4, 4)).astype(np.float32)
    t = 2 * (le.eye(4, dtype=np.float32) - le.lazy(xp.asarray(x)) / 3) + 1.5
    got = t.compute()
    want = 2 * (np.eye(4, dtype=np.float32) - x / 3) + 1.5
    _check(got, want, 10.0, 1e-6)
    assert t.dtype == np.float32
    total = le.lazy(xp.asarray(x)).sum()
    assert isinstance(total.compute(), Array) and total.compute().shape == ()
    np.testing.assert_allclose(np.asarray(t), want, rtol=1e-6)  # np.asarray gives numpy


def test_out_takes_an_array_of_the_library_and_is_untouched_on_error():
    x = rng.normal(size=(3, 3))
    t = le.lazy(xp.asarray(x)) @ xp.asarray(x)
    out = xp.zeros((3, 3), dtype=xp.complex128)
    assert t.compute(out=out) is out
    np.testing.assert_allclose(np.asarray(out), x @ x)
    before = np.full((3, 3), 7.0)
    numpy_out = before.copy()
    with pytest.raises(TypeError, match="out must be an array of array_api_strict"):
        t.compute(out=numpy_out)
    np.testing.assert_array_equal(numpy_out, before)
    with pytest.raises(le.ShapeError, match=r"out has shape \(2, 3\)"):
        t.compute(out=xp.zeros((2, 3)))
    with pytest.raises(TypeError, match="does not cast safely"):
        t.compute(out=xp.zeros((3, 3), dtype=xp.float32))
    small = xp.full((3, 3), 7.0)
    chain = t @ xp.asarray(x)  # its intermediate needs more than one byte
    with pytest.raises(le.MemoryBudgetError):
        chain.compute(max_bytes=1, out=small)
    np.testing.assert_array_equal(np.asarray(small), before)


def test_a_diagonal_and_a_region_are_gathered_and_scattered_exactly():
    """A repeated label reads a diagonal, and eye adds onto one: through positions, with
    structural zeros untouched (inf stays where numpy's dense product would spread nan)."""
    x = rng.normal(size=(5, 5))
    x[1, 2] = np.inf
    t = le.einsum("ii,ij->ij", xp.asarray(x), xp.asarray(np.ones((5, 5)))) + le.eye(5, k=1)
    want = np.diag(x)[:, None] * np.ones((5, 5)) + np.eye(5, k=1)
    _check(t.compute(), want, 10.0, 1e-12)
    chunked = t.compute(max_bytes=t.explain().peak_bytes // 2 + 2048)
    _check(chunked, want, 10.0, 1e-12)


def test_torch_tensors_run_in_torch():
    """torch (when installed) through array-api-compat: nothing in lazyein is specific to
    it. The conv operator's window is gathered; results are tensors on the inputs' device."""
    torch = pytest.importorskip("torch")
    W, x = rng.normal(size=(5, 12)), rng.normal(size=(4 * 12, 3))
    t = le.kron(le.eye(4), torch.tensor(W)) @ torch.tensor(x)
    got = t.compute()
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), np.kron(np.eye(4), W) @ x, atol=1e-12)
    image, K = rng.normal(size=(6, 6)), rng.normal(size=(3, 3))
    Kt = torch.tensor(K)  # one leaf, padded 16 ways: one window
    W_K = le.stack([le.stack([le.pad(Kt, ((i, 3 - i), (j, 3 - j)))
                              for j in range(4)]) for i in range(4)])
    conv = le.tensordot(W_K, torch.tensor(image), 2)
    want = np.einsum("ijxy,xy->ij", np.lib.stride_tricks.sliding_window_view(image, (3, 3)), K)
    np.testing.assert_allclose(conv.compute().numpy(), want, atol=1e-12)
    assert "gathered into a copy (torch has no strided views)" in str(conv.explain())
    with pytest.raises(TypeError, match="two libraries"):
        le.lazy(torch.tensor(W)) + W
