"""Sum-of-products IR: terms whose factors and output placements are strided views."""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from .ir import Node

__all__ = ["Sub", "Axis", "window", "Factor", "Term", "full_axis", "axis_labels", "map_term",
           "merge_terms", "restrict", "shift_axes", "chunk_groups", "term_labels", "reach",
           "substitute"]


class Sub(NamedTuple):
    """One sub-dimension of a view axis: `label` runs over ``[offset, offset + size)`` of `dim`."""

    label: int
    dim: int
    offset: int


class Axis(NamedTuple):
    """How one array axis is addressed by labels.

    The range ``[start, start + prod(dims))`` of the axis is split (C order) into the sub
    dimensions, each of which is indexed by its label at an offset. Every such map is a view:
    a slice, a split of one axis, slices of the parts, and (for a repeated label) a diagonal.
    An axis with no subs is a single index, ``start``.

    A *window* axis (`steps` given) is indexed by a weighted sum of its labels instead:
    ``start + sum((offset + label) * step)``, with each ``offset + label`` below the sub's
    `dim`. ``x = u + a`` is the sliding window of a convolution, still a strided view of
    whatever the axis belongs to. A step may be negative: the label runs backwards (a
    flip, a slice with a negative step), which a strided view takes with a negative stride.
    """

    start: int
    subs: tuple[Sub, ...]
    steps: tuple[int, ...] | None = None

    @property
    def length(self) -> int:
        if self.steps is not None:
            return 1 + sum((s.dim - 1) * abs(step) for s, step in zip(self.subs, self.steps))
        return math.prod(s.dim for s in self.subs)

    @property
    def strides(self) -> tuple[int, ...]:
        """How far one step of each sub's label moves along the axis."""
        if self.steps is not None:
            return self.steps
        strides, step = [], 1
        for s in reversed(self.subs):
            strides.append(step)
            step *= s.dim
        return tuple(reversed(strides))


def window(start: int, subs, steps) -> Axis:
    """The axis indexed by ``start + sum((offset + label) * step)``: a plain (mixed-radix)
    axis when the steps are the C-order strides of the subs, else a window axis."""
    axis = Axis(start, tuple(subs))
    return axis if axis.strides == tuple(steps) else Axis(start, tuple(subs), tuple(steps))


class Factor(NamedTuple):
    """A view of `source`'s value (a leaf, or a node computed on its own first)."""

    source: Node
    axes: tuple[Axis, ...]


class Term(NamedTuple):
    """``coeff * einsum(factors)`` written into the output region that `out` describes.

    Labels in `out` but in no factor broadcast; labels in factors but not in `out` are summed.
    """

    coeff: complex
    factors: tuple[Factor, ...]
    out: tuple[Axis, ...]
    sizes: dict[int, int]
    # numpy's promotion over every node the term passed through: the dtype its product is
    # computed in, so an eye(dtype=int) between two bool arrays still makes it count
    dtype: np.dtype = np.dtype(bool)


def full_axis(label: int, n: int) -> Axis:
    """The plain axis of length `n` indexed by `label` (a length-1 axis needs no label)."""
    return Axis(0, (Sub(label, n, 0),)) if n != 1 else Axis(0, ())


def axis_labels(axes) -> list[int]:
    return [s.label for ax in axes for s in ax.subs]


def map_term(term: Term, fn) -> Term:
    """Rewrite every sub of `term` with ``fn(sub) -> tuple of subs``."""

    def axes(ax_list):
        mapped = []
        for ax in ax_list:
            subs = tuple(itertools.chain.from_iterable(fn(s) for s in ax.subs))
            # a window's subs each keep their step: `fn` may rename or move them, not split
            assert ax.steps is None or len(subs) == len(ax.subs), ax
            mapped.append(ax._replace(subs=subs))
        return tuple(mapped)

    return term._replace(factors=tuple(Factor(f.source, axes(f.axes)) for f in term.factors),
                         out=axes(term.out))


def _canonical_keys(term: Term):
    """Label-free descriptions of `term` for each order of its indistinguishable factors."""
    names: dict[int, int] = {}

    def name(ix):
        return names.setdefault(ix, len(names))

    out = tuple((ax.start, _steps(ax), tuple((name(s.label), s.dim, s.offset) for s in ax.subs))
                for ax in term.out)
    fixed = dict(names)

    def signature(f: Factor):
        return (id(f.source), tuple((ax.start, _steps(ax), tuple(
            (fixed.get(s.label, -1), s.dim, s.offset) for s in ax.subs)) for ax in f.axes))

    factors = sorted(term.factors, key=signature)
    groups = [list(g) for _, g in itertools.groupby(factors, key=signature)]
    if math.prod(math.factorial(len(g)) for g in groups) > 120:  # symmetric enough: take one
        orders = [tuple(groups)]
    else:  # (itertools.product holds all its inputs' items: only ask it for few)
        orders = itertools.product(*(itertools.permutations(g) for g in groups))
    for order in orders:
        local = dict(fixed)
        body = tuple((id(f.source), tuple(
            (ax.start, _steps(ax), tuple((local.setdefault(s.label, len(local)), s.dim, s.offset)
                                       for s in ax.subs)) for ax in f.axes))
            for f in itertools.chain.from_iterable(order))
        yield out, body, tuple(sorted((local[ix], d) for ix, d in term.sizes.items()
                                      if ix in local))


