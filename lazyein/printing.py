"""pformat(): a jaxpr-style text listing of an expression DAG, shared nodes printed once."""

from __future__ import annotations

from .ir import Node, Op, definition, toposort

__all__ = ["pformat", "describe_op", "letters", "format_bytes"]

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def letters(labels) -> str:
    """Labels numbered 0, 1, ... as the letters a-z, A-Z while they last, then as their
    numbers in brackets: readable in any font, and never two labels alike.

    >>> letters([0, 27, 52])
    'aB[52]'
    """
    return "".join(_ALPHABET[ix] if ix < len(_ALPHABET) else f"[{ix}]" for ix in labels)


def format_bytes(n: float) -> str:
    """A byte count in B, KiB, MiB or GiB.

    >>> format_bytes(512), format_bytes(3 * 2**20)
    ('512 B', '3.0 MiB')
    """
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def describe_op(node: Node) -> str:
    """A short readable name of `node`'s operation and arguments, as its op defines it
    (`ops.OpDef.describe`; by default its name and its args' fields)."""
    return definition(node.op).describe(node)


def _type(node: Node) -> str:
    return f"{node.dtype.name}[{','.join(map(str, node.shape))}]"


def pformat(root: Node) -> str:
    """Render the DAG under `root` as let-bindings, one line per node.

    >>> import numpy as np
    >>> from lazyein.ir import Leaf
    >>> from lazyein.ops import AddArgs
    >>> a = Node(Op.LEAF, arg=Leaf(np.ones((2, 3)), "A"))
    >>> print(pformat(Node(Op.ADD, (a, a), AddArgs())))
    { lambda A:float64[2,3] .
      let a:float64[2,3] = add A A
      in a }
    """
    names, params, lines = {}, [], []
    for node in toposort(root):
        if node.op is Op.LEAF and not node.arg.weak:
            names[node] = node.arg.name or f"in{len(params)}"
            params.append(f"{names[node]}:{_type(node)}")
            continue
        if node.op is Op.LEAF:
            names[node] = repr(node.arg.array.item())
            continue
        names[node] = letters([len(lines)]) if len(lines) < len(_ALPHABET) else f"v{len(lines)}"
        args = " ".join(names[s] for s in node.src)
        lines.append(f"{names[node]}:{_type(node)} = {describe_op(node)} {args}".rstrip())
    body = "\n      ".join(lines) if lines else "()"
    return f"{{ lambda {' '.join(params)} .\n  let {body}\n  in {names[root]} }}"
