"""ADD: ``a + b`` with numpy broadcasting; and the rule that lowers a tree of sums at once."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ir import Node, Op, promotable
from ..sop import Term
from .base import Drawing, OpDef, get_op, register_op

__all__ = ["AddArgs", "ADD", "lower_sum"]


class AddArgs(NamedTuple):
    """An addition has no arguments: its operands are its `src`."""


def abstract(src, arg: AddArgs):
    a, b = src
    # the common case, without numpy's machinery (and, as a sum of 100,000 terms makes it
    # 100,000 times, without a call to tell a weak scalar: neither operand is a leaf)
    if a.shape == b.shape and (a.op is not Op.LEAF or not a.arg.weak) and \
            (b.op is not Op.LEAF or not b.arg.weak) and a.dtype == b.dtype:
        return a.shape, a.dtype
    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    return shape, np.result_type(promotable(a), promotable(b))


def lower_sum(session, node: Node) -> list[Term]:
    """terms(c * (a + b)) = c * terms(a) + c * terms(b), each broadcast to the sum's shape;
    through the whole tree of sums and scalings (ops with a `sum_scale`) absorbed into
    `node` (see `Lowering.absorbed`) at once, its operands' terms in order, each scaled by
    the product of the scalings above it (taken top down: the 100,000 terms of a sum are
    one tree)."""
    if 0 in node.shape:
        return []
    terms, stack = [], [(node, None, None)]
    while stack:
        n, user, coeff = stack.pop()
        if n is node or session.absorbed(n):
            if (scale := get_op(n.op).sum_scale(n)) is not None:
                coeff = scale if coeff is None else coeff * scale
            stack.extend((s, n, coeff) for s in reversed(n.src))
            continue
        for t in session.operand(n, user):
            if n.shape != node.shape:
                t = session.broadcast(t, n.shape, node.shape)
            terms.append(t if coeff is None else t._replace(coeff=t.coeff * coeff))
    return terms


def draw(node: Node) -> Drawing:
    return Drawing("+")


# the printed description is the generic one: "add"
ADD = register_op(OpDef(Op.ADD, AddArgs, abstract, lower_sum, draw=draw,
                        sum_scale=lambda node: None))
