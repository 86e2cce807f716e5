"""INDEX: numpy's basic indexing (ints, slices of any step, new axes), lowered by restricting
each term to the entries asked for, so that only their work is done."""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

from ..ir import Node, Op
from ..sop import Axis, Sub, Term, reach, substitute, window
from .base import Drawing, OpDef, register_op

__all__ = ["IndexArgs", "INDEX", "selection"]

# an axis placed by several labels (a merged or window axis) that no strided view selects
# is split into terms, one per value of all its labels but one, up to this many
MAX_SPLIT = 64


class IndexArgs(NamedTuple):
    # per operand axis an int (the axis dropped) or a normalized slice ``(start, stop,
    # step)`` as ``slice.indices`` gives it; None where a new length-1 axis goes
    index: tuple


def selection(item, n: int) -> tuple[int, int, int]:
    """The positions an entry of `IndexArgs.index` selects along an axis of length `n`, as
    ``(first, step, count)``: the positions ``first + step * q`` for ``q < count``."""
    if isinstance(item, int):
        return item, 1, 1
    start, stop, step = item
    return start, step, len(range(start, stop, step))


def abstract(src, arg: IndexArgs):
    (a,) = src
    dims = iter(a.shape)
    shape = []
    for item in arg.index:
        if item is None:
            shape.append(1)
        elif isinstance(item, int):
            assert 0 <= item < next(dims), (a.shape, arg)
        else:
            shape.append(selection(item, next(dims))[2])
    return tuple(shape), a.dtype


class _Dense(Exception):
    """A selection that no view of a term's factors expresses: the operand is computed."""


def lower(session, node: Node) -> list[Term]:
    """a[index] = each term of a, each of its output axes restricted to the positions
    asked for, the labels placing them substituted wherever they index (a slice moves
    offsets, a step becomes a window step, a negative step a label run backwards, an int a
    constant): its factors are read only where those entries need them. A placement that
    no view selects from (rare: a merged axis sliced with a step) computes the operand."""
    (src,) = node.src
    terms = session.operand(src, node)
    try:
        return _indexed(session, terms, src.shape, node.arg.index)
    except _Dense:
        session.why_dense.setdefault(src, "a selection (index) of a merged or window axis "
                                     "that no strided view of its factors expresses")
        return _indexed(session, session.dense(src), src.shape, node.arg.index)


def _indexed(session, terms, shape, index) -> list[Term]:
    """`terms` (of an array of `shape`) indexed by `index`."""
    items = [item for item in index if item is not None]
    for k, (item, n) in enumerate(zip(items, shape)):
        first, step, count = selection(item, n)
        if (first, step, count) == (0, 1, n):
            continue
        terms = [piece for t in terms for piece in _select(session, t, k, first, step, count)]
    result = []
    for t in terms:
        kept = iter([ax for ax, item in zip(t.out, items) if not isinstance(item, int)])
        out = tuple(Axis(0, ()) if item is None else next(kept) for item in index
                    if not isinstance(item, int))
        result.append(_tidy(t._replace(out=out)))
    return result


def _tidy(term: Term) -> Term:
    """`term` without the labels an int index left behind in no view (its dropped axis's)."""
    used = {s.label for ax in (*term.out, *(a for f in term.factors for a in f.axes))
            for s in ax.subs}
    return term._replace(sizes={ix: d for ix, d in term.sizes.items() if ix in used})


def _select(session, term: Term, k: int, first: int, step: int, count: int) -> list[Term]:
    """The pieces of `term` at the positions ``first + step * q`` (q < count) of output axis
    `k`, that axis now indexed by q."""
    ax = term.out[k]
    if not ax.subs:
        q, r = divmod(ax.start - first, step)
        return [_placed(term, k, Axis(q, ()))] if r == 0 and 0 <= q < count else []
    labels = [s.label for s in ax.subs]
    if len(set(labels)) != len(labels):
        raise _Dense  # a label twice along one axis
    if len(labels) == 1:
        return _progression(session, term, k, first, step, count)
    if abs(step) == 1:
        low = first if step == 1 else first - count + 1
        if ax.steps is None:
            return [_moved(session, t, k, first, step)
                    for t in _pieces(term, k, low, low + count)]
        start, end = reach(ax, term.sizes)
        if low <= start and end <= low + count:  # a window wholly selected: moved or reversed
            return [_moved(session, term, k, first, step)]
    return [p for t in _unfused(term, k) for p in _select(session, t, k, first, step, count)]


def _placed(term: Term, k: int, ax: Axis) -> Term:
    return term._replace(out=(*term.out[:k], ax, *term.out[k + 1:]))


def _progression(session, term: Term, k, first, step, count) -> list[Term]:
    """The pieces of `term` whose output axis `k`, placed by one label ``l`` as
    ``start + (offset + l) * stride``, meets the positions ``first + step * q``: where the
    two progressions meet is a progression too, ``l = c + dl * j`` and ``q = q0 + dq * j``
    (a linear Diophantine equation), and the term is the one over the new label j."""
    ax = term.out[k]
    (sub,), (stride,) = ax.subs, ax.strides
    size = term.sizes[sub.label]
    # stride * l - step * q = first - origin
    origin = ax.start + sub.offset * stride
    g, x, y = _gcd(stride, -step)
    rest = first - origin
    if rest % g:
        return []
    l0, q0 = x * rest // g, y * rest // g
    dl, dq = step // g, stride // g  # l = l0 + dl * t, q = q0 + dq * t
    low, high = _solutions(l0, dl, size)
    low2, high2 = _solutions(q0, dq, count)
    low, high = max(low, low2), min(high, high2)
    if low > high:
        return []
    t0, sign = (low, 1) if dq > 0 else (high, -1)  # so that q grows with j
    c, q_first, m = l0 + dl * t0, q0 + dq * t0, high - low + 1
    if m == 1:
        return [_placed(substitute(term, sub.label, c), k, Axis(q_first, ()))]
    j = session.fresh()
    term = substitute(term, sub.label, c, dl * sign, j, m)
    return [_placed(term, k, window(q_first, (Sub(j, m, 0),), (abs(dq),)))]


