"""LEAF: an input array (its arg is the `ir.Leaf` that wraps it)."""

from __future__ import annotations

from ..ir import Leaf, Node, Op
from .base import Drawing, OpDef, register_op

__all__ = ["LEAF"]


def abstract(src, leaf: Leaf):
    return leaf.array.shape, leaf.array.dtype


def lower(session, node: Node):
    """An input is one factor viewing all of it."""
    return session.dense(node)


def describe(node: Node) -> str:
    kind = "placeholder" if node.arg.placeholder else "input"
    return kind if node.arg.name is None else f"{kind} {node.arg.name!r}"


def draw(node: Node) -> Drawing:
    if node.arg.weak:
        return Drawing(repr(node.arg.array.item()), ("Python scalar",), "input")
    # unnamed (or named ""): numbered as the plan and the printer number inputs
    return Drawing(node.arg.name or None, kind="input")


LEAF = register_op(OpDef(Op.LEAF, Leaf, abstract, lower, describe, draw))
