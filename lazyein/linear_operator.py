"""`le.aslinearoperator`: a 2-D expression as a scipy LinearOperator whose products are
`le.function`s, planned once per shape and dtype of what they multiply."""

from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .functions import Function
from .validate import parse_bytes

__all__ = ["aslinearoperator"]

# the functions an operator keeps (per product, shape and dtype of the vector or block);
# a solver multiplies by one or two shapes, so a few is plenty
_FUNCTIONS = 32


def aslinearoperator(t, max_bytes=None):
    """A 2-D expression as a ``scipy.sparse.linalg.LinearOperator``.

    ``matvec``, ``rmatvec`` (the conjugate transpose), ``matmat`` and ``rmatmat`` each run a
    `le.function` compiled on first use for the shape and dtype of what they multiply (kept
    in the operator), so an iterative solver (``cg``, ``gmres``, ``lsqr``, ``eigsh``, ...)
    plans once and then only runs the plan, each product within `max_bytes`.

    Args:
        t: a 2-D LazyTensor (or anything ``le.lazy`` takes), on numpy.
        max_bytes: bound on each product's working memory (bytes, or a string).

    Returns:
        A LinearOperator of `t`'s shape and dtype; its products have numpy's dtypes
        (``t @ x`` as numpy promotes them).

    Raises:
        ImportError: scipy is not installed.
        ShapeError: `t` is not 2-D.

    >>> import numpy as np, lazyein as le
    >>> A = le.aslinearoperator(le.kron(np.eye(2), np.ones((2, 2))) + 2 * le.eye(4))
    >>> A.matvec(np.ones(4))
    array([4., 4., 4., 4.])
    """
    from .api import LazyTensor, lazy

    linalg = _scipy_linalg()
    t = t if isinstance(t, LazyTensor) else lazy(t)
    if t.ndim != 2:
        raise ShapeError(f"aslinearoperator takes a 2-D expression, not one of shape {t.shape}")
    return _operator_class(linalg.LinearOperator)(t, parse_bytes(max_bytes))


def _scipy_linalg():
    try:
        import scipy.sparse.linalg as linalg
    except ImportError:
        raise ImportError("le.aslinearoperator needs scipy: pip install 'lazyein[scipy]'") \
            from None
    return linalg


_CLASS = None  # LazyLinearOperator, defined when scipy is first needed


def _operator_class(base):
    """`LazyLinearOperator`, a subclass of scipy's LinearOperator `base` (defined once scipy
    is imported, so that importing lazyein does not import scipy)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS

    class LazyLinearOperator(base):
        """A lazyein expression as a scipy LinearOperator (see `aslinearoperator`);
        `tensor` is the expression."""

        def __init__(self, t, budget):
            super().__init__(t.dtype, t.shape)
            self.tensor, self._budget, self._functions = t, budget, {}
            # A^H y = conj(A^T conj(y)): the DAG has no conj op yet, so a complex operator's
            # adjoint conjugates the vector and the result with numpy (cheap, exact) around
            # A^T y; a real operator's is A^T y, for real and complex y alike
            self._conjugate = t.dtype.kind == "c"

        def _matvec(self, x):
            x = np.asarray(x)
            x = x.reshape(-1) if x.ndim == 2 else x  # matvec passes (N,) or (N, 1)
            return self._function("A", x)(x)

        def _rmatvec(self, y):
            y = np.asarray(y)
            return self._adjoint_times(y.reshape(-1) if y.ndim == 2 else y)

        def _matmat(self, X):
            X = np.asarray(X)
            return self._function("A", X)(X)

        def _rmatmat(self, Y):
            return self._adjoint_times(np.asarray(Y))

        def _adjoint_times(self, y):
            if not self._conjugate:
                return self._function("AT", y)(y)
            if y.dtype.kind == "c":
                y = np.conjugate(y)
            result = self._function("AT", y)(y)
            return np.conjugate(result, out=result)

        def _function(self, kind: str, x: np.ndarray) -> Function:
            """The function of product `kind` ("A": A x, "AT": A^T x) for x's shape, dtype."""
            f = self._functions.get((kind, x.shape, x.dtype))
            return f if f is not None else _new_function(self, kind, x)

        def __repr__(self):
            return f"<{self.shape[0]}x{self.shape[1]} LazyLinearOperator with dtype={self.dtype}>"

    _CLASS = LazyLinearOperator
    return _CLASS


def _new_function(op, kind: str, x: np.ndarray) -> Function:
    """Compile and keep `op`'s product `kind` for arrays like `x`."""
    from .api import placeholder

    if x.dtype.kind not in "biufc":
        raise TypeError(f"a lazyein LinearOperator multiplies numeric arrays, not dtype "
                        f"{x.dtype}")
    if len(op._functions) >= _FUNCTIONS:
        del op._functions[next(iter(op._functions))]
    v = placeholder(x.shape, x.dtype, name="x")
    a = op.tensor if kind == "A" else op.tensor.T
    f = op._functions[kind, x.shape, x.dtype] = Function(v, a @ v, op._budget)
    return f
