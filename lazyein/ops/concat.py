"""CONCAT: operands joined along an axis; copies that shift uniformly fuse into a window."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ir import Node, Op, promotable
from ..sop import Axis, Factor, Sub, Term, window
from .base import Drawing, OpDef, draw_fields, register_op

__all__ = ["ConcatArgs", "CONCAT"]


class ConcatArgs(NamedTuple):
    axis: int


def abstract(src, arg: ConcatArgs):
    axis, first = arg.axis, src[0].shape
    shape = first[:axis] + (sum(s.shape[axis] for s in src),) + first[axis + 1:]
    return shape, np.result_type(*(promotable(s) for s in src))


def lower(session, node: Node) -> list[Term]:
    """concatenate(a, b) = a at offset 0 plus b at offset len(a) along the axis; and
    concatenated copies of one term that shift uniformly (a convolution operator's rows)
    are one term over a new label that indexes the copies."""
    axis, offset, parts = node.arg.axis, 0, []
    for src in node.src:
        placed = []
        for t in session.operand(src, node):
            out = list(t.out)
            ax = out[axis]
            out[axis] = Axis(ax.start + offset, ax.subs, ax.steps)
            placed.append(Term(t.coeff, t.factors, tuple(out), t.sizes, t.dtype))
        parts.append(placed)
        offset += src.shape[axis]
    return _fuse_shifted(session, parts) or [t for placed in parts for t in placed]


def _fuse_shifted(session, parts: list[list[Term]]) -> list[Term] | None:
    """If the k-th part's terms are the first part's moved by k times a fixed shift (of
    where they sit in the output and of what they view), the terms over a new label `u`
    that counts the parts, whose step moves every axis the shift moves: windows where
    another label already moves that axis. None where the parts do not line up."""
    if len(parts) < 2 or any(len(p) != len(parts[0]) for p in parts) or not parts[0]:
        return None
    fused = []
    for copies in zip(*parts):
        shapes = [_shift_form(t) for t in copies]
        key, first = shapes[0][0], shapes[0][1]
        if any(k != key for k, _ in shapes):
            return None
        delta = [b - a for a, b in zip(first, shapes[1][1])]
        if any(p[1] != tuple(a + j * d for a, d in zip(first, delta))
               for j, p in enumerate(shapes)):
            return None
        term = _with_copies(session, copies[0], len(copies), iter(delta))
        if term is None:
            return None
        fused.append(term)
    return fused


def _with_copies(session, term: Term, count: int, delta) -> Term | None:
    """The `count` copies of `term` side by side as one term, the k-th moved by k times
    `delta` (in the order `_shift_form` lists starts and offsets)."""
    u = session.fresh()

    def moved(ax: Axis) -> Axis | None:
        start_step = next(delta)
        offset_steps = [next(delta) for _ in ax.subs]
        step = start_step + sum(d * st for d, st in zip(offset_steps, ax.strides))
        if step == 0:
            return ax if not any(offset_steps) else None
        if step < 0:
            return None
        steps = (step, *ax.strides)
        plain = window(ax.start, (Sub(u, count, 0), *ax.subs), steps)
        if plain.steps is None:
            return plain  # copies side by side: a split of the axis
        # a window bounds each label's range by its sub's dim: make the bounds tight
        subs = tuple(s._replace(dim=s.offset + term.sizes[s.label]) for s in ax.subs)
        return Axis(ax.start, (Sub(u, count, 0), *subs), steps)

    out = [moved(ax) for ax in term.out]
    factors = [Factor(f.source, tuple(moved(ax) for ax in f.axes)) for f in term.factors]
    if any(ax is None for ax in out) or any(ax is None for f in factors for ax in f.axes):
        return None
    if not any(s.label == u for ax in out for s in ax.subs):
        return None  # the copies would overlap in the output: not a concatenation
    return term._replace(out=tuple(out), factors=tuple(factors), sizes={**term.sizes, u: count})


def _shift_form(term: Term) -> tuple[tuple, tuple[int, ...]]:
    """`term` split into what copies moved along their axes share (labels numbered by first
    appearance, sizes, sources, coefficient) and what moves: every axis start and sub offset,
    out axes first, then each factor's. (Flat tuples: a stack of 15,000 pads asks this of
    each; an axis's steps, None or a tuple, begin it and -1 ends it.)"""
    names: dict[int, int] = {}
    sizes = term.sizes
    key, moving = [term.coeff, term.dtype], []
    for axes, source in [(term.out, None), *((f.axes, id(f.source)) for f in term.factors)]:
        key.append(source)
        for ax in axes:
            key.append(ax.steps)
            moving.append(ax.start)
            for label, dim, offset in ax.subs:
                key += (names.setdefault(label, len(names)), dim, sizes[label])
                moving.append(offset)
            key.append(-1)
    return tuple(key), tuple(moving)


def draw(node: Node) -> Drawing:
    """The generic drawing ("concat axis=0"), or "stack axis=0" for `le.stack`'s."""
    if _is_stack(node):
        return Drawing(f"stack axis={node.arg.axis}")
    return draw_fields(node)


def _is_stack(node: Node) -> bool:
    """Is `node` the concatenation `le.stack` makes: of operands given a new axis there?"""
    axis = node.arg.axis
    return all(s.op is Op.RESHAPE and s.shape[axis] == 1
               and s.shape[:axis] + s.shape[axis + 1:] == s.src[0].shape for s in node.src)


# the printed description is the generic one: "concat[axis=0]"
CONCAT = register_op(OpDef(Op.CONCAT, ConcatArgs, abstract, lower, draw=draw))