def _steps(ax: Axis) -> tuple[int, ...]:
    """`ax.steps` as a key that sorts against any other: a plain axis's () before a window's
    (1, *steps) (None and a tuple do not compare: two factors of one source, one viewed
    through a window, would fail to sort)."""
    return () if ax.steps is None else (1, *ax.steps)


def merge_terms(terms) -> list[Term]:
    """Add the coefficients of terms equal up to a renaming of labels and the order of
    factors; drop terms whose coefficient becomes exactly zero."""
    if len(terms) == 1:  # nothing to merge with
        return [t for t in terms if t.coeff != 0]
    merged: dict = {}
    for t in terms:
        key = min(_canonical_keys(t))
        if key in merged:
            first = merged[key]
            merged[key] = first._replace(coeff=first.coeff + t.coeff,
                                         dtype=np.promote_types(first.dtype, t.dtype))
        else:
            merged[key] = t
    return [t for t in merged.values() if t.coeff != 0]


def shift_axes(axes: tuple[Axis, ...], deltas: dict[int, int]) -> tuple[Axis, ...]:
    """`axes` with each label in `deltas` indexing from its offset plus its delta."""
    return tuple(ax._replace(subs=tuple(s._replace(offset=s.offset + deltas[s.label])
                                        if s.label in deltas else s for s in ax.subs))
                 for ax in axes)


def restrict(term: Term, ranges: dict[int, tuple[int, int]]) -> Term:
    """`term` with each label of `ranges` running over ``[start, stop)`` of its range only:
    a chunk of it.

    Every view a label indexes moves its offset by `start`, so the chunks of a label's
    range sum to the whole term: a summed label's chunks are partial sums, a kept label's
    chunks land in disjoint sub-regions of the output.
    """
    deltas = {label: start for label, (start, _) in ranges.items()}
    sizes = {**term.sizes, **{label: stop - start for label, (start, stop) in ranges.items()}}
    return term._replace(factors=tuple(Factor(f.source, shift_axes(f.axes, deltas))
                                       for f in term.factors),
                         out=shift_axes(term.out, deltas), sizes=sizes)


def chunk_groups(term: Term, blocks: tuple[tuple[int, int], ...]):
    """The chunks of `term` when each ``(label, block)`` of `blocks` is sliced in ranges of
    `block` (the last one shorter), grouped by shape: per group, the range of starts of each
    label (a `range`), every combination of which is one chunk of that group's shape."""
    per_label = []
    for label, block in blocks:
        n = term.sizes[label]
        full = n // block
        options = [(range(0, full * block, block), block)] if full else []
        if n % block:
            options.append((range(full * block, n, block), n % block))
        per_label.append([(label, starts, size) for starts, size in options])
    for combo in itertools.product(*per_label):
        yield {label: (starts, size) for label, starts, size in combo}


def term_labels(term: Term) -> tuple[int, ...]:
    """`term`'s labels in order of first appearance, factors first: a numbering that does
    not depend on which fresh labels the lowering happened to pick."""
    return tuple(dict.fromkeys(axis_labels([ax for f in term.factors for ax in f.axes])
                               + axis_labels(term.out)))


def reach(ax: Axis, sizes) -> tuple[int, int]:
    """The indices ``[low, high)`` between which `ax` reaches, its labels running over
    `sizes`: a plain axis's whole length (sliced, then split); a window's first to last,
    whichever way each step goes (its start alone may lie outside: offsets move it in)."""
    if ax.steps is None:
        return ax.start, ax.start + ax.length
    low = high = ax.start
    for s, step in zip(ax.subs, ax.steps):
        ends = (s.offset * step, (s.offset + sizes[s.label] - 1) * step)
        low, high = low + min(ends), high + max(ends)
    return low, high + 1


def substitute(term: Term, label: int, first: int, step: int = 1, new: int | None = None,
               count: int = 1) -> Term:
    """`term` with `label` replaced by ``first + step * new``, `new` a label over
    ``range(count)`` (or by the constant `first` where `new` is None): every view that
    `label` indexes keeps indexing the same elements, now in the order `new` runs.

    A step of 1 on a plain axis is a restriction (the offset moves, as `restrict` does);
    any other step makes the axis a window of step ``step * stride``, negative for a label
    run backwards; a constant moves the axis's start and drops the sub.
    """

    def axis(ax: Axis) -> Axis:
        if all(s.label != label for s in ax.subs):
            return ax
        start, subs, steps = ax.start, [], []
        for s, stride in zip(ax.subs, ax.strides):
            if s.label != label:
                subs.append(s)
                steps.append(stride)
            elif new is not None and step == 1 and ax.steps is None:
                subs.append(Sub(new, s.dim, s.offset + first))
                steps.append(stride)
            else:
                start += (s.offset + first) * stride
                if new is not None:
                    subs.append(Sub(new, count, 0))
                    steps.append(step * stride)
        if ax.steps is None and len(subs) == len(ax.subs) and step == 1:
            return Axis(start, tuple(subs))  # a restriction: the same mixed radix
        # (a window's subs bound their labels: tight bounds for the ones kept as they were)
        if ax.steps is None and len(subs) == len(ax.subs) - 1 and ax.subs[0].label == label:
            return Axis(start, tuple(subs))  # the outermost part fixed: the rest as it was
        if not subs:
            return Axis(start, ())
        return window(start, subs, steps)

    sizes = {ix: d for ix, d in term.sizes.items() if ix != label}
    if new is not None:
        sizes[new] = count
    return term._replace(factors=tuple(Factor(f.source, tuple(map(axis, f.axes)))
                                       for f in term.factors),
                         out=tuple(map(axis, term.out)), sizes=sizes)
