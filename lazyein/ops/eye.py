"""EYE: ``np.eye(n, m, k)``, never built: one label on both axes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ir import Node, Op
from ..sop import Axis, Sub, Term
from .base import Drawing, OpDef, register_op

__all__ = ["EyeArgs", "EYE"]


class EyeArgs(NamedTuple):
    n: int  # rows
    m: int  # columns
    k: int  # the diagonal's offset: ones where column - row = k
    dtype: np.dtype


def abstract(src, arg: EyeArgs):
    return (arg.n, arg.m), arg.dtype


def lower(session, node: Node) -> list[Term]:
    """eye(N, M, k)[i, j] = 1 where j - i = k: one label on both axes, offset by k."""
    n, m, k = node.arg.n, node.arg.m, node.arg.k
    length = min(n, m - k) if k >= 0 else min(n + k, m)
    if length <= 0:
        return []
    d = session.fresh()
    rows, cols = Axis(0, (Sub(d, n, max(0, -k)),)), Axis(0, (Sub(d, m, max(0, k)),))
    return [Term(1, (), (rows, cols), {d: length})]


def describe(node: Node) -> str:
    return f"eye[{node.arg.n},{node.arg.m},k={node.arg.k}]"


def draw(node: Node) -> Drawing:
    return Drawing(f"eye N={node.arg.n} M={node.arg.m} k={node.arg.k}", kind="structured")


EYE = register_op(OpDef(Op.EYE, EyeArgs, abstract, lower, describe, draw))
