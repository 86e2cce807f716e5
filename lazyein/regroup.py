"""Reshapes as index arithmetic: a C-order reshape splits labels into parts and regroups a
term's output axes around them, a view wherever the term's placement allows."""

from __future__ import annotations

import math

from .sop import Axis, Sub, Term, map_term, window

__all__ = ["NoView", "reshaped", "split_label"]


class NoView(Exception):
    """A reshape that no split or merge of labels expresses."""


class _SplitFirst(Exception):
    """Regrouping needs `label` split so that a part of size `first` comes first."""

    def __init__(self, label: int, first: int):
        super().__init__(label, first)
        self.label, self.first = label, first


def reshaped(term: Term, shape, target, fresh) -> Term:
    """`term`, written into an array of `shape`, written into one of `target` instead (a
    C-order reshape): labels split where the new axes cut them, axes regrouped; `fresh`
    gives new labels.

    Raises:
        NoView: no split or merge of labels expresses it.
    """
    term = _spanning(term, shape, target, fresh)
    while True:
        try:
            return _regroup(term, shape, target)
        except _SplitFirst as split:
            size = term.sizes[split.label]
            term = split_label(term, split.label, (split.first, size // split.first), fresh)


def _spanning(term: Term, shape, target, fresh) -> Term:
    """`term` with each output axis that a reshape merges with others written as subs
    spanning the whole axis (mixed radix over its length): a single index (a stacked
    slice) becomes a label of size 1 at that offset, and a placed range (a pad's) one
    label at its offset; merged, they are the offsets of sub-ranges of the new axis."""
    merged = _merged_axes(shape, target)
    out, sizes = list(term.out), dict(term.sizes)
    for i in merged:
        ax, n = out[i], shape[i]
        if ax.steps is not None or (ax.start == 0 and ax.length == n):
            continue  # a window, refused later; or already spanning
        if not ax.subs:
            pin = fresh()
            sizes[pin] = 1
            out[i] = Axis(0, (Sub(pin, n, ax.start),))
        elif len(ax.subs) == 1:
            (sub,) = ax.subs
            out[i] = Axis(0, (sub._replace(dim=n, offset=ax.start + sub.offset),))
    return term._replace(out=tuple(out), sizes=sizes)


def split_label(term: Term, label: int, dims, fresh) -> Term:
    """Replace `label` by fresh labels of sizes `dims` (C order) wherever it appears. Where
    it runs over a sub-range of a sub-dimension, that range must be whole blocks of the
    inner parts: then the outermost part runs over the matching range of blocks.

    Raises:
        NoView: the label indexes a window, or a range that is not whole blocks.
    """
    parts = tuple(Sub(fresh(), d, 0) for d in dims)
    inner = math.prod(dims[1:])
    if any(ax.steps is not None and any(s.label == label for s in ax.subs)
           for ax in (*term.out, *(a for f in term.factors for a in f.axes))):
        raise NoView  # a window's label moves along its axis: its parts would not

    def split(s: Sub):
        if s.label != label:
            return (s,)
        if s.dim % inner or s.offset % inner:
            raise NoView  # a range that is not whole blocks does not split
        return (parts[0]._replace(dim=s.dim // inner, offset=s.offset // inner), *parts[1:])

    split_term = map_term(term, split)
    sizes = {ix: d for ix, d in term.sizes.items() if ix != label}
    sizes.update((p.label, p.dim) for p in parts)
    return split_term._replace(sizes=sizes)


def _axis_groups(shape, target) -> list[tuple[list[int], list[int]]]:
    """How a C-order reshape from `shape` to `target` groups axes (length-1 axes aside):
    runs of old axes and of new axes whose lengths multiply to the same number."""
    groups, old, new = [], [i for i, d in enumerate(shape) if d != 1], \
        [j for j, d in enumerate(target) if d != 1]
    while old and new:
        o, n = [old.pop(0)], [new.pop(0)]
        po, pn = shape[o[0]], target[n[0]]
        while po != pn:
            if po < pn:
                o.append(old.pop(0))
                po *= shape[o[-1]]
            else:
                n.append(new.pop(0))
                pn *= target[n[-1]]
        groups.append((o, n))
    return groups


def _merged_axes(shape, target) -> set[int]:
    """The axes of `shape` that a reshape to `target` groups with others."""
    return {i for o, n in _axis_groups(shape, target) if len(o) > 1 or len(n) > 1 for i in o}


def _regroup(term: Term, shape, target) -> Term:
    """`term` with its output axes regrouped from `shape` to `target`.

    Raises:
        _SplitFirst: a label must first be split to line up with `target`.
        NoView: no grouping of labels works.
    """
    out = [Axis(0, ())] * len(target)
    for o, n in _axis_groups(shape, target):
        if len(o) == 1 and len(n) == 1:
            out[n[0]] = term.out[o[0]]
            continue
        if len(n) == 1 and any(term.out[i].start != 0 or term.out[i].length != shape[i]
                               or term.out[i].steps is not None for i in o):
            out[n[0]] = _merged(term, [(term.out[i], shape[i]) for i in o])
            continue
        for i in o:
            ax = term.out[i]
            if ax.start != 0 or ax.length != shape[i] or ax.steps is not None:
                raise NoView  # a padded region (or a window) is not a product of label ranges
        subs = [s for i in o for s in term.out[i].subs if s.dim != 1]
        for j in n:
            want, taken = target[j], []
            while want != 1:
                s = subs.pop(0)
                if want % s.dim == 0:
                    taken.append(s)
                    want //= s.dim
                elif s.dim % want == 0:
                    # the label's range must be whole blocks of what follows the first part
                    inner, size = s.dim // want, term.sizes[s.label]
                    if s.offset % inner or size % inner:
                        raise NoView
                    raise _SplitFirst(s.label, size // inner)
                else:
                    raise NoView
            out[j] = Axis(0, tuple(taken))
    return term._replace(out=tuple(out))


def _merged(term: Term, axes) -> Axis:
    """Output axes ``(axis, length)`` merged into one (C order), where some is a placed
    range or a window: each is affine in its labels (``start + sum((offset + label) *
    step)``), so the merge is too, a window over the new axis (a plain axis where its steps
    are the subs' own C strides): a kron with a reversed or offset identity stays a view."""
    start, subs, steps = 0, [], []
    weight = math.prod(n for _, n in axes)
    for ax, n in axes:
        weight //= n
        start += ax.start * weight
        subs += ax.subs
        steps += [st * weight for st in ax.strides]
    return window(start, subs, steps)
