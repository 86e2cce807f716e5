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

from ..steps import Accumulate, Contract, Dots, Gemm, Product, Reshape, Sum, View, ViewSpec, Zeros
from .base import Layout, c_layout, register_backend
from .numpy import NumpyBackend
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
            slices = (slice(None),) * len(_view_shape(shape, spec))
        return cls(spec.index, spec.split, tuple(slices))

    def part(self, index: tuple) -> _Box:
        """The part `index` (slices per region axis, then Ellipsis) of the region."""
        return self._replace(slices=tuple(
            s if k is Ellipsis or k == slice(None) else
            slice((s.start or 0) + k.start, (s.start or 0) + k.stop)
            for s, k in zip(self.slices, (*index[:-1], *(Ellipsis,) * len(self.slices)))))


class ArrayAPIBackend(NumpyBackend):
    """Plans in one array-API namespace `xp`, allocating on `device`. The planner's facts are
    numpy's (the libraries' views and reshapes follow the same rules) but for what has no
    strided view: diagonals and windows are gathered, and additions into a part of a result
    rebuild it."""

    strided_views = False

    def __init__(self, xp, device, name: str):
        self.xp, self.device, self.name = xp, device, name

    # -- facts for the planner -----------------------------------------------------------------
    def view_layout(self, layout: Layout, spec: ViewSpec) -> Layout:
        if _needs_gather(spec):
            return c_layout(_view_shape(layout.shape, spec), np.dtype(f"V{layout.itemsize}"))
        return super().view_layout(layout, spec)

    def view_bytes(self, layout: Layout, spec: ViewSpec) -> int:
        if not _needs_gather(spec):
            return 0
        size = math.prod(_view_shape(layout.shape, spec))
        # the gathered copy and its positions, from positions of the whole source
        return size * (layout.itemsize + _INDEX_BYTES) + math.prod(layout.shape) * _INDEX_BYTES

    def contract_scratch(self, step: Contract, layouts, dtypes) -> int:
        total = super().contract_scratch(step, layouts, dtypes)
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
        region = math.prod(_view_shape(target_shape, step.region))
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

    def compile(self, step):
        xp = self.xp
        match step:
            case View(out, src, spec):
                view = self.view

                def run(env):
                    env[out] = view(env[src], spec)
                return run
            case Contract():
                return self._contract(step)
            case Zeros(out, shape, dtype, _):
                dtype, device = self.dtype(dtype), self.device

                def run(env):
                    env[out] = xp.zeros(shape, dtype=dtype, device=device)
                return run
            case Reshape(out, src, shape):
                def run(env):
                    env[out] = xp.reshape(env[src], shape)
                return run
            case Accumulate():
                add, region, spec, target = self.accumulator(step), self.region, step.region, \
                    step.target
                if spec.identity:  # the whole result: no positions
                    return lambda env: add(env, None)
                return lambda env: add(env, region(env[target], spec))
        raise AssertionError(f"no array-API kernel for {step!r}")

    def accumulator(self, step: Accumulate):
        xp, target, src = self.xp, step.target, step.src
        dtype = self.dtype(step.dtype)
        coeff = step.coeff.item() if isinstance(step.coeff, np.generic) else step.coeff

        def term(env, shape):
            if src is None:
                return xp.full(shape, coeff, dtype=dtype, device=self.device)
            value = env[src]
            if step.perm is not None:
                value = xp.permute_dims(value, step.perm)
            if step.expand is not None:
                value = xp.reshape(value, step.expand)
            value = xp.astype(value, dtype)
            if coeff != 1:
                value = value * coeff
            return xp.broadcast_to(value, shape)

        # booleans add as a logical or, as numpy's add does them
        plus = xp.logical_or if step.dtype == bool else xp.add

        def add(env, region):
            whole = env[target]
            if region is None:  # the whole result
                value = term(env, whole.shape)
                env[target] = xp.astype(value, dtype) if step.assign else plus(whole, value)
            elif isinstance(region, _Box):
                env[target] = self.write_box(whole, region, lambda shape: term(env, shape),
                                             plus, step.assign)
            else:
                env[target] = self.scatter(whole, region, term(env, region.shape),
                                           step.assign)

        return add

    def write_box(self, whole, box: _Box, term, plus, assign: bool):
        """`whole` with `term(shape)` added into (or, with `assign`, written over) `box`: a
        setitem of basic indices, in place where the library's reshapes and indexing give
        views, and right either way (every array is put back)."""
        xp = self.xp
        sub = whole if box.index is None else whole[box.index]
        view = sub if box.split is None else xp.reshape(sub, box.split)
        where = box.slices
        value = term(tuple(view[where].shape))
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

    def _contract(self, step: Contract):
        xp, out, args, form = self.xp, step.out, step.args, step.form
        # booleans are counted in integers, then tested (numpy's einsum ors their ands)
        logical = step.dtype == bool
        dtype = self.dtype(np.int64 if logical else step.dtype)

        def cast(x):
            return x if x.dtype == dtype else xp.astype(x, dtype)

        if isinstance(form, Sum):
            axes = form.axes

            def run(env):
                # the sum in the step's own dtype: the standard's default promotes small
                # integers to the default one, where numpy's einsum keeps them
                total = xp.sum(cast(env[args[0]]), axis=axes, dtype=dtype) if axes else \
                    xp.astype(env[args[0]], dtype)
                env[out] = total != 0 if logical else total
            return run
        pairwise = _pairwise(xp, form, dtype)
        sum_a, sum_b = step.presums
        a, b = args

        def run(env):
            x, y = cast(env[a]), cast(env[b])
            total = pairwise(xp.sum(x, axis=sum_a, dtype=dtype) if sum_a else x,
                             xp.sum(y, axis=sum_b, dtype=dtype) if sum_b else y)
            env[out] = total != 0 if logical else total
        return run


def _pairwise(xp, form, dtype):
    match form:
        case Product((pa, pb), (sa, sb)):
            return lambda a, b: xp.multiply(xp.reshape(xp.permute_dims(a, pa), sa),
                                            xp.reshape(xp.permute_dims(b, pb), sb))
        case Dots((la, lb), result):
            # the same labels on both sides: multiply, sum the contracted ones, permute
            to_a = tuple(lb.index(ix) for ix in la)
            summed = tuple(i for i, ix in enumerate(la) if ix not in result)
            kept = [ix for ix in la if ix in result]
            order = tuple(kept.index(ix) for ix in result)

            def dots(a, b):
                product = a * xp.permute_dims(b, to_a)
                total = xp.sum(product, axis=summed, dtype=dtype) if summed else product
                return xp.permute_dims(total, order) if order else total
            return dots
        case Gemm(swap, (pa, pb), (ma, mb), out_shape):
            def gemm(a, b):
                a = xp.reshape(xp.permute_dims(a, pa), ma)
                b = xp.reshape(xp.permute_dims(b, pb), mb)
                x, y = (b, a) if swap else (a, b)
                return xp.reshape(xp.matmul(x, y), out_shape)
            return gemm
    raise AssertionError(form)


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


def _view_shape(shape, spec: ViewSpec) -> tuple[int, ...]:
    """The shape of `spec`'s view of an array of `shape`."""
    if spec.identity:
        return tuple(shape)
    from .numpy import stand_in  # the view of a stand-in: its shape, no data

    return numpy_view(stand_in(c_layout(shape, np.int8)), spec).shape


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
