"""The numpy backend: strided views of the inputs, BLAS for products, in-place adds."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from ..steps import Accumulate, Contract, Gemm, ViewSpec
from .base import Backend, Layout, c_layout, register_backend

__all__ = ["NumpyBackend", "NUMPY", "stand_in", "template", "unknown_layout", "view_shape"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# the floats BLAS multiplies: operands are cast first, so matmul's own loop runs on its
# native type (asking matmul for dtype= can leave BLAS unused)
_BLAS = tuple(map(np.dtype, (np.float32, np.float64, np.complex64, np.complex128)))


def stand_in(layout: Layout) -> np.ndarray:
    """An array laid out as `layout` over one element, to ask numpy which views and reshapes
    copy. Its elements must never be read."""
    return np.lib.stride_tricks.as_strided(np.empty(1, f"V{layout.itemsize}"), layout.shape,
                                           layout.strides, writeable=False)


def template(shape, dtype, strides=None) -> np.ndarray:
    """An array of `shape` and `dtype` with the given strides (C order by default) over one
    element: a stand-in for an array not at hand (a dask array's, a block's). Its elements
    must never be read."""
    dtype = np.dtype(dtype)
    layout = c_layout(shape, dtype)
    return np.lib.stride_tricks.as_strided(np.empty(1, dtype), tuple(shape),
                                           layout.strides if strides is None else strides,
                                           writeable=False)


def unknown_layout(shape, dtype) -> np.ndarray:
    """A stand-in for an array whose strides are not known when it is planned (a view of a
    dask chunk, another library's array): its strides leave a gap after every axis, so that
    no merge of its axes is a view, and the planner counts the copy a reshape may make of
    it, whatever the real strides."""
    dtype = np.dtype(dtype)
    strides, step = [], dtype.itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= d + 1
    return template(shape, dtype, tuple(reversed(strides)))


def view_shape(shape, spec: ViewSpec) -> tuple[int, ...]:
    """The shape of `spec`'s view of an array of `shape` (taken of a stand-in: no data)."""
    if spec.identity:
        return tuple(shape)
    return view(stand_in(c_layout(shape, np.int8)), spec).shape


def _layout(array: np.ndarray) -> Layout:
    return Layout(array.shape, array.strides, array.itemsize)


def view(array: np.ndarray, spec: ViewSpec) -> np.ndarray:
    """`spec`'s view of `array`: none of its parts copies."""
    if spec.window is not None:
        origin, shape, steps = spec.window
        strides = tuple(sum(array.strides[k] * st for k, st in moves) for moves in steps)
        return np.lib.stride_tricks.as_strided(
            array[(*(slice(i, i + 1) for i in origin), Ellipsis)], shape, strides,
            writeable=array.flags.writeable)
    if spec.index is not None:
        array = array[spec.index]
    if spec.split is not None:
        array = array.reshape(spec.split)  # splits only: always a view
    if spec.trims is not None:
        array = array[spec.trims]
    if spec.diagonal is not None:
        shape, groups = spec.diagonal
        strides = [sum(array.strides[k] for k in g) for g in groups]
        array = np.lib.stride_tricks.as_strided(array, shape, strides)
    return array


class NumpyBackend(Backend):
    """Plans on numpy arrays (and memmaps): every view is a strided view."""

    name = "numpy"
    strided_views = True

    # -- facts for the planner -----------------------------------------------------------------
    def view_layout(self, layout: Layout, spec: ViewSpec) -> Layout:
        return layout if spec.identity else _layout(view(stand_in(layout), spec))

    def view_bytes(self, layout: Layout, spec: ViewSpec) -> int:
        return 0

    def elementwise_layout(self, layout: Layout, fn: str, dtype) -> Layout | None:
        # a complex array's real and imaginary parts are views: the real dtype over its
        # memory, strides unchanged (the imaginary part one item further on)
        if fn in ("real", "imag"):
            return Layout(layout.shape, layout.strides, layout.itemsize // 2)
        return None

    def reshape_layout(self, layout: Layout, shape) -> Layout | None:
        try:
            return _layout(np.reshape(stand_in(layout), shape, copy=False))
        except ValueError:
            return None

    def contract_scratch(self, step: Contract, layouts, dtypes) -> int:
        total = 0
        layouts, dtypes = list(layouts), list(dtypes)
        if len(layouts) == 2:
            for k, axes in enumerate(step.presums):
                if axes:  # a sum taken first, in the step's dtype
                    shape = tuple(d for i, d in enumerate(layouts[k].shape) if i not in axes)
                    total += math.prod(shape) * step.dtype.itemsize
                    layouts[k] = c_layout(shape, step.dtype)
                    dtypes[k] = step.dtype
        if isinstance(step.form, Gemm):
            for perm, shape, layout, dtype in zip(step.form.perms, step.form.shapes, layouts,
                                                  dtypes):
                transposed = Layout(tuple(layout.shape[i] for i in perm),
                                    tuple(layout.strides[i] for i in perm), layout.itemsize)
                if self.reshape_layout(transposed, shape) is None:  # matmul copies it
                    total += math.prod(shape) * layout.itemsize
                if np.dtype(dtype) != step.dtype:  # a whole operand cast to the common dtype
                    total += math.prod(shape) * step.dtype.itemsize
        return total

    def accumulate_scratch(self, step: Accumulate, target_shape) -> int:
        # (an adopting assign allocates nothing, but a chunk loop turns it into adds)
        # of a slab where it goes in slabs: the copy numpy may make of a strided region it
        # adds into in place (it reads and writes it), and the scratch a scaled term is
        # scaled into (`write`; a whole region's only where it is small: no slabs)
        shape = view_shape(target_shape, step.region)
        nbytes = math.prod(shape) * step.dtype.itemsize
        if step.slab_rows:
            nbytes = max(b - a for a, b in step.slab_rows) * nbytes // shape[0]
        copied = step.slab_rows is not None and not step.region.identity
        return nbytes * (copied + step.scaled)

    # -- the executor's operations -------------------------------------------------------------
    def view(self, array, spec):
        return view(array, spec)

    def take(self, array, index):
        return array[index]

    def write(self, target, region, value, coeff, dtype, assign, scratch=None):
        region = target if region is None else region
        if coeff is None:
            if assign:
                np.copyto(region, value, casting="unsafe")
            else:
                np.add(region, value, out=region, casting="unsafe")
        elif assign:  # scaled in the result's dtype (float32 / 1.5 into float64), in place
            np.multiply(value, coeff, out=region, dtype=dtype, casting="unsafe")
        elif coeff == -1 and value.dtype == dtype:  # exact, and no scaled copy (`subtract`)
            np.subtract(region, value, out=region, casting="unsafe")
        else:  # axpy: scaled into the scratch (a slab's, in cache) or a new array, then added
            if scratch is not None:
                scratch = scratch[:value.size].reshape(value.shape)
            value = np.multiply(value, coeff, out=scratch, dtype=dtype, casting="unsafe")
            np.add(region, value, out=region, casting="unsafe")
        return target

    def permute(self, array, perm):
        return array.transpose(perm)

    def reshape(self, array, shape):
        return array.reshape(shape)

    def elementwise(self, array, fn, dtype):
        if fn == "real":
            return array.real  # views of a complex array
        if fn == "imag":
            return array.imag
        if fn == "conj":  # (np.conjugate of a 0-d array would give a numpy scalar)
            return np.conjugate(array, out=np.empty(array.shape, array.dtype))
        with warnings.catch_warnings():  # warned of when the expression was built
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            return array.astype(dtype)

    def sum(self, array, axes, dtype, shape=None):
        if shape is None:
            return np.sum(array, axis=axes, dtype=dtype)
        return np.sum(array, axis=axes, dtype=dtype, out=np.empty(shape, dtype))

    def multiply(self, a, b, dtype):
        product = np.multiply(a, b, dtype=dtype, order="C")
        # a product of 0-d arrays is a numpy scalar; a plan's values are always arrays
        return product if isinstance(product, np.ndarray) else np.asarray(product)

    def dots(self, inputs, output, a, b, dtype):
        total = np.einsum(_equation(inputs, output), a, b, dtype=dtype, order="C")
        return total if isinstance(total, np.ndarray) else np.asarray(total)

    def matmul(self, a, b, dtype):
        if dtype in _BLAS:  # cast first, so that matmul's own loop is BLAS's
            if a.dtype != dtype:
                a = a.astype(dtype)
            if b.dtype != dtype:
                b = b.astype(dtype)
            return np.matmul(a, b)
        return np.matmul(a, b, dtype=dtype)

    def own(self, array, others):
        return array.copy() if any(np.may_share_memory(array, o) for o in others) else array

    def zeros(self, shape, dtype, fill, given=None):
        if given is None:
            return (np.zeros if fill else np.empty)(shape, dtype)
        if fill:  # a buffer the caller supplied (a scratch memmap for out=)
            given[...] = 0
        return given


@functools.lru_cache(maxsize=1024)
def _equation(inputs, output) -> str:
    """numpy's einsum equation of labels numbered 0, 1, ... (at most 52 of them)."""
    return ",".join("".join(_LETTERS[i] for i in ls) for ls in inputs) + "->" + \
        "".join(_LETTERS[i] for i in output)


NUMPY = register_backend(NumpyBackend())
