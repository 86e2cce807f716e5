"""numpy's vocabulary (lazyein/api_numpy.py): zeros, ones, full, diag, conj, real, imag,
astype, squeeze, expand_dims, broadcast_to, outer, inner, vdot, and ndarray sublists in the
interleaved einsum form, each against numpy (values, shapes, dtypes), alone and inside
expressions; structure is never built, and errors come when the expression is built."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lazyein as le
from lazyein.ir import Op, toposort
from lazyein.testing import assert_like_numpy, traced_working_bytes

MiB = 1 << 20
RNG = np.random.default_rng(0)
A = RNG.standard_normal((4, 3))
Z = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
V = RNG.standard_normal(4)
DTYPES = (np.float64, np.float32, np.int64, np.int8, np.complex128, np.complex64, bool)


def same(t, ref, rtol=None):
    """`t` computes to `ref`: value, shape and dtype; its metadata knew them before."""
    ref = np.asarray(ref)
    assert t.shape == ref.shape and t.dtype == ref.dtype, (t, ref.shape, ref.dtype)
    got = t.compute()
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.dtype, ref.dtype)
    assert_like_numpy(got, ref, rtol)


def array(dtype, shape=(4, 3)):
    x = RNG.integers(-3, 4, size=shape).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * RNG.integers(-3, 4, size=shape)
    return x


def ops(t) -> set:
    return {n.op for n in toposort(t.node)}


# -- zeros, ones, full ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_constants_match_numpy_per_dtype(dtype):
    for shape in ((2, 3), 4, (), (0, 2), [1, 2, 1]):
        same(le.zeros(shape, dtype), np.zeros(shape, dtype))
        same(le.ones(shape, dtype=dtype), np.ones(shape, dtype))
        same(le.full(shape, 3, dtype), np.full(shape, 3, dtype))


def test_full_takes_numpys_dtype_of_its_value_and_casts_as_numpy():
    for value in (2, 2.5, True, 1 + 2j, np.float32(1.5), np.int8(3), np.inf, np.nan):
        same(le.full((2, 2), value), np.full((2, 2), value))
    same(le.full(3, 2.7, dtype=int), np.full(3, 2.7, dtype=int))
    same(le.full((2, 3), np.arange(3.0)), np.full((2, 3), np.arange(3.0)))
    same(le.full((2, 3), np.arange(3), dtype=np.float32),
         np.full((2, 3), np.arange(3), dtype=np.float32))


def test_defaults_and_promotion_in_expressions():
    assert le.zeros(3).dtype == np.float64 and le.ones(3).dtype == np.float64
    x = array(np.float32)
    same(le.lazy(x) + le.ones((4, 3)), x + np.ones((4, 3)))  # float32 + float64
    same(le.lazy(x) + le.ones((4, 3), np.float32) * 2, x + 2 * np.ones((4, 3), np.float32))
    same(le.lazy(x) * le.full((3,), 2, np.int8), x * np.full(3, 2, np.int8))
    same(le.ones((3, 2), bool) @ le.ones((2, 2), bool),
         np.ones((3, 2), bool) @ np.ones((2, 2), bool))
    same(le.lazy(A) - le.zeros((4, 3)), A)
    same((le.lazy(A) + le.full((4, 3), 2.0)) @ le.ones((3, 5)),
         (A + 2.0) @ np.ones((3, 5)))


def test_constants_are_never_built():
    t = le.ones((1000, 1000)) @ le.lazy(np.ones((1000, 2)))
    assert t.explain().peak_bytes < 100_000
    assert le.zeros((10**6, 10**6)).explain().num_terms == 0
    assert "ones[2,3]" in repr(le.ones((2, 3))) and "zeros[2]" in repr(le.zeros(2))
    assert "full[2,3,0.5]" in repr(le.full((2, 3), 0.5))


def test_constant_errors_at_build():
    with pytest.raises(le.ShapeError):
        le.zeros((2, -1))
    with pytest.raises(TypeError):
        le.ones(3, dtype="U3")
    with pytest.raises(TypeError):
        le.full(3, "a")


def test_centering_matrix_is_a_column_sum_not_a_square():
    n = 7
    x = RNG.standard_normal((n, 3))
    t = (le.eye(n) - le.ones((n, n)) / n) @ x
    same(t, (np.eye(n) - np.ones((n, n)) / n) @ x)
    plan = t.explain()
    assert plan.num_terms == 2 and plan.materialized == ()
    assert f"[{n}, {n}]" not in str(plan)


def test_centering_at_100000_rows_within_16MB():
    n = 100_000
    x = RNG.standard_normal((n, 8))
    t = (le.eye(n) - le.ones((n, n)) / n) @ x
    result, working = traced_working_bytes(lambda: t.compute(max_bytes="16MB"))
    np.testing.assert_allclose(result, x - x.mean(0), atol=1e-12)
    assert working <= 16e6 + MiB, working


# -- diag -------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0, 1, -1, 3, -4])
def test_diag_matches_numpy(k):
    same(le.diag(V, k), np.diag(V, k))
    same(le.diag(V, k=k) @ le.lazy(np.ones((len(V) + abs(k), 2))),
         np.diag(V, k) @ np.ones((len(V) + abs(k), 2)))
    b = RNG.standard_normal((5, 6))
    same(le.diag(b, k), np.diag(b, k))
    same(le.diag(le.lazy(b).T, k), np.diag(b.T, k))


def test_diag_of_expressions_and_dtypes():
    for dtype in DTYPES:
        v = array(dtype, (3,))
        same(le.diag(v), np.diag(v))
    same(le.diag(le.lazy(V) * 2 + 1), np.diag(V * 2 + 1))
    same(le.diag(le.lazy(A) @ np.ones(3)), np.diag(A @ np.ones(3)))
    same(le.diag(le.diag(A @ A.T)), np.diag(np.diag(A @ A.T)))
    same(le.diag(le.reshape(le.lazy(A), (12,))), np.diag(A.reshape(12)))
    same(le.diag(le.pad(V, 1, constant_values=2.0)), np.diag(np.pad(V, 1, constant_values=2.0)))
    same(le.diag([1, 2]), np.diag([1, 2]))
    same(le.diag(np.zeros(0)), np.diag(np.zeros(0)))


def test_diag_is_never_built():
    n = 20_000
    v, a = RNG.standard_normal(n), RNG.standard_normal((n, 4))
    t = le.diag(v) @ a
    assert ops(t) >= {Op.DIAG}
    result, working = traced_working_bytes(lambda: t.compute())
    np.testing.assert_allclose(result, v[:, None] * a)
    assert working < n * n // 100, working  # an n x n array would be 3.2 GB


def test_diag_errors_at_build():
    with pytest.raises(le.ShapeError, match="1-d or 2-d"):
        le.diag(np.ones((2, 2, 2)))
    with pytest.raises(le.ShapeError):
        le.diag(3.0)
    with pytest.raises(TypeError):
        le.diag(V, k=1.5)


# -- conj, real, imag, astype -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_complex_parts_per_dtype(dtype):
    x = array(dtype)
    t = le.lazy(x)
    same(le.conj(t), np.conj(x))
    same(t.conj(), x.conj())  # (np.conj makes booleans int8; ndarray.conj keeps them)
    same(t.real, x.real)
    same(t.imag, x.imag)
    same(le.real(t), np.real(x))
    same(le.imag(t), np.imag(x))
    if x.dtype.kind not in "cb":  # a real dtype is its own conjugate and real part
        assert le.conj(t).node is t.node and t.real.node is t.node


def test_complex_parts_of_expressions():
    z, w = le.lazy(Z), le.lazy(Z.T.copy())
    cases = [
        (le.conj(z @ w + 2j * z), np.conj(Z @ Z.T + 2j * Z)),
        ((z @ w).real, (Z @ Z.T).real),
        ((z @ w).imag, (Z @ Z.T).imag),
        ((z * (1 - 2j) + A[:3]).imag, (Z * (1 - 2j) + A[:3]).imag),
        ((le.lazy(A[:3]) @ z).real, (A[:3] @ Z).real),
        (le.kron(le.eye(2), z).conj(), np.kron(np.eye(2), Z).conj()),
        (le.kron(le.eye(2, dtype=complex), z).imag, np.kron(np.eye(2), Z).imag),
        (le.diag(Z[0]).conj(), np.diag(Z[0]).conj()),
        (le.pad(z, 1, constant_values=1j).real, np.pad(Z, 1, constant_values=1j).real),
        (z.T.conj() @ z, Z.T.conj() @ Z),
        (le.conj(le.conj(z)), Z),
        (z.real.astype(np.float32) + z.imag, Z.real.astype(np.float32) + Z.imag),
        (le.reshape(z.T, (9,)).imag, Z.T.reshape(9).imag),
        (le.ones((3, 3), complex).conj() * 1j, np.ones((3, 3), complex).conj() * 1j),
    ]
    for t, ref in cases:
        same(t, ref)


def test_conj_of_a_product_conjugates_each_input_once():
    z = le.lazy(Z)
    t = le.conj(z @ z @ le.lazy(A[:3]))
    same(t, np.conj(Z @ Z @ A[:3]))
    plan = t.explain()
    assert sum("conj" in m for m in plan.materialized) == 1, plan.materialized


def test_real_and_imag_of_inputs_are_views():
    z = le.lazy(Z)
    plan = (z.real @ z.imag).explain()
    assert plan.peak_bytes <= Z.real.nbytes, str(plan)


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", DTYPES)
def test_astype_matches_numpy(src, dst):
    x = array(src) * (1 if np.dtype(src).kind in "biu" else 1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        ref = x.astype(dst)
        same(le.lazy(x).astype(dst), ref)
        same(le.astype(le.lazy(x).T, dst), ref.T)
        same((le.lazy(x) * 2).astype(dst), (x * 2).astype(dst))
        same(le.eye(3, dtype=src).astype(dst), np.eye(3, dtype=src).astype(dst))


def test_astype_follows_numpys_casting_of_sums():
    x = np.array([0.6, -0.6, 1.5])
    same((le.lazy(x) + le.lazy(x)).astype(int), (x + x).astype(int))  # 1.2 -> 1, not 0 + 0
    b = np.array([True, False, True])
    same((le.lazy(b) + le.lazy(b)).astype(int), (b + b).astype(int))  # an or, then 1
    same((le.lazy(b) + le.lazy(b)).astype(float) * 2, (b + b).astype(float) * 2)
    f = np.arange(3, dtype=np.float32) / 3
    same((le.lazy(f) @ le.eye(3, dtype=np.float32)).astype(np.float64),
         (f @ np.eye(3, dtype=np.float32)).astype(np.float64), rtol=1e-6)


def test_astype_complex_to_real_warns_when_built():
    with pytest.warns(np.exceptions.ComplexWarning):
        t = le.lazy(Z).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same(t, Z.real)


def test_astype_distributes_safe_casts_keeping_structure():
    t = le.kron(le.eye(1000, dtype=np.float32), le.lazy(np.ones((2, 2), np.float32)))
    cast = t.astype(np.float64) @ le.lazy(np.ones((2000, 1)))
    assert cast.explain().peak_bytes < 1_000_000 and cast.explain().materialized == ()


# -- shapes ---------------------------------------------------------------------------------

def test_squeeze_expand_dims_broadcast_to():
    x = RNG.standard_normal((1, 3, 1, 2))
    t = le.lazy(x)
    same(le.squeeze(t), np.squeeze(x))
    same(le.squeeze(t, axis=2), np.squeeze(x, axis=2))
    same(le.squeeze(t, (0, -2)), np.squeeze(x, (0, -2)))
    same(le.expand_dims(A, 0), np.expand_dims(A, 0))
    same(le.expand_dims(A, (0, -1)), np.expand_dims(A, (0, -1)))
    same(le.expand_dims(le.lazy(A) @ np.ones(3), 1), np.expand_dims(A @ np.ones(3), 1))
    for dtype in DTYPES:
        v = array(dtype, (3, 1))
        same(le.broadcast_to(v, (2, 3, 4)), np.broadcast_to(v, (2, 3, 4)))
    same(le.broadcast_to(2, (2,)), np.broadcast_to(2, (2,)))
    same(le.broadcast_to(le.lazy(V) + 1, (3, 4)) @ np.ones(4),
         np.broadcast_to(V + 1, (3, 4)) @ np.ones(4))


def test_shape_errors_at_build():
    with pytest.raises(le.ShapeError, match="not 1"):
        le.squeeze(A, axis=0)
    with pytest.raises(le.ShapeError):
        le.expand_dims(A, 3)
    with pytest.raises(le.ShapeError, match="repeated"):
        le.expand_dims(A, (0, 0))
    with pytest.raises(le.ShapeError, match="cannot be broadcast"):
        le.broadcast_to(A, (4, 4))
    with pytest.raises(le.ShapeError, match="cannot be broadcast"):
        le.broadcast_to(A, (3,))


# -- outer, inner, vdot ---------------------------------------------------------------------

def test_products_match_numpy():
    b = RNG.standard_normal((2, 3))
    for dtype in DTYPES:
        x, y = array(dtype, (2, 3)), array(dtype, (3,))
        same(le.outer(x, y), np.outer(x, y))
        same(le.inner(x, y), np.inner(x, y))
        same(le.vdot(x, x), np.vdot(x, x))
    same(le.outer(A, b), np.outer(A, b))
    same(le.inner(A, b), np.inner(A, b))
    same(le.inner(2.0, A), np.inner(2.0, A))
    same(le.inner(A, np.float32(2)), np.inner(A, np.float32(2)))
    same(le.vdot(Z, Z.T), np.vdot(Z, Z.T))
    same(le.vdot(le.lazy(Z) * 1j, A[:3]), np.vdot(Z * 1j, A[:3]))
    same(le.outer(le.lazy(V) + 1, le.eye(2)), np.outer(V + 1, np.eye(2)))
    same(le.vdot(np.ones(3, np.float32), np.ones(3, np.int8)),
         np.vdot(np.ones(3, np.float32), np.ones(3, np.int8)))


def test_product_errors_at_build():
    with pytest.raises(le.ShapeError, match="last axes"):
        le.inner(A, np.ones(4))
    with pytest.raises(le.ShapeError, match="elements"):
        le.vdot(A, np.ones(4))


# -- interleaved einsum with ndarray sublists -------------------------------------------------

def test_interleaved_sublists_may_be_arrays():
    b = RNG.standard_normal((3, 5))
    same(le.lazy_einsum(A, np.array([0, 1]), b, np.array([1, 2]), np.array([0, 2])),
         np.einsum(A, [0, 1], b, [1, 2], [0, 2]))
    same(le.lazy_einsum(A, np.array([0, 1], np.int32), b, [1, 2]), A @ b)
    with pytest.raises(le.SubscriptError):
        le.lazy_einsum(A, np.array([0.0, 1.0]), [0])


# -- structural zeros are exact -------------------------------------------------------------

def test_structural_zeros_never_multiply_inf():
    x = np.array([[np.inf, 1.0], [2.0, 3.0]])
    with np.errstate(invalid="ignore"):
        dense = np.diag([0.0, 1.0]) @ x
    assert np.isnan(dense[1, 0])
    with np.errstate(invalid="ignore"):
        got = (le.diag(np.array([0.0, 1.0])) @ x).compute()
    assert not np.isnan(got[1]).any() and np.isnan(got[0, 0])  # 0 * inf is v's own zero
    assert np.array_equal((le.zeros((2, 2)) @ x).compute(), np.zeros((2, 2)))
    got = (le.kron(le.eye(2), x) @ np.ones(4)).compute()
    assert np.isinf(got[0]) and not np.isnan(got).any()


def test_safe_cast_of_arithmetic_rounds_as_numpy():
    """numpy computes in the narrow dtype, then casts: so does a cast of a sum or product."""
    a = np.array([3e38], np.float32)
    with np.errstate(over="ignore"):
        assert_like_numpy((le.lazy(a) * np.float32(10)).astype(np.float64).compute(),
                          (a * np.float32(10)).astype(np.float64))
    h = np.array([2048], np.float16)
    assert_like_numpy((le.lazy(h) + np.array([1], np.float16)).astype(float).compute(),
                      (h + np.array([1], np.float16)).astype(float))
    x = np.array([1e8], np.float32)
    assert ((le.lazy(x) + np.float32(1)).astype(float) - 1e8).compute()[0] == 0.0


def test_imag_of_a_real_array_api_expression_stays_in_its_library():
    xp = pytest.importorskip("array_api_strict")
    a = le.lazy(xp.asarray(np.ones((2, 3))))
    for t in (a.imag, le.imag(a @ a.T)):
        result = t.compute()
        assert type(result) is type(xp.asarray(0.0))
        assert_like_numpy(np.asarray(result), np.zeros(t.shape))


def test_full_with_an_out_of_range_int_raises_as_numpy():
    with pytest.raises(OverflowError):
        np.full((2,), 300, dtype=np.uint8)
    with pytest.raises(OverflowError):
        le.full((2,), 300, dtype=np.uint8)
    assert_like_numpy(le.full((2,), -1, dtype=np.int8).compute(), np.full((2,), -1, np.int8))
