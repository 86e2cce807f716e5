"""Public views that move entries without arithmetic: ``flip`` and ``roll`` (as numpy)."""

from __future__ import annotations

from .api import LazyTensor, _node, concatenate, reshape
from .errors import ShapeError
from .validate import as_axis, as_int, int_sequence, normalize_axes

__all__ = ["flip", "roll"]


def flip(a, axis=None) -> LazyTensor:
    """``np.flip``: the entries of `a` in reverse order along `axis` (None: every axis).

    A view: each flipped axis is indexed backwards (a negative stride), nothing is copied.

    Args:
        a: a LazyTensor or anything ``le.lazy`` takes.
        axis: an int, a tuple of ints, or None for all axes.

    Returns:
        a LazyTensor of `a`'s shape and dtype.

    Raises:
        ShapeError: an axis out of range, or repeated.

    >>> import numpy as np, lazyein as le
    >>> le.flip(np.arange(6).reshape(2, 3), axis=1).compute()
    array([[2, 1, 0],
           [5, 4, 3]])
    """
    t = LazyTensor(_node(a, weak=False))
    axes = normalize_axes(axis, t.ndim, "flip")
    return t[tuple(slice(None, None, -1) if k in axes else slice(None) for k in range(t.ndim))]


def roll(a, shift, axis=None) -> LazyTensor:
    """``np.roll``: entries of `a` moved `shift` places along `axis`, those past the end
    coming back at the start (None: along the flattened array, then reshaped back).

    A view: each rolled axis is the two slices of the wrap placed side by side, so each
    entry is read where it lies, never copied.

    Args:
        a: a LazyTensor or anything ``le.lazy`` takes.
        shift: an int, or a sequence of them (one per entry of `axis`, or broadcast).
        axis: an int, a sequence of ints (repeats add up, as in numpy), or None.

    Returns:
        a LazyTensor of `a`'s shape and dtype.

    Raises:
        ShapeError: an axis out of range, or shifts and axes of different lengths.

    >>> import numpy as np, lazyein as le
    >>> le.roll(np.arange(5), 2).compute()
    array([3, 4, 0, 1, 2])
    """
    t = LazyTensor(_node(a, weak=False))
    if axis is None:
        total = sum(as_int(s, "roll shift") for s in int_sequence(shift, "roll shift"))
        return reshape(roll(reshape(t, (t.size,)), total, 0), t.shape)
    shifts = [as_int(s, "roll shift") for s in int_sequence(shift, "roll shift")]
    axes = [as_axis(k, t.ndim, "roll") for k in int_sequence(axis, "roll axis")]
    if len(shifts) == 1:
        shifts *= len(axes)
    elif len(axes) == 1:
        axes *= len(shifts)
    if len(shifts) != len(axes):
        raise ShapeError(f"roll: shift {shift!r} and axis {axis!r} do not broadcast together")
    moved = dict.fromkeys(axes, 0)
    for s, k in zip(shifts, axes):
        moved[k] += s
    for k, s in moved.items():
        t = _rolled(t, s, k)
    return t


def _rolled(t: LazyTensor, shift: int, axis: int) -> LazyTensor:
    """`t` rolled by `shift` along `axis`: its last `shift` entries, then the others."""
    n = t.shape[axis]
    if n == 0 or shift % n == 0:
        return t
    cut = n - shift % n
    before = (slice(None),) * axis
    return concatenate([t[(*before, slice(cut, None))], t[(*before, slice(None, cut))]], axis)
