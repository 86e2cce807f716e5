"""The backend interface: what an executor needs of an array library, what the planner asks of it.

A plan is data (`lazyein.steps`); the executor (`lazyein.execute`) builds each record's run
out of a backend's few operations (view, slice, permute, reshape, sum, multiply, dots,
matmul, write into a region, zeros), and the backend answers the few questions the planner's
memory model has: which views and reshapes copy, and what an operation allocates besides its
result. A new backend is one module defining a `Backend` subclass and one
`register_backend` call (see `numpy.py`, `array_api.py`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Backend", "Layout", "c_layout", "register_backend", "get_backend", "backends"]


class Layout(NamedTuple):
    """Where an array's elements lie: its shape, and the bytes one step along each axis moves
    (numpy's strides). The planner tracks one per value to tell which reshapes copy."""

    shape: tuple[int, ...]
    strides: tuple[int, ...]
    itemsize: int


def c_layout(shape, dtype) -> Layout:
    """The layout of a new C-ordered array."""
    itemsize = np.dtype(dtype).itemsize
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return Layout(tuple(shape), tuple(reversed(strides)), itemsize)


class Backend:
    """An array library that runs plans. Subclasses implement every method below.

    Records come from `lazyein.steps`; `lazyein.execute` compiles each into a function of
    the value table (a list indexed by value) made of these operations, once per plan, so a
    run does no bookkeeping. A backend's own arrays never leave it: views, regions and
    values are whatever its operations make of them."""

    name: str = "abstract"
    #: windows and diagonals are strided views (else the backend reads them another way,
    #: which the planner prices through `view_bytes`)
    strided_views: bool = True

    # -- facts for the planner -----------------------------------------------------------------
    def view_layout(self, layout: Layout, spec) -> Layout:
        """The layout of `spec`'s view of an array laid out as `layout`."""
        raise NotImplementedError

    def view_bytes(self, layout: Layout, spec) -> int:
        """Bytes taking `spec`'s view allocates (0 where it is a view)."""
        raise NotImplementedError

    def reshape_layout(self, layout: Layout, shape) -> Layout | None:
        """The layout of an array laid out as `layout` reshaped to `shape`, or None where the
        reshape copies."""
        raise NotImplementedError

    def elementwise_layout(self, layout: Layout, fn: str, dtype) -> Layout | None:
        """The layout of `elementwise`'s result for an array laid out as `layout`, or None
        where it is a new (C-ordered) array."""
        return None

    def contract_scratch(self, step, layouts: list[Layout], dtypes) -> int:
        """Bytes the `Contract` record `step` allocates besides its result, for operands laid
        out as `layouts` with `dtypes` (copies of operands a matmul cannot view, casts, sums
        taken first)."""
        raise NotImplementedError

    def accumulate_scratch(self, step, target_shape) -> int:
        """Bytes the `Accumulate` record `step` allocates, adding into an array of
        `target_shape`."""
        raise NotImplementedError

    # -- the executor's operations (`lazyein.execute` composes them into each record's run) ----
    #: whether an addition into a large strided region goes slab by slab (`Accumulate`'s
    #: `slab_rows`): where a region is written in place
    slab_writes: bool = True

    def view(self, array, spec):
        """`spec`'s view of `array` (a `ViewSpec`): an index, a split, slices, a diagonal,
        a window."""
        raise NotImplementedError

    def chunked_view(self, array, spec):
        """What a chunk loop slices each chunk's view out of with `take`: for a library with
        views, the view over all of the loop's chunks itself."""
        return self.view(array, spec)

    def take(self, array, index: tuple):
        """``array[index]`` for a tuple of slices (then Ellipsis): one chunk's part."""
        raise NotImplementedError

    def region(self, array, spec):
        """Where in `array` the view `spec` lies, for `write` to write there: for a library
        with views, the view itself."""
        return self.view(array, spec)

    def sub(self, region, index: tuple):
        """The part `index` (slices, then Ellipsis) of a `region`: one chunk's, one slab's."""
        return self.take(region, index)

    def write(self, target, region, value, coeff, dtype, assign: bool, scratch=None):
        """`target` with ``coeff * value`` (`coeff` None: `value`, which may be a scalar)
        added into `region` (None: all of it), or with `assign` written over it, in
        `dtype`, broadcasting `value`; returns the target (the same array where the library
        writes in place). `scratch`, when given, is a 1-D buffer of `dtype` (made by
        `zeros`) holding at least `value`'s elements, which a scaled `value` may be written
        into rather than into a new array: an add of a scaled term then allocates nothing
        (`Accumulate.scaled`; the executor gives one per slab loop)."""
        raise NotImplementedError

    def permute(self, array, perm: tuple[int, ...]):
        raise NotImplementedError

    def reshape(self, array, shape: tuple[int, ...]):
        """A C-order reshape (a view where the library can)."""
        raise NotImplementedError

    def elementwise(self, array, fn: str, dtype):
        """`array` mapped by `fn`: "conj" (its complex conjugate), "real" or "imag" (its
        real or imaginary part, of the real `dtype`), "astype" (cast to `dtype`, unsafely
        as numpy's astype casts)."""
        raise NotImplementedError

    def sum(self, array, axes: tuple[int, ...], dtype, shape=None):
        """`array` summed over `axes` in `dtype` (into a new array of `shape` when given)."""
        raise NotImplementedError

    def multiply(self, a, b, dtype):
        """The broadcast product of `a` and `b`, in `dtype`, as a new C-ordered array."""
        raise NotImplementedError

    def dots(self, inputs, output, a, b, dtype):
        """Batched dot products: the einsum of `a` and `b` with labels `inputs` (numbered
        0, 1, ...) to `output`, where every label of one operand is the other's."""
        raise NotImplementedError

    def matmul(self, a, b, dtype):
        """The (batched) matrix product of `a` and `b`, computed in `dtype`."""
        raise NotImplementedError

    def zeros(self, shape, dtype, fill: bool, given=None):
        """A new buffer of `shape` and `dtype` that terms are added into, zeroed unless
        `fill` is false (the first term covers it); `given` is one the caller supplied."""
        raise NotImplementedError

    def own(self, array, others):
        """`array`, or a copy of it where it shares memory with one of `others`."""
        raise NotImplementedError

    def asarray(self, array):
        """A constant of the plan (a numpy scalar or small array) in this library."""
        return array


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Make `backend` known by its name."""
    _BACKENDS[backend.name] = backend
    return backend


def get_backend(name: str) -> Backend:
    """The backend registered as `name`.

    Raises:
        KeyError: no backend of that name; the message lists the known ones.
    """
    try:
        return _BACKENDS[name]
    except KeyError:
        raise KeyError(f"no lazyein backend {name!r}; known: {', '.join(sorted(_BACKENDS))}") \
            from None


def backends() -> tuple[str, ...]:
    """The names of the registered backends."""
    return tuple(_BACKENDS)
