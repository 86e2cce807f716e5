"""An op's definition (`OpDef`), the registry of them, and the generic printing and drawing."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:  # the rules take these; importing them here would be a cycle
    from ..ir import Node
    from ..lower import Lowering
    from ..sop import Term

__all__ = ["OpDef", "Drawing", "DEFINITIONS", "register_op", "get_op", "describe_fields",
           "draw_fields", "show"]


class Drawing(NamedTuple):
    """How a node is drawn in the expression DAG's DOT (`viz.expression_graph`).

    `title` is the vertex's bold line (None for an input: numbered as the plan numbers
    inputs). `kind` picks the style and the default smaller lines, the node's type and:
    "operation", its size if built (the root is styled as the result); "input", its size;
    "structured", that it is index arithmetic, never built. `details` replace those lines.
    `operands` label the edges in, one per operand; None numbers them where there are two
    or more."""

    title: str | None
    details: tuple[str, ...] | None = None
    kind: str = "operation"
    operands: tuple[str, ...] | None = None


def show(value) -> str:
    """A field's value as printing and drawing show it: dtypes by name, tuples of values.

    >>> show(((1, 2), np.dtype("float32"), 0.5))
    '((1, 2), float32, 0.5)'
    """
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, tuple):
        return f"({', '.join(map(show, value))}{',' if len(value) == 1 else ''})"
    return repr(value)


def describe_fields(node: Node) -> str:
    """The generic short description: the op's name and its args' fields, ``name[f=v,...]``
    (just the name for an op without arguments)."""
    fields = ",".join(f"{name}={show(value)}" for name, value in node.arg._asdict().items())
    return f"{node.op.value}[{fields}]" if fields else node.op.value


def draw_fields(node: Node) -> Drawing:
    """The generic drawing: titled with the op's name and its args' fields."""
    fields = ", ".join(f"{name}={show(value)}" for name, value in node.arg._asdict().items())
    return Drawing(f"{node.op.value} {fields}" if fields else node.op.value)


@dataclass(frozen=True)
class OpDef:
    """Everything about one op, in one place (as jax's ``Primitive`` with its ``def_impl``
    and ``def_abstract_eval``).

    Attributes:
        op: the op, a member of `ir.Op` (or of a test's own enum).
        args: the type of the node's `arg`: a NamedTuple of the op's arguments, read by
            field name (LEAF's is `ir.Leaf`).
        abstract: ``(src, arg) -> (shape, dtype)``, the node's shape and dtype; it asserts
            what api.py has validated already.
        lower: ``(session, node) -> list[Term]``, the terms whose sum is the node's value,
            by index arithmetic over its operands' terms, read through the `lower.Lowering`
            session's public helpers (`operand`, `fresh`, `dense`, `renamed`, ...).
        describe: ``node -> str``, a short readable name of the operation and arguments
            (pformat, reprs, explain()); by default the fields, `describe_fields`.
        draw: ``node -> Drawing``, its vertex in the expression DAG's DOT; by default the
            fields, `draw_fields`.
        sum_scale: only for an op whose value is the sum of its operands times a scalar
            (ADD, SCALE): ``node -> scalar or None`` (None for 1). A tree of such ops is
            lowered at once, by the rule at its top (see `ops.add.lower_sum`).
    """

    op: enum.Enum
    args: type
    abstract: Callable[[tuple, Any], tuple[tuple[int, ...], Any]]
    lower: Callable[[Lowering, Node], list[Term]]
    describe: Callable[[Node], str] = describe_fields
    draw: Callable[[Node], Drawing] = draw_fields
    sum_scale: Callable[[Node], Any] | None = None


# every op's definition, by op: filled as lazyein.ops imports each op's module
DEFINITIONS: dict[enum.Enum, OpDef] = {}


def register_op(definition: OpDef) -> OpDef:
    """Make `definition` the rules of its op (replacing any before)."""
    assert isinstance(definition.op, enum.Enum), definition
    DEFINITIONS[definition.op] = definition
    return definition


def get_op(op) -> OpDef:
    """The definition of `op`."""
    found = DEFINITIONS.get(op)
    assert found is not None, f"{op} has no definition: register an OpDef with register_op"
    return found
