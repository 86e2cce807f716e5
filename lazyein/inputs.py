"""What users pass in, as leaves: numpy arrays (and what np.asarray accepts), dask arrays kept
lazy, and arrays of other array-API libraries, each told apart without importing their
library."""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

from .backends.numpy import template, unknown_layout
from .errors import ShapeError
from .ir import Leaf
from .validate import check_numeric

__all__ = ["is_dask_array", "to_numpy", "is_array_api", "leaf_of", "as_array"]


def is_dask_array(x) -> bool:
    """A dask array, told without importing dask (one exists only once dask is imported)."""
    # `sys.modules` asks whether dask is loaded at all; it reaches no lazyein module
    array = sys.modules.get("dask.array")
    return array is not None and isinstance(x, array.Array)


def to_numpy(result) -> np.ndarray:
    """A result as numpy: another library's array through the buffer protocol or DLPack."""
    if isinstance(result, np.ndarray):
        return result
    try:
        return np.asarray(result)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(result)


def is_array_api(x) -> bool:
    """An array of an array-API library other than numpy (told without importing any)."""
    if isinstance(x, (np.ndarray, np.generic, list, tuple, numbers.Number)):
        return False
    return hasattr(x, "__array_namespace__") or \
        type(x).__module__.partition(".")[0] in _COMPAT_LIBRARIES


# libraries whose arrays array-api-compat wraps (they have no __array_namespace__ of their own)
_COMPAT_LIBRARIES = frozenset({"torch", "cupy", "jax", "jaxlib"})


def leaf_of(x, name=None) -> Leaf:
    """A leaf for an input: a dask array kept lazy (a stand-in with its shape and dtype), an
    array of another array-API library likewise, anything else as numpy sees it."""
    if type(x) is np.ndarray:  # the common case, quickly
        return Leaf(as_array(x), name)
    if is_dask_array(x):
        if any(math.isnan(d) for d in x.shape):
            raise ShapeError(f"a dask array of unknown shape {x.shape} cannot be planned; "
                             "call compute_chunk_sizes() on it first")
        check_numeric(np.dtype(x.dtype))
        return Leaf(template(x.shape, x.dtype), name, dask=x, library="dask")
    if is_array_api(x):
        from .backends.array_api import library_of, numpy_dtype

        dtype = numpy_dtype(x.dtype)
        check_numeric(dtype)
        shape = tuple(x.shape)
        if any(d is None for d in shape):
            raise ShapeError(f"an array of unknown shape {shape} cannot be planned")
        # its strides are the library's own business: the planner counts the copies a
        # reshape of it may make
        return Leaf(unknown_layout(shape, dtype), name, native=x, library=library_of(x))
    return Leaf(as_array(x), name)


def as_array(x) -> np.ndarray:
    array = np.asarray(x)
    check_numeric(array.dtype)
    return array
