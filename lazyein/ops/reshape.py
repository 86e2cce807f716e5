"""RESHAPE: a C-order reshape, lowered as labels split into parts and axes that gather labels."""

from __future__ import annotations

import math
from typing import NamedTuple

from ..ir import Node, Op
from ..regroup import NoView, reshaped
from ..sop import Axis, Term
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
    terms = session.operand(src, node)
    if (ones := _ones_only(src.shape, node.shape)) is not None:
        moved = [_ones_moved(t, ones) for t in terms]
        if None not in moved:
            return moved
    try:
        return [reshaped(t, src.shape, node.shape, session.fresh) for t in terms]
    except NoView:
        session.why_dense[node] = "no split or merge of labels expresses this reshape"
        session.ask(src)  # numpy reshapes `src` computed: the planner lowers it again
        return session.dense(node)


def _ones_only(shape, target) -> tuple[tuple[bool, ...], tuple[bool, ...]] | None:
    """Does the reshape only add or drop length-1 axes (`le.stack` gives each operand a
    new one)? Then per axis of `shape` and of `target`, whether it is such an axis
    (a length-1 axis is kept or dropped alike); None if it does more."""
    if [d for d in shape if d != 1] != [d for d in target if d != 1]:
        return None
    return tuple(d == 1 for d in shape), tuple(d == 1 for d in target)


def _ones_moved(term: Term, ones) -> Term | None:
    """`term` with its length-1 output axes (index 0, no label) dropped and new ones put
    where `ones` says: the common reshape of a stack, without regrouping labels; None if a
    length-1 axis is indexed otherwise (a label of size 1: the general rule places it)."""
    dropped, added = ones
    if any(one and ax != _POINT for ax, one in zip(term.out, dropped)):
        return None
    kept = iter([ax for ax, one in zip(term.out, dropped) if not one])
    return term._replace(out=tuple(_POINT if one else next(kept) for one in added))


_POINT = Axis(0, ())  # a length-1 axis: index 0


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
