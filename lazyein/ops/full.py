"""FULL: ``np.full(shape, value)`` (and so ``zeros`` and ``ones``), never built: a constant term."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ir import Node, Op
from ..sop import Term, full_axis
from .base import Drawing, OpDef, register_op, show

__all__ = ["FullArgs", "FULL"]


class FullArgs(NamedTuple):
    shape: tuple[int, ...]
    value: object  # a Python scalar, already cast to `dtype` (as np.full casts it)
    dtype: np.dtype


def abstract(src, arg: FullArgs):
    return arg.shape, arg.dtype


def lower(session, node: Node) -> list[Term]:
    """full(shape, c) is c times a product of no factors, broadcast over fresh labels: one
    term with no factors (zeros: no term at all, so nothing it meets is ever multiplied)."""
    shape, value = node.arg.shape, node.arg.value
    if value == 0 or 0 in shape:  # (nan != 0: a full of nan is a term)
        return []
    out = tuple(full_axis(session.fresh(), n) for n in shape)
    sizes = {s.label: s.dim for ax in out for s in ax.subs}
    return [Term(value, (), out, sizes)]


def _name(node: Node) -> str:
    value = node.arg.value
    return "zeros" if value == 0 else "ones" if value == 1 else "full"


def describe(node: Node) -> str:
    dims = ",".join(map(str, node.arg.shape))
    name = _name(node)
    return f"full[{dims},{node.arg.value!r}]" if name == "full" else f"{name}[{dims}]"


def draw(node: Node) -> Drawing:
    name = _name(node)
    title = f"full {node.arg.value!r}" if name == "full" else name
    return Drawing(f"{title} {show(node.arg.shape)}", kind="structured")


FULL = register_op(OpDef(Op.FULL, FullArgs, abstract, lower, describe, draw))
