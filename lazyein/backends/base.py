"""The backend interface: what an executor needs of an array library, what the planner asks of it.

A plan is data (`lazyein.steps`); a backend turns each record into a function of the value
table, once per plan, and answers the few questions the planner's memory model has: which
views and reshapes copy, and what a kernel allocates besides its result. A new backend is one
module defining a `Backend` subclass and one `register_backend` call (see `numpy.py`).
"""

from __future__ import annotations

from collections.abc import Callable
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

    Records come from `lazyein.steps`; a compiled step is a function ``step(env)`` of the
    value table (a list indexed by value), and is made once per plan, so a run does no
    bookkeeping."""

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

    def contract_scratch(self, step, layouts: list[Layout], dtypes) -> int:
        """Bytes the `Contract` record `step` allocates besides its result, for operands laid
        out as `layouts` with `dtypes` (copies of operands a matmul cannot view, casts, sums
        taken first)."""
        raise NotImplementedError

    def accumulate_scratch(self, step, target_shape) -> int:
        """Bytes the `Accumulate` record `step` allocates, adding into an array of
        `target_shape`."""
        raise NotImplementedError

    # -- the executor ----------------------------------------------------------------------------
    def compile(self, step) -> Callable[[list], None]:
        """``run(env)`` performing the record `step` (View, Contract, Zeros, Reshape or
        Accumulate) on the value table."""
        raise NotImplementedError

    def accumulator(self, step) -> Callable[[list, object], None]:
        """``add(env, region)`` for an `Accumulate` record: add into the given region of its
        target, as `region` and `sub` made it (how a chunk loop moves it)."""
        raise NotImplementedError

    def region(self, array, spec):
        """Where in `array` the view `spec` lies, for `accumulator` to write there: for a
        library with views, the view itself."""
        return self.view(array, spec)

    def sub(self, region, index: tuple):
        """The part `index` (a tuple of slices) of a `region`: one chunk's."""
        return self.take(region, index)

    def view(self, array, spec):
        """`spec`'s view of `array` (a `ViewSpec`)."""
        raise NotImplementedError

    def chunked_view(self, array, spec):
        """What a chunk loop slices each chunk's view out of with `take`: for a library with
        views, the view over all of the loop's chunks itself."""
        return self.view(array, spec)

    def take(self, array, index: tuple):
        """``array[index]`` for a tuple of slices: a chunk's part of a view over all chunks."""
        raise NotImplementedError

    def result(self, array):
        """An array returned to the user: the library's own type, never a view the plan
        still writes into."""
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
