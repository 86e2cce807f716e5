"""DIAG: ``np.diag(v, k)`` of a 1-D `v`, never built: `v`'s label on both axes, as eye's."""

from __future__ import annotations

from typing import NamedTuple

from ..ir import Node, Op
from ..sop import Term
from .base import Drawing, OpDef, register_op

__all__ = ["DiagArgs", "DIAG"]


class DiagArgs(NamedTuple):
    k: int  # the diagonal's offset: v[i] at row i - min(k, 0), column i + max(k, 0)


def abstract(src, arg: DiagArgs):
    (v,) = src
    assert len(v.shape) == 1, v
    n = v.shape[0] + abs(arg.k)
    return (n, n), v.dtype


def lower(session, node: Node) -> list[Term]:
    """diag(v, k)[i + max(-k, 0), i + max(k, 0)] = v[i]: each term of `v` placed on both
    output axes at once (the same labels on two axes is a diagonal), the rows shifted by
    -k or the columns by k. As eye's, the zeros off the diagonal are never touched."""
    (src,) = node.src
    k = node.arg.k
    terms = []
    for t in session.operand(src, node):
        (ax,) = t.out
        rows = ax._replace(start=ax.start + max(-k, 0))
        cols = ax._replace(start=ax.start + max(k, 0))
        terms.append(t._replace(out=(rows, cols)))
    return terms


def draw(node: Node) -> Drawing:
    return Drawing(f"diag k={node.arg.k}", kind="structured")


DIAG = register_op(OpDef(Op.DIAG, DiagArgs, abstract, lower, draw=draw))
