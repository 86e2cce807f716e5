"""le.aslinearoperator (issue 12): scipy's solvers on lazy operators, against dense numpy."""

import builtins
import sys

import numpy as np
import pytest

import lazyein as le

linalg = pytest.importorskip("scipy.sparse.linalg")
rng = np.random.default_rng(1)


def _spd(n, length=2.0):
    """An RBF kernel on a 1-D grid with a nugget: symmetric positive definite, well
    conditioned."""
    x = np.linspace(0, 10, n)
    return np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / length**2) + 0.1 * np.eye(n)


def _kron_plus_eye(n1=6, n2=5, s=0.5):
    K1, K2 = _spd(n1), _spd(n2, 1.0)
    lazy = le.kron(K1, K2) + s * le.eye(n1 * n2)
    return lazy, np.kron(K1, K2) + s * np.eye(n1 * n2)


def _complex_operator(m=7, n=5):
    A = rng.standard_normal((m, n)) + 1j * rng.standard_normal((m, n))
    B = rng.standard_normal((n, n))
    return le.lazy(A) @ le.lazy(B) + 1j * le.eye(m, n), A @ B + 1j * np.eye(m, n)


OPERATORS = {
    "kron + s*eye": _kron_plus_eye,
    "complex": _complex_operator,
    "float32": lambda: (le.lazy(_spd(6).astype(np.float32)) + le.eye(6, dtype=np.float32),
                        _spd(6).astype(np.float32) + np.eye(6, dtype=np.float32)),
    "int": lambda: (le.kron(np.arange(4).reshape(2, 2), np.ones((2, 3), int)),
                    np.kron(np.arange(4).reshape(2, 2), np.ones((2, 3), int))),
}


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("vector", ["float64", "float32", "complex128", "int64"])
def test_products_match_dense_numpy(name, vector):
    lazy, dense = OPERATORS[name]()
    A = le.aslinearoperator(lazy)
    assert A.shape == dense.shape and A.dtype == dense.dtype
    m, n = dense.shape
    x = (rng.standard_normal(n) * 4).astype(vector) if vector != "complex128" \
        else rng.standard_normal(n) + 1j * rng.standard_normal(n)
    y = (rng.standard_normal(m) * 4).astype(vector) if vector != "complex128" \
        else rng.standard_normal(m) + 1j * rng.standard_normal(m)
    X = np.stack([x, 2 * x, x[::-1]], axis=1)
    Y = np.stack([y, y[::-1]], axis=1)
    rtol = 1e-5 if np.float32 in (dense.dtype, np.dtype(vector)) else 1e-10
    for got, want in ((A.matvec(x), dense @ x), (A @ x, dense @ x),
                      (A.matvec(x[:, None]), dense @ x[:, None]),
                      (A.rmatvec(y), dense.conj().T @ y), (A.H @ y, dense.conj().T @ y),
                      (A.matmat(X), dense @ X), (A.rmatmat(Y), dense.conj().T @ Y),
                      (A.T @ y, dense.T @ y)):
        assert got.shape == want.shape
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_functions_are_kept_per_shape_and_dtype():
    lazy, dense = _kron_plus_eye()
    A = le.aslinearoperator(lazy)
    x = rng.standard_normal(30)
    for _ in range(3):
        A.matvec(x)
        A.rmatvec(x)
    A.matvec(x.astype(np.float32))
    A.matmat(np.ones((30, 2)))
    assert len(A._functions) == 4
    assert isinstance(A.tensor, le.LazyTensor)
    assert "30x30 LazyLinearOperator" in repr(A)


def test_solvers_on_kron_plus_eye():
    lazy, dense = _kron_plus_eye(8, 7)
    A = le.aslinearoperator(lazy)
    b = rng.standard_normal(56)
    want = np.linalg.solve(dense, b)
    for solve in (linalg.cg, linalg.gmres):
        x, info = solve(A, b, rtol=1e-12, atol=0, maxiter=500)
        assert info == 0
        np.testing.assert_allclose(x, want, rtol=1e-7, atol=1e-9)
    x = linalg.lsqr(A, b, atol=1e-14, btol=1e-14, iter_lim=500)[0]
    np.testing.assert_allclose(x, want, rtol=1e-6, atol=1e-8)
    values = linalg.eigsh(A, k=3, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(values), np.linalg.eigvalsh(dense)[-3:], rtol=1e-9)


def test_lsqr_and_gmres_on_a_complex_operator():
    """lsqr multiplies by the conjugate transpose: rmatvec of a complex operator."""
    lazy, dense = _complex_operator(9, 6)
    A = le.aslinearoperator(lazy)
    b = rng.standard_normal(9) + 1j * rng.standard_normal(9)
    x = linalg.lsqr(A, b, atol=1e-14, btol=1e-14, iter_lim=1000)[0]
    np.testing.assert_allclose(x, np.linalg.lstsq(dense, b, rcond=None)[0], rtol=1e-7,
                               atol=1e-9)
    square, dense_square = _complex_operator(6, 6)
    x, info = linalg.gmres(le.aslinearoperator(square), b[:6], rtol=1e-12, atol=0,
                           maxiter=200)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(dense_square, b[:6]), rtol=1e-7, atol=1e-9)


def test_budget_and_errors():
    lazy, dense = _kron_plus_eye()
    A = le.aslinearoperator(lazy, max_bytes="1MB")
    x = rng.standard_normal(30)
    np.testing.assert_allclose(A.matvec(x), dense @ x)
    with pytest.raises(le.ShapeError, match="2-D"):
        le.aslinearoperator(le.lazy(np.ones(3)))
    with pytest.raises(ValueError, match="dimension mismatch"):
        A.matvec(np.ones(31))
    with pytest.raises(TypeError, match="numeric"):
        A.matvec(np.array(["a"] * 30))
    B = le.aslinearoperator(np.ones((2, 3)))  # an ndarray is wrapped
    np.testing.assert_allclose(B.matvec(np.ones(3)), [3, 3])


def test_missing_scipy_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for module in [m for m in sys.modules if m.startswith("scipy")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(builtins, "__import__", no_scipy)
    with pytest.raises(ImportError, match=r"pip install 'lazyein\[scipy\]'"):
        le.aslinearoperator(np.eye(2))
