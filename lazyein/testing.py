"""Test helpers needing no optional dependency: numpy checks, memory layouts, tracemalloc peaks."""

# The hypothesis strategies drawing random expressions live in tests/strategies.py.

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np

__all__ = ["LAYOUTS", "assert_like_numpy", "relayout", "tolerance", "traced_peak",
           "traced_working_bytes"]


def tolerance(dtype) -> float:
    """Relative tolerance for comparing a computed result of ``dtype`` with numpy's.

    Args:
        dtype: the result dtype.

    Returns:
        0 for integer and boolean dtypes (exact), ``1e-9`` for double precision and
        ``1e-5`` for single precision (real or complex).
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        return 0.0
    return 1e-5 if dtype in (np.float32, np.complex64) else 1e-9


def assert_like_numpy(got, ref, rtol=None, scale=None):
    """`got` is an ndarray equal to numpy's `ref` in shape, dtype and value: to `rtol` (by
    default `tolerance` of ref's dtype; 0 is exact), with an absolute slack of `rtol` times
    `scale` (by default the largest entry of `ref`: the size of the terms that were added).

    >>> assert_like_numpy(np.ones(2) / 3, np.full(2, 1 / 3))
    """
    assert isinstance(got, np.ndarray), type(got)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    rtol = tolerance(ref.dtype) if rtol is None else rtol
    if rtol == 0:
        np.testing.assert_array_equal(got, ref)
        return
    if scale is None:
        scale = float(np.abs(ref).max()) if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale)


def _literal(x: np.ndarray) -> str:
    """Python source that rebuilds ``x`` exactly."""
    if x.size == 0:
        return f"np.zeros({x.shape!r}, dtype={x.dtype.name!r})"
    return f"np.array({x.tolist()!r}, dtype={x.dtype.name!r})"


LAYOUTS = ("C", "F", "reversed", "stepped")
"""Layouts ``relayout`` gives: C order, Fortran order, negative strides, gaps between items."""


def relayout(x: np.ndarray, layout: str) -> tuple[np.ndarray, str]:
    """An array equal to ``x`` with another memory layout, and Python source building it.

    Args:
        x: the array.
        layout: one of ``LAYOUTS``; "F" needs 2 dims and "reversed"/"stepped" 1 to differ from "C".

    Returns:
        ``(array, source)``: the array, a view for "reversed" and "stepped", and an expression
        rebuilding it exactly.

    >>> y, src = relayout(np.arange(6.0).reshape(2, 3), "reversed")
    >>> y.strides, src
    ((-24, 8), "np.array([[3.0, 4.0, 5.0], [0.0, 1.0, 2.0]], dtype='float64')[::-1]")
    """
    if layout == "F" and x.ndim >= 2:
        return np.asfortranarray(x), f"np.asfortranarray({_literal(x)})"
    if layout == "reversed" and x.ndim >= 1:
        data = x[::-1].copy()
        return data[::-1], f"{_literal(data)}[::-1]"
    if layout == "stepped" and x.ndim >= 1:
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        big[..., ::2] = x
        return big[..., ::2], f"{_literal(big)}[..., ::2]"
    x = np.ascontiguousarray(x)
    return x, _literal(x)

def traced_working_bytes(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, int]:
    """Run `fn` under tracemalloc: its result, and the traced peak minus the result's bytes.

    This is how the ``max_bytes`` contract is measured (API.md "Evaluation").

    >>> result, working = traced_working_bytes(lambda: np.ones(1000) @ np.ones(1000))
    >>> working < 2**20
    True
    """
    result, peak = traced_peak(fn)
    return result, peak - result.nbytes


def traced_peak(fn):
    """Run `fn` under tracemalloc: its result, and the traced peak with nothing subtracted
    (for ``out=``, whose result the caller allocated before the call)."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def convolution_operator(K, m: int):
    """PROBLEMS.md problem 4's operator W_K of an m x m image, written as its loop of pads
    and stacks (what tests of big DAGs over one kernel build)."""
    import lazyein as le

    k = K.shape[0]
    w = m - k + 1
    rows = [le.stack([le.moveaxis(le.pad(K, ((i, m - i - k), (j, m - j - k), (0, 0), (0, 0))),
                                  3, 0) for j in range(w)]) for i in range(w)]
    return le.stack(rows)
