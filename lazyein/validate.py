"""Checks and conversions of user input, for api.py (the one layer that validates)."""

from __future__ import annotations

import numbers
import operator
import re

import numpy as np

from .errors import ShapeError
from .ir import NUMPY_LIBRARIES, Node, Op, common_library

__all__ = ["SCALARS", "PYTHON_SCALARS", "parse_bytes", "scaled_dtype", "check_numeric",
           "check_out", "check_out_of_library", "check_libraries", "check_on_dask", "broadcast",
           "as_int", "as_count", "as_axis", "int_sequence", "normalize_axes", "per_axis_pairs",
           "basic_index"]

# what the API takes as a scalar (Python numbers, numpy scalars); Python's own, told quickly
SCALARS = (numbers.Number, np.generic)
PYTHON_SCALARS = frozenset({bool, int, float, complex})


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6,
          "g": 10**9, "t": 10**12}


def parse_bytes(value) -> int | None:
    """A byte count from an int or a string such as ``"64MB"`` or ``"1.5GiB"``.

    >>> parse_bytes("1.5GiB"), parse_bytes("64MB"), parse_bytes(None)
    (1610612736, 64000000, None)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("max_bytes must be an int or a string such as '64MB', not a bool")
    if isinstance(value, numbers.Real):  # 2**20, or 1e6
        if not value >= 0 or value == float("inf"):
            raise ValueError(f"max_bytes must be a finite number >= 0, got {value}")
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*", value)
        if match is None or match.group(2).lower() not in _UNITS:
            raise ValueError(f"max_bytes {value!r} is not a size: write a number with an "
                             f"optional unit from {', '.join(sorted(u for u in _UNITS if u))}")
        return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise TypeError(f"max_bytes must be an int or a string such as '64MB', not "
                    f"{type(value).__name__}")


def scaled_dtype(node: Node, scalar, ufunc, scalar_first) -> np.dtype:
    """The dtype numpy's `ufunc` gives `node`'s elements and `scalar`, and its errors (a
    Python int out of an integer dtype's range raises); asked of numpy once per kind of
    operands (`_SCALED_DTYPES`)."""
    kind = type(scalar)
    weak = node.op is Op.LEAF and node.arg.weak
    # numpy's answer depends on a Python int's value (int8 * 1000 raises), on no other
    # scalar's (NEP 50: a float's or a complex's kind decides, and a numpy scalar's dtype)
    key = None if weak or not (kind in PYTHON_SCALARS or isinstance(scalar, np.generic)) \
        else (ufunc, scalar_first, node.dtype, kind, scalar if kind is int else None)
    if key is not None and (dtype := _SCALED_DTYPES.get(key)) is not None:
        return dtype
    probe = node.arg.array.item() if weak else np.ones((), node.dtype)
    with np.errstate(all="ignore"):
        dtype = np.result_type(ufunc(*((scalar, probe) if scalar_first else (probe, scalar))))
    if key is not None and (kind is not int or -_SMALL_INT <= scalar <= _SMALL_INT):
        _SCALED_DTYPES[key] = dtype
    return dtype


# numpy's promotion answers for scaling, not data (so `caches.clear` leaves them): per ufunc,
# operand order, dtype and scalar type (and small Python int, whose value decides), a dtype;
# bounded by the dtypes and scalar types there are (ints beyond +-_SMALL_INT are not kept)
_SCALED_DTYPES: dict[tuple, np.dtype] = {}
_SMALL_INT = 1024


def check_numeric(dtype: np.dtype):
    """That `dtype` is one lazyein computes on (bool, int, float, complex)."""
    if dtype.kind not in "biufc":
        raise TypeError(f"lazyein computes on numeric arrays (bool, int, float, complex); "
                        f"got dtype {dtype}")


def check_out(out, shape: tuple[int, ...], dtype: np.dtype):
    """That `out` can take a result of `shape` and `dtype`, as API.md's ``out=`` says."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    if out.shape != shape:
        raise ShapeError(f"out has shape {out.shape}, but the result has shape {shape}")
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array")
    if not np.can_cast(dtype, out.dtype, "safe"):
        raise TypeError(f"out has dtype {out.dtype}, to which the result's {dtype} "
                        "does not cast safely")


def check_out_of_library(out, root, of_a_library: bool):
    """That `out` can take the result of `root`, an expression in another array-API library:
    an array of that library (`of_a_library` says it is one of some library) of its shape."""
    from .backends.array_api import library_of, numpy_dtype

    if not of_a_library or library_of(out) != root.library:
        raise TypeError(f"out must be an array of {root.library}, like the expression's "
                        f"inputs, not {type(out).__name__}")
    if tuple(out.shape) != root.shape:
        raise ShapeError(f"out has shape {tuple(out.shape)}, but the result has shape "
                         f"{root.shape}")
    if not np.can_cast(root.dtype, numpy_dtype(out.dtype), "safe"):
        raise TypeError(f"out has dtype {out.dtype}, to which the result's {root.dtype} "
                        "does not cast safely")


def check_on_dask(roots):
    """That `roots` can run on dask, which computes numpy chunks: not another library's."""
    for library in {r.library for r in roots} - NUMPY_LIBRARIES:
        raise TypeError(f"dask runs numpy arrays; this expression's arrays are {library}'s: "
                        f"compute it without a scheduler (it runs in {library}), or convert "
                        f"its inputs to numpy or dask arrays")


def check_libraries(roots):
    """Expressions computed together come from one library, as one expression's arrays do
    (the rule that joining two operands follows: numpy's and dask's mix)."""
    common_library(roots)


def broadcast(what, *shapes):
    """The shape `shapes` broadcast to, or a ShapeError naming `what`."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"{what}: shapes {' and '.join(map(str, shapes))} do not broadcast "
                         "together") from None


def as_int(value, what) -> int:
    """`value` as an int (anything with ``__index__`` but a bool)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    return operator.index(value)


def as_count(value, what) -> int:
    """`value` as an int >= 0."""
    n = as_int(value, what)
    if n < 0:
        raise ShapeError(f"{what} must be >= 0, got {n}")
    return n


def as_axis(axis, ndim, where) -> int:
    """`axis` of an `ndim`-d operand as an index in ``range(ndim)`` (negative from the end)."""
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, quickly
        return axis % ndim
    axis = as_int(axis, f"{where} axis")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{where}: axis {axis} is out of bounds for {ndim} dimension(s)")
    return axis % ndim


def int_sequence(value, what) -> list:
    """`value` as a list: an int alone, or a sequence of them."""
    if type(value) is int:
        return [value]
    if isinstance(value, numbers.Integral) or hasattr(value, "__index__") and \
            not isinstance(value, (list, tuple, np.ndarray)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{what} must be an int or a sequence of ints, got {value!r}") from None


def normalize_axes(axis, ndim, where) -> set[int]:
    """numpy's `axis` argument (None, an int or a sequence of distinct ints) as a set."""
    if axis is None:
        return set(range(ndim))
    axes = [as_axis(a, ndim, where) for a in int_sequence(axis, f"{where} axis")]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{where}: repeated axis in {axis!r}")
    return set(axes)


def per_axis_pairs(value, ndim, what, integer) -> tuple[tuple, ...]:
    """numpy's ``pad_width`` forms: x, (x,), (before, after), or one pair per axis."""
    kinds = (int,) if integer else (int, float)
    if type(value) in kinds:  # the common forms, without numpy's broadcasting machinery
        return ((value, value),) * ndim
    if (isinstance(value, (tuple, list)) and len(value) == ndim and all(
            isinstance(p, (tuple, list)) and len(p) == 2 and type(p[0]) in kinds
            and type(p[1]) in kinds for p in value)):
        return tuple((p[0], p[1]) for p in value)
    array = np.asarray(value, dtype=object if not integer else None)
    if integer:
        if array.dtype.kind not in "iu" and array.size:
            raise TypeError(f"pad: {what} must be integers, got {value!r}")
        array = array.astype(np.int64)
    try:
        pairs = np.broadcast_to(array, (ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: {what} {value!r} does not fit {ndim} dimension(s): give one "
                         "number, a (before, after) pair, or one pair per axis") from None
    if integer:
        return tuple((int(b), int(a)) for b, a in pairs)
    for v in pairs.flat:
        if not isinstance(v, SCALARS) or isinstance(v, (str, bytes)):
            raise TypeError(f"pad: {what} must be numbers, got {value!r}")
    return tuple((b, a) for b, a in pairs)


_SUPPORTED = ("lazyein supports numpy's basic indexing: integers, slices, None (np.newaxis) "
              "and Ellipsis (...)")


def _index_item(item):
    """One entry of an index as basic indexing takes it: an int, a slice, None or Ellipsis;
    an IndexError naming what is supported for anything else (arrays, masks, lists)."""
    if item is None or item is Ellipsis or isinstance(item, slice):
        return item
    if isinstance(item, (bool, np.bool_)) or \
            (isinstance(item, np.ndarray) and item.dtype == bool):
        raise IndexError(f"{_SUPPORTED}; got a boolean index {item!r} (a mask)")
    if isinstance(item, np.ndarray) and item.ndim == 0 and item.dtype.kind in "iu":
        return int(item)
    if isinstance(item, numbers.Integral):
        return operator.index(item)
    raise IndexError(f"{_SUPPORTED}; got {type(item).__name__} {item!r} (integer arrays, "
                     "lists and masks select a gather, which is not a view)")


def basic_index(key, shape) -> tuple:
    """numpy's basic index `key` of an array of `shape`, normalized: per axis an int in
    range or a slice's ``(start, stop, step)`` as ``slice.indices`` gives it, None where a
    new axis goes (Ellipsis expanded). IndexError as numpy raises it, and for what is not
    basic indexing."""
    items = [_index_item(item) for item in (key if isinstance(key, tuple) else (key,))]
    if items.count(Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(item is not None and item is not Ellipsis for item in items)
    if used > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, "
                         f"but {used} were indexed")
    if Ellipsis not in items:
        items.append(Ellipsis)
    where = items.index(Ellipsis)
    items[where:where + 1] = [slice(None)] * (len(shape) - used)
    normalized, axis = [], 0
    for item in items:
        if item is None:
            normalized.append(None)
            continue
        n = shape[axis]
        if isinstance(item, slice):
            normalized.append(item.indices(n))
        elif -n <= item < n:
            normalized.append(item % n)
        else:
            raise IndexError(f"index {item} is out of bounds for axis {axis} with size {n}")
        axis += 1
    return tuple(normalized)