def _gcd(a: int, b: int) -> tuple[int, int, int]:
    """``(g, x, y)`` with ``a * x + b * y == g == gcd(a, b) > 0``."""
    x0, y0, x1, y1 = 1, 0, 0, 1
    while b:
        q, (a, b) = a // b, (b, a % b)
        x0, x1, y0, y1 = x1, x0 - q * x1, y1, y0 - q * y1
    return (a, x0, y0) if a > 0 else (-a, -x0, -y0)


def _solutions(x0: int, dx: int, n: int) -> tuple[int, int]:
    """The range ``[low, high]`` of t with ``0 <= x0 + dx * t < n`` (dx nonzero)."""
    if dx > 0:
        return -(x0 // dx), (n - 1 - x0) // dx
    return -((n - 1 - x0) // -dx), x0 // -dx


def _pieces(term: Term, k: int, low: int, high: int) -> list[Term]:
    """`term` cut into terms whose plain output axis `k` (labels in mixed radix) lies wholly
    in ``[low, high)``, dropping what lies outside: the values of its outermost label whose
    blocks lie inside are one piece (a restriction), the at most two whose blocks straddle
    an end are each that label fixed and the rest of the axis cut again. (A plain axis is
    a slice of whole blocks, split: what lies inside is what its blocks span.)"""
    term = _placed(term, k, _tight(term.out[k], term.sizes))
    ax = term.out[k]
    start, end = reach(ax, term.sizes)
    if start >= low and end <= high:
        return [term]
    if end <= low or start >= high or not ax.subs:
        return []
    outer, stride = ax.subs[0], ax.strides[0]
    size = term.sizes[outer.label]
    # blocks wholly inside: v0..v1; any straddling an end is v0 - 1 or v1 + 1
    v0, v1 = -((start - low) // stride), (high - start) // stride - 1
    pieces = []
    first, last = max(v0, 0), min(v1, size - 1)
    if first <= last:
        pieces.append(substitute(term, outer.label, first) if first == last else
                      substitute(term, outer.label, first, 1, outer.label, last - first + 1))
    for v in sorted({v0 - 1, v1 + 1}):
        if 0 <= v < size and start + v * stride < high and start + (v + 1) * stride > low:
            pieces.extend(_pieces(substitute(term, outer.label, v), k, low, high))
    return pieces


def _tight(ax: Axis, sizes) -> Axis:
    """The plain axis `ax` as the slice of just the blocks its outermost label runs over."""
    if not ax.subs or ax.subs[0].offset == 0 and ax.subs[0].dim == sizes[ax.subs[0].label]:
        return ax
    outer = ax.subs[0]
    return Axis(ax.start + outer.offset * ax.strides[0],
                (Sub(outer.label, sizes[outer.label], 0), *ax.subs[1:]))


def _moved(session, term: Term, k: int, first: int, step: int) -> Term:
    """`term`, its output axis `k` lying wholly in the positions ``first + step * q``
    (step 1 or -1), indexed by q instead: moved, or reflected, each of its labels then run
    backwards where it indexes."""
    ax = term.out[k]
    if ax.steps is None:
        ax = _tight(ax, term.sizes)
    if step == 1:
        return _placed(term, k, ax._replace(start=ax.start - first))
    sizes = term.sizes
    fresh = [session.fresh() for _ in ax.subs]
    if ax.steps is None:  # q = first - p: each part from the other end of its dim
        start = first + 1 - ax.start - ax.length
        subs = tuple(Sub(j, s.dim, s.dim - s.offset - sizes[s.label])
                     for j, s in zip(fresh, ax.subs))
        new = Axis(start, subs)
    else:
        start = first - ax.start - sum((s.offset + sizes[s.label] - 1) * st
                                       for s, st in zip(ax.subs, ax.steps))
        new = Axis(start, tuple(Sub(j, sizes[s.label], 0) for j, s in zip(fresh, ax.subs)),
                   ax.steps)
    for j, s in zip(fresh, ax.subs):
        term = substitute(term, s.label, sizes[s.label] - 1, -1, j, sizes[s.label])
    return _placed(term, k, new)


def _unfused(term: Term, k: int) -> list[Term]:
    """`term` as one term per value of all but the largest of the labels placing output
    axis `k` (each then placed by one label); too many, and the operand is computed."""
    labels = sorted((s.label for s in term.out[k].subs), key=term.sizes.__getitem__)[:-1]
    if math.prod(term.sizes[ix] for ix in labels) > MAX_SPLIT:
        raise _Dense
    pieces = []
    for values in itertools.product(*(range(term.sizes[ix]) for ix in labels)):
        piece = term
        for ix, v in zip(labels, values):
            piece = substitute(piece, ix, v)
        pieces.append(piece)
    return pieces


def _show(item) -> str:
    """An entry of the index as numpy would take it back: ``2::-1`` runs down to 0."""
    if item is None:
        return "None"
    if isinstance(item, int):
        return str(item)
    start, stop, step = item
    text = f"{start}:{'' if stop < 0 else stop}"
    return text + (f":{step}" if step != 1 else "")


def describe(node: Node) -> str:
    return f"index[{','.join(map(_show, node.arg.index))}]"


def draw(node: Node) -> Drawing:
    return Drawing(f"[{', '.join(map(_show, node.arg.index))}]")


INDEX = register_op(OpDef(Op.INDEX, IndexArgs, abstract, lower, describe, draw))
