"""PAD: ``np.pad`` in constant mode: the operand placed at an offset, in a frame of constants."""

from __future__ import annotations

from typing import NamedTuple

from ..ir import Node, Op
from ..sop import Axis, Sub, Term
from .base import Drawing, OpDef, register_op

__all__ = ["PadArgs", "PAD"]


class PadArgs(NamedTuple):
    widths: tuple[tuple[int, int], ...]  # (before, after) per axis
    constants: tuple[tuple[object, object], ...]  # (before, after) per axis, cast to the dtype


def abstract(src, arg: PadArgs):
    (a,) = src
    return tuple(d + lo + hi for d, (lo, hi) in zip(a.shape, arg.widths)), a.dtype


def lower(session, node: Node) -> list[Term]:
    """pad(a, w, c) = a placed at offset w, plus c on each slab of the frame around it"""
    widths, constants = node.arg.widths, node.arg.constants
    (src,) = node.src
    # (the records are built directly, not by `_replace`: a loop of 15,000 pads lowers this)
    terms = [Term(t.coeff, t.factors,
                  tuple([Axis(ax.start + lo, ax.subs, ax.steps) if lo else ax
                         for ax, (lo, _) in zip(t.out, widths)]), t.sizes, t.dtype)
             for t in session.operand(src, node)]
    if not any(c for pair in constants for c in pair):
        return terms  # zeros around: no frame
    # The frame is split into disjoint boxes: along axis k, outside the inner range, with
    # the axes before k whole and the axes after k inside it. Disjoint, so exact; a corner
    # takes the constant of its last axis, as np.pad, which pads axis after axis.
    inner = [(lo, lo + n) for (lo, _), n in zip(widths, src.shape)]
    for k, n in enumerate(node.shape):
        for (lo, hi), constant in zip(((0, inner[k][0]), (inner[k][1], n)), constants[k]):
            box = [*((0, m) for m in node.shape[:k]), (lo, hi), *inner[k + 1:]]
            if constant != 0 and all(b > a for a, b in box):
                terms.append(_box(session, constant, box))
    return terms


def _box(session, coeff, box) -> Term:
    """The constant `coeff` on the box ``[(lo, hi), ...]`` and zero elsewhere."""
    out, sizes = [], {}
    for lo, hi in box:
        if hi - lo == 1:
            out.append(Axis(lo, ()))
            continue
        ix = session.fresh()
        sizes[ix] = hi - lo
        out.append(Axis(lo, (Sub(ix, hi - lo, 0),)))
    return Term(coeff, (), tuple(out), sizes)


def _constant(constants) -> str:
    """The one constant padded with, or all of them where they differ."""
    values = {c for pair in constants for c in pair}
    return repr(values.pop()) if len(values) == 1 else repr(constants)


def describe(node: Node) -> str:
    widths = " ".join(f"{lo}:{hi}" for lo, hi in node.arg.widths)
    return f"pad[{widths}, {_constant(node.arg.constants)}]"


def draw(node: Node) -> Drawing:
    constants = node.arg.constants
    title = "pad " + ", ".join(f"{lo}:{hi}" for lo, hi in node.arg.widths)
    if {c for pair in constants for c in pair} != {0}:
        title += f" with {_constant(constants)}"
    return Drawing(title)


PAD = register_op(OpDef(Op.PAD, PadArgs, abstract, lower, describe, draw))
