"""RESHAPE: a C-order reshape, lowered as labels split into parts and axes that gather labels."""

from __future__ import annotations

import math
from typing import NamedTuple

from ..ir import Node, Op
from ..regroup import NoView, reshaped
from ..sop import Term
from .base import Drawing, OpDef, register_op

__all__ = ["ReshapeArgs", "RESHAPE"]


class ReshapeArgs(NamedTuple):
    shape: tuple[int, ...]


def abstract(src, arg: ReshapeArgs):
    (a,) = src
    assert math.prod(arg.shape) == a.size, (a.shape, arg.shape)
    return arg.shape, a.dtype


def lower(session, node: Node) -> list[Term]:
    """reshape splits and merges axes: labels split into parts, axes gather labels"""
    (src,) = node.src
    try:
        return [reshaped(t, src.shape, node.shape, session.fresh)
                for t in session.operand(src, node)]
    except NoView:
        session.why_dense[node] = "no split or merge of labels expresses this reshape"
        session.ask(src)  # numpy reshapes `src` computed: the planner lowers it again
        return session.dense(node)


def describe(node: Node) -> str:
    return f"reshape[{','.join(map(str, node.arg.shape))}]"


def draw(node: Node) -> Drawing:
    return Drawing("kron: reshape" if _is_kron(node) else "reshape")


def _is_kron(node: Node) -> bool:
    """Is `node` the reshape that `le.kron` puts over an interleaved outer product?"""
    (product,) = node.src
    if product.op is not Op.EINSUM or len(product.src) != 2:
        return False
    (xl, yl), output = product.arg.inputs, product.arg.output
    interleaved = tuple(ix for pair in zip(xl, yl) for ix in pair)
    return (len(xl) == len(yl) == len(node.shape) and tuple(output) == interleaved
            and len(set(interleaved)) == len(interleaved)
            and node.shape == tuple(p * q for p, q in zip(product.shape[::2],
                                                          product.shape[1::2])))


RESHAPE = register_op(OpDef(Op.RESHAPE, ReshapeArgs, abstract, lower, describe, draw))
