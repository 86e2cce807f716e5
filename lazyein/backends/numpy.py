"""The numpy backend: views of the inputs, BLAS for contractions, in-place adds into results."""

from __future__ import annotations

import math

import numpy as np

from ..steps import Accumulate, Contract, Dots, Gemm, Product, Reshape, Sum, View, ViewSpec, Zeros
from .base import Backend, Layout, c_layout, register_backend

__all__ = ["NumpyBackend", "NUMPY", "stand_in", "template", "unknown_layout"]

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
        array = np.reshape(array, spec.split, copy=False)  # splits only: always a view
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
        return step.scratch

    # -- the executor ----------------------------------------------------------------------------
    def view(self, array, spec):
        return view(array, spec)

    def take(self, array, index):
        return array[index]

    def compile(self, step):
        match step:
            case View(out, src, spec):
                if spec.identity:
                    def run(env):
                        env[out] = env[src]
                else:
                    def run(env):
                        env[out] = view(env[src], spec)
                return run
            case Contract():
                return _compile_contract(step)
            case Zeros(out, shape, dtype, fill):
                def run(env):
                    if env[out] is None:
                        env[out] = (np.zeros if fill else np.empty)(shape, dtype)
                    elif fill:  # a buffer the caller supplied (a scratch memmap for out=)
                        env[out][...] = 0
                return run
            case Reshape(out, src, shape):
                def run(env):
                    env[out] = env[src].reshape(shape)
                return run
            case Accumulate():
                add, spec, target = self.accumulator(step), step.region, step.target
                if spec.identity:
                    return lambda env: add(env, env[target])
                return lambda env: add(env, view(env[target], spec))
        raise AssertionError(f"no numpy kernel for {step!r}")

    def accumulator(self, step: Accumulate):
        src, coeff, perm, expand, dtype = step.src, step.coeff, step.perm, step.expand, \
            step.dtype
        slabs = None if step.slab_rows is None else [slice(a, b) for a, b in step.slab_rows]
        scaled = src is not None and coeff != 1

        def write(region, value):
            if scaled:  # scaled in the result's dtype: float32 / 1.5 into a float64 result
                value = np.multiply(value, coeff, dtype=dtype, casting="unsafe")
            if step.assign:
                np.copyto(region, value, casting="unsafe")
            else:
                np.add(region, value, out=region, casting="unsafe")

        def add(env, region):
            value = coeff if src is None else env[src]
            if src is not None:
                if perm is not None:
                    value = value.transpose(perm)
                if expand is not None:
                    value = value.reshape(expand)
            if slabs is None:
                write(region, value)
                return
            whole = np.ndim(value) == 0 or value.shape[0] == 1
            for rows in slabs:
                write(region[rows], value if whole else value[rows])

        return add


def _compile_contract(step: Contract):
    """The kernel of a `Contract` record, as a function of the value table."""
    out, args, dtype, form = step.out, step.args, step.dtype, step.form
    if isinstance(form, Sum):
        axes, shape = form

        def run(env):
            env[out] = np.sum(env[args[0]], axis=axes, dtype=dtype,
                              out=np.empty(shape, dtype))
        return run
    pairwise = _pairwise(form, dtype)
    sum_a, sum_b = step.presums
    if sum_a or sum_b:  # labels only one side has and nobody needs are summed away first
        inner = pairwise

        def pairwise(a, b):
            return inner(np.sum(a, axis=sum_a, dtype=dtype) if sum_a else a,
                         np.sum(b, axis=sum_b, dtype=dtype) if sum_b else b)
    a, b = args
    if step.result:
        def run(env):
            env[out] = pairwise(env[a], env[b])
    else:  # full reductions hand back numpy scalars; a plan's values are always arrays
        def run(env):
            env[out] = np.asarray(pairwise(env[a], env[b]))
    return run


def _pairwise(form, dtype):
    match form:
        case Product((pa, pb), (sa, sb)):
            return lambda a, b: np.multiply(a.transpose(pa).reshape(sa),
                                            b.transpose(pb).reshape(sb), dtype=dtype, order="C")
        case Dots((la, lb), result):
            spec = ",".join("".join(_LETTERS[i] for i in ls) for ls in (la, lb))
            spec += "->" + "".join(_LETTERS[i] for i in result)
            return lambda a, b: np.einsum(spec, a, b, dtype=dtype, order="C")
        case Gemm(swap, (pa, pb), (ma, mb), out_shape):
            blas = dtype in _BLAS

            def gemm(a, b):
                a, b = a.transpose(pa).reshape(ma), b.transpose(pb).reshape(mb)
                x, y = (b, a) if swap else (a, b)
                if blas:
                    return np.matmul(x.astype(dtype, copy=False),
                                     y.astype(dtype, copy=False)).reshape(out_shape)
                return np.matmul(x, y, dtype=dtype).reshape(out_shape)

            return gemm
    raise AssertionError(form)


NUMPY = register_backend(NumpyBackend())
