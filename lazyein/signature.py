"""What a plan depends on, found for each node as it is built (DESIGN.md, "Reuse").

A plan depends on a DAG's structure, not its data: ops, arguments, shapes, dtypes, the
strides of its inputs, and which inputs are the same array. A node's *signature* names all
of that up to its inputs, which it lists apart (in the order a walk of the DAG first meets
them, the order plans number their inputs): two nodes of one signature have one plan, each
over its own inputs.

A node's signature is made from its sources' (each source's structure, and where its
inputs sit among the node's) when the node is built, and kept on it: a new expression over
a built operator (``(op @ v).compute()`` in a loop) is recognized at the cost of its new
nodes, never by a walk of the operator's thousands, and finding it allocates nothing
while `compute` runs (where it would count against `max_bytes`). A node over too many
distinct inputs has no signature (a sum of 100,000 arrays would make each node list all
those below it): such a DAG is keyed by a walk instead (see `runtime`).
"""

from __future__ import annotations

import itertools

__all__ = ["signature", "signature_of", "roots_signature", "MAX_INPUTS"]

# A node over more distinct inputs than this has no signature: listing them at every node
# of a long sum of arrays would cost the square of its length
MAX_INPUTS = 64


def signature(node) -> tuple[int, tuple] | None:
    """``(structure, inputs)`` of `node` (an `ir.Node`): the number of its structure, and
    its leaf nodes in order of first appearance; None over more than `MAX_INPUTS` inputs."""
    structure = node.structure
    if structure is None:
        return None
    inputs = node.inputs
    return structure, (node,) if inputs is None else inputs


def signature_of(node) -> tuple[int | None, tuple | None]:
    """What `node` keeps (`ir.Node.structure` and `.inputs`), made from its sources' when
    it is built: a leaf's inputs are None (it lists itself, which it cannot hold without a
    cycle); a node over too many inputs has no structure."""
    if not node.src and node.op.value == "leaf":
        leaf = node.arg
        # strides decide which reshapes copy (part of the memory estimate); names appear in
        # explain()'s report; a Python scalar's value is read from its array, as any input's
        return _number(("leaf", node.shape, node.dtype.str, leaf.array.strides, leaf.weak,
                        leaf.name)), None
    parts = [signature(s) for s in node.src]
    if None in parts:
        return None, None
    if len(parts) == 1:  # its inputs are its source's, in the same order
        (structure, inputs), = parts
        return _number((node.op.value, node.arg, structure)), inputs
    inputs, sources = _joined(parts)
    if inputs is None:
        return None, None
    return _number((node.op.value, node.arg, sources)), inputs


def roots_signature(roots) -> tuple[tuple, tuple] | None:
    """The key and inputs of several roots computed together (as a node's are made from its
    sources'); None if any root has no signature or they have too many inputs."""
    parts = [signature(r) for r in roots]
    if None in parts:
        return None
    inputs, key = _joined(parts)
    return None if inputs is None else (key, inputs)


def _joined(parts) -> tuple[tuple | None, tuple]:
    """The inputs of several signatures, each once in order of first appearance, and per
    signature ``(structure, where its inputs are among them)``; (None, ()) past MAX_INPUTS."""
    slot: dict = {}
    joined = []
    for structure, inputs in parts:
        where = tuple([slot.setdefault(leaf, len(slot)) for leaf in inputs])
        joined.append((structure, where))
    if len(slot) > MAX_INPUTS:
        return None, ()
    return tuple(slot), tuple(joined)


def _number(description: tuple) -> int:
    """The number of `description`: one for equal descriptions while the table holds it.
    Numbers are never reused, so when the table starts afresh (past `MAX_STRUCTURES`) a
    structure forgotten gets a new number: equal DAGs built far apart may miss each other's
    plans, but two structures never share one. (Plain ints, not objects: the cycle
    collector skips a table of tuples of ints, and it scans what building a DAG makes.)"""
    if (hit := _NUMBERS.get(description)) is None:
        if len(_NUMBERS) >= MAX_STRUCTURES:
            _NUMBERS.clear()
        hit = _NUMBERS[description] = next(_COUNTER)
    return hit


_NUMBERS: dict = {}
_COUNTER = itertools.count()
MAX_STRUCTURES = 1 << 16
