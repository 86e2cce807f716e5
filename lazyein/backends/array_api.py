"""Plans on any array-API library (torch, cupy, array-api-strict, ...), on its arrays' device.

The standard has slices, reshapes, permutations, sums and matmul, but no strided views and no
scatter. A diagonal or a window is therefore read by gathering its elements (`take` of the
flattened array at positions worked out on the host), and a term added into a region that is
not the whole result goes through the same positions: the result is rebuilt as itself plus the
term gathered into place. The planner prices both copies (`view_bytes`, `accumulate_scratch`)
and `explain()` names the gathered factors. Results are the library's own arrays.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..steps import Accumulate, Contract, Dots, Gemm, Product, Sum, ViewSpec
from .base import Backend, Layout, c_layout, register_backend
from .numpy import NUMPY, view_shape
from .numpy import view as numpy_view

__all__ = ["ArrayAPIBackend", "backend_for", "namespace_of", "library_of", "numpy_dtype"]

_INDEX_BYTES = 8  # positions are int64


def _compat():
    try:
        import array_api_compat
    except ImportError:
        raise ImportError("arrays of other array-API libraries need array-api-compat: "
                          "pip install 'lazyein[array-api]'") from None
    return array_api_compat


def namespace_of(array):
    """The array-API namespace of `array` (array-api-compat's wrapper where one is needed)."""
    return _compat().array_namespace(array)


def library_of(array) -> str:
    """The name of the library `array` comes from, as errors and plans name it."""
    return namespace_of(array).__name__.removeprefix("array_api_compat.")


def numpy_dtype(dtype) -> np.dtype:
    """The numpy dtype of the same name as a library's dtype (``torch.float32`` -> float32).

    Raises:
        TypeError: numpy has no dtype of that name (``torch.bfloat16``).
    """
    try:
        return np.dtype(dtype)
    except TypeError:
        name = str(dtype).rsplit(".", 1)[-1]
    try:
        return np.dtype(name)
    except TypeError:
        raise TypeError(f"lazyein computes in numpy's dtypes (bool, int, float, complex of "
                        f"numpy's sizes); {dtype} has no numpy equivalent: cast the array "
                        f"first (for example to float32)") from None


def _needs_gather(spec: ViewSpec) -> bool:
    return spec.diagonal is not None or spec.window is not None


def _positions(shape, spec: ViewSpec, index=None) -> np.ndarray:
    """The flat (C-order) positions in an array of `shape` of the elements `spec` views,
    shaped as the view (and then `index` of it)."""
    flat = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    where = numpy_view(flat, spec)
    return where if index is None else where[index]


class _Gather(NamedTuple):
    """A gathered view not yet taken: what a chunk loop takes one chunk's elements of, so
    that no more than a chunk is gathered at once."""

    array: object
    spec: ViewSpec


class _Box(NamedTuple):
    """A region of a result that basic indexing reaches (no diagonal, no window): `index`
    of the result, reshaped to `split`, sliced by `slices` (one per axis of the region). An
    addition writes it with `__setitem__`, in place of a rebuild of the whole result."""

    index: tuple | None
    split: tuple[int, ...] | None
    slices: tuple[slice, ...]

    @classmethod
    def of(cls, shape, spec: ViewSpec) -> _Box:
        if spec.trims is not None:
            slices = spec.trims
        else:  # one whole axis per label, as the view has them
            slices = (slice(None),) * len(view_shape(shape, spec))
        return cls(spec.index, spec.split, tuple(slices))

    def part(self, index: tuple) -> _Box:
        """The part `index` (slices per region axis, then Ellipsis) of the region."""
        return self._replace(slices=tuple(
            s if k is Ellipsis or k == slice(None) else
            slice((s.start or 0) + k.start, (s.start or 0) + k.stop)
            for s, k in zip(self.slices, (*index[:-1], *(Ellipsis,) * len(self.slices)))))


class ArrayAPIBackend(Backend):
    """Plans in one array-API namespace `xp`, allocating on `device`. The planner's facts are
    numpy's strided model (the libraries' views and reshapes follow the same rules) but for
    what has no strided view: diagonals and windows are gathered, and additions into such a
    part of a result rebuild it."""

    strided_views = False
    slab_writes = False  # a region is written by setitem or rebuilt: slabs would not help

    def __init__(self, xp, device, name: str):
        self.xp, self.device, self.name = xp, device, name

    # -- facts for the planner -----------------------------------------------------------------
    def view_layout(self, layout: Layout, spec: ViewSpec) -> Layout:
        if _needs_gather(spec):
            return c_layout(view_shape(layout.shape, spec), np.dtype(f"V{layout.itemsize}"))
        return NUMPY.view_layout(layout, spec)

    def reshape_layout(self, layout: Layout, shape) -> Layout | None:
        return NUMPY.reshape_layout(layout, shape)

    def view_bytes(self, layout: Layout, spec: ViewSpec) -> int:
        if not _needs_gather(spec):
            return 0
        size = math.prod(view_shape(layout.shape, spec))
        # the gathered copy and its positions, from positions of the whole source
        return size * (layout.itemsize + _INDEX_BYTES) + math.prod(layout.shape) * _INDEX_BYTES

    def contract_scratch(self, step: Contract, layouts, dtypes) -> int:
        total = NUMPY.contract_scratch(step, layouts, dtypes)
        if step.dtype == bool:  # counted in int64: each operand cast, the count tested
            cast = sum(math.prod(layout.shape) for layout in layouts)
            return total + (cast + _result_size(step, layouts)) * _INDEX_BYTES
        itemsize = step.dtype.itemsize
        if not isinstance(step.form, Gemm):  # every operand is cast to the common type
            total += sum(math.prod(layout.shape) * itemsize for layout, dtype in
                         zip(layouts, dtypes) if np.dtype(dtype) != step.dtype)
        if isinstance(step.form, Dots):  # the product before it is summed
            total += math.prod(layouts[0].shape) * itemsize
        return total

    def accumulate_scratch(self, step: Accumulate, target_shape) -> int:
        size = math.prod(target_shape)
        itemsize = step.dtype.itemsize
        region = math.prod(view_shape(target_shape, step.region))
        if step.region.identity:  # the term cast and broadcast, then the new result
            return (region + size) * itemsize
        if not _needs_gather(step.region):  # a box: the term, the sum, and the result's
            # part reshaped (a copy where the part is not contiguous) and put back
            copied = size if step.region.split is not None and step.region.index is not None \
                else 0
            return 2 * region * itemsize + 2 * copied * itemsize
        # positions of the target, of the region and their inverse on the device, the
        # term broadcast and padded, gathered into place, and the new result
        return size * (3 * _INDEX_BYTES + 2 * itemsize) + region * (_INDEX_BYTES + 2 * itemsize)

    # -- the executor ----------------------------------------------------------------------------
    def dtype(self, dtype):
        return getattr(self.xp, np.dtype(dtype).name)

    def asarray(self, array):
        """`array` (a numpy constant of the plan: a scalar, a ones) in this library."""
        return self.xp.asarray(array, device=self.device)

    def view(self, array, spec: ViewSpec):
        if spec.identity:
            return array
        if _needs_gather(spec):
            return self.gather(array, _positions(array.shape, spec))
        if spec.index is not None:
            array = array[spec.index]
        if spec.split is not None:
            array = self.xp.reshape(array, spec.split)
        if spec.trims is not None:
            array = array[spec.trims]
        return array

    def gather(self, array, positions: np.ndarray):
        xp = self.xp
        flat = xp.reshape(array, (-1,))
        taken = xp.take(flat, xp.asarray(positions.reshape(-1), device=self.device))
        return xp.reshape(taken, positions.shape)

    def chunked_view(self, array, spec):
        return _Gather(array, spec) if _needs_gather(spec) else self.view(array, spec)

    def take(self, array, index):
        if isinstance(array, _Gather):
            return self.gather(array.array, _positions(array.array.shape, array.spec, index))
        return array[index]

    def region(self, array, spec):
        if _needs_gather(spec):
            return _positions(array.shape, spec)
        return _Box.of(array.shape, spec)

    def sub(self, region, index):
        return region.part(index) if isinstance(region, _Box) else region[index]

    def write(self, target, region, value, coeff, dtype, assign, scratch=None):
        # no in-place writes here (`slab_writes` is false): a scaled term is a new array
        xp, dtype = self.xp, self.dtype(dtype)
        if isinstance(value, (bool, int, float, complex, np.generic)):  # a constant term
            value = xp.asarray(value.item() if isinstance(value, np.generic) else value,
                               dtype=dtype, device=self.device)
        value = xp.astype(value, dtype)
        if coeff is not None:
            value = value * (coeff.item() if isinstance(coeff, np.generic) else coeff)
        # booleans add as a logical or, as numpy's add does them
        plus = xp.logical_or if dtype == xp.bool else xp.add
        if region is None:  # the whole result
            value = xp.broadcast_to(value, target.shape)
            return xp.astype(value, dtype) if assign else plus(target, value)
        if isinstance(region, _Box):
            return self.write_box(target, region, value, plus, assign)
        return self.scatter(target, region, xp.broadcast_to(value, region.shape), assign)

    def write_box(self, whole, box: _Box, value, plus, assign: bool):
        """`whole` with `value` added into (or, with `assign`, written over) `box`: a
        setitem of basic indices, in place where the library's reshapes and indexing give
        views, and right either way (every array is put back)."""
        xp = self.xp
        sub = whole if box.index is None else whole[box.index]
        view = sub if box.split is None else xp.reshape(sub, box.split)
        where = box.slices
        value = xp.broadcast_to(value, tuple(view[where].shape))
        view[where] = xp.astype(value, view.dtype) if assign else plus(view[where], value)
        if box.split is not None:
            sub = xp.reshape(view, tuple(sub.shape))
        if box.index is None:
            return sub
        whole[box.index] = sub
        return whole

    def scatter(self, whole, positions: np.ndarray, value, assign: bool):
        """`whole` with `value` added (or, with `assign`, written) at `positions`: the value,
        padded with one zero, gathered at the inverse of the positions."""
        xp, size, count = self.xp, math.prod(whole.shape), positions.size
        inverse = np.full(size, count, dtype=np.int64)
        inverse[positions.reshape(-1)] = np.arange(count)
        inverse = xp.asarray(inverse, device=self.device)
        flat = xp.reshape(whole, (-1,))
        padded = xp.concat([xp.reshape(value, (-1,)),
                            xp.zeros((1,), dtype=flat.dtype, device=self.device)])
        placed = xp.take(padded, inverse)
        if assign:
            updated = xp.where(inverse < count, placed, flat)
        else:
            updated = xp.logical_or(flat, placed) if flat.dtype == xp.bool else flat + placed
        return xp.reshape(updated, whole.shape)

    def permute(self, array, perm):
        return self.xp.permute_dims(array, perm)

    def reshape(self, array, shape):
        return self.xp.reshape(array, shape)

    def elementwise(self, array, fn, dtype):
        xp = self.xp
        if fn == "conj":
            return xp.conj(array)
        if fn == "real":
            return xp.real(array)
        if fn == "imag":
            return xp.imag(array)
        return xp.astype(array, self.dtype(dtype))

    # booleans are counted in integers, then tested (numpy's einsum ors their ands); every
    # operand is cast to the step's type first, as numpy computes in it
    def _counted(self, dtype):
        return (self.xp.int64, True) if np.dtype(dtype) == bool else (self.dtype(dtype), False)

    def _cast(self, array, dtype):
        return array if array.dtype == dtype else self.xp.astype(array, dtype)

    def sum(self, array, axes, dtype, shape=None):
        counted, logical = self._counted(dtype)
        array = self._cast(array, counted)
        # in the step's own dtype: the standard's default promotes small integers
        total = self.xp.sum(array, axis=axes, dtype=counted) if axes else \
            self.xp.astype(array, counted)
        return total != 0 if logical else total

    def multiply(self, a, b, dtype):
        counted, logical = self._counted(dtype)
        product = self._cast(a, counted) * self._cast(b, counted)
        return product != 0 if logical else product

    def dots(self, inputs, output, a, b, dtype):
        # the same labels on both sides: multiply, sum the contracted ones, permute
        (la, lb), xp = inputs, self.xp
        counted, logical = self._counted(dtype)
        product = self._cast(a, counted) * xp.permute_dims(self._cast(b, counted),
                                                           tuple(lb.index(ix) for ix in la))
        summed = tuple(i for i, ix in enumerate(la) if ix not in output)
        total = xp.sum(product, axis=summed, dtype=counted) if summed else product
        kept = [ix for ix in la if ix in output]
        if output:
            total = xp.permute_dims(total, tuple(kept.index(ix) for ix in output))
        return total != 0 if logical else total

    def matmul(self, a, b, dtype):
        counted, logical = self._counted(dtype)
        product = self.xp.matmul(self._cast(a, counted), self._cast(b, counted))
        return product != 0 if logical else product

    def own(self, array, others):
        # without views to ask about, an array shares memory with itself only
        return self.xp.asarray(array, copy=True) if any(array is o for o in others) else array

    def zeros(self, shape, dtype, fill, given=None):
        return self.xp.zeros(shape, dtype=self.dtype(dtype), device=self.device)


def _result_size(step: Contract, layouts) -> int:
    """Elements of the result of `step` (of a product of batched dots: at most its first
    operand's, which it sums over)."""
    match step.form:
        case Sum(_, shape):
            return math.prod(shape)
        case Product(_, (sa, sb)):
            return math.prod(max(a, b) for a, b in zip(sa, sb))
        case Gemm(out_shape=out_shape):
            return math.prod(out_shape)
    return math.prod(layouts[0].shape)


# the backends made so far, one per (namespace, device): a registry, not a cache (plans and
# compiled steps name their backend; `caches.clear` leaves it)
_BACKENDS: dict = {}


def backend_for(array) -> ArrayAPIBackend:
    """The backend running plans in `array`'s library on its device (one per pair)."""
    compat = _compat()
    xp = compat.array_namespace(array)
    device = compat.device(array)
    key = (xp.__name__, str(device))
    if (hit := _BACKENDS.get(key)) is None:
        # a library's default device goes unnamed; another (a GPU) is named
        name = library_of(array)
        if any(_BACKENDS) and any(k[0] == xp.__name__ for k in _BACKENDS) or \
                "cpu" not in str(device).lower():
            name += f" on {device}"
        hit = _BACKENDS[key] = register_backend(ArrayAPIBackend(xp, device, name))
    return hit
