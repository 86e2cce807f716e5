"""Op definitions: every op's rules in one place, typed args, and printing and drawing read
from the registry, so that a new op needs only its definition."""

import dataclasses
import enum
import html
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import lazyein as le
from lazyein import caches, ops, viz
from lazyein.ir import Leaf, Node, Op, toposort
from lazyein.ops import DEFINITIONS, EyeArgs, OpDef, ReshapeArgs, describe_fields, draw_fields
from lazyein.printing import describe_op, pformat

ROOT = Path(__file__).resolve().parents[1]

X = np.arange(6.0).reshape(2, 3)
Y = np.arange(12.0).reshape(3, 4)


def samples() -> dict[Op, tuple[le.LazyTensor, str, str]]:
    """Per op, a tensor whose root has that op, its description and its drawing's title."""
    x, y = le.lazy(X, name="x"), le.lazy(Y, name="y")
    return {
        Op.LEAF: (x, "input 'x'", "x"),
        Op.EYE: (le.eye(2, 3, k=1), "eye[2,3,k=1]", "eye N=2 M=3 k=1"),
        Op.EINSUM: (x @ y, "einsum[ab,bc->ac]", "einsum ab,bc->ac"),
        Op.ADD: (x + x, "add", "+"),
        Op.SCALE: (2 * x, "scale[2]", "× 2"),
        Op.RESHAPE: (x.reshape(3, 2), "reshape[3,2]", "reshape"),
        Op.PAD: (le.pad(x, ((1, 1), (0, 0)), constant_values=5), "pad[1:1 0:0, 5.0]",
                 "pad 1:1, 0:0 with 5.0"),
        Op.CONCAT: (le.concatenate([x, x]), "concat[axis=0]", "concat axis=0"),
        Op.FULL: (le.full((2, 3), 0.5), "full[2,3,0.5]", "full 0.5 (2, 3)"),
        Op.DIAG: (le.diag(np.arange(3.0), k=1), "diag[k=1]", "diag k=1"),
        Op.ELEMENTWISE: (x.astype(np.float32), "astype[float32]", "astype float32"),
        Op.INDEX: (x[1:, ::-1, None], "index[1:2,2::-1,None]", "[1:2, 2::-1, None]"),
    }


def titles(node: Node) -> list[str]:
    """The bold titles of the expression drawing's vertices, in DAG order."""
    graph = viz.expression_graph(node)
    return [html.unescape(graph.nodes[v]["label"].split("<B>")[1].split("</B>")[0])
            for v in graph.nodes]


def test_every_op_has_a_definition_with_each_rule():
    assert set(Op) <= set(DEFINITIONS)
    for op in Op:
        definition = DEFINITIONS[op]
        assert isinstance(definition, OpDef) and definition.op is op
        assert isinstance(definition.args, type)
        for rule in (definition.abstract, definition.lower, definition.describe,
                     definition.draw):
            assert callable(rule), (op, rule)
    assert DEFINITIONS[Op.LEAF].args is Leaf
    # ADD and SCALE are the sums lowered as one tree
    assert {op for op in Op if DEFINITIONS[op].sum_scale is not None} == {Op.ADD, Op.SCALE}


def test_args_are_named_tuples_whose_fields_the_generic_printer_shows():
    for op, (t, _, _) in samples().items():
        args = DEFINITIONS[op].args
        assert isinstance(t.node.arg, args)
        if op is Op.LEAF:
            continue
        assert issubclass(args, tuple) and hasattr(args, "_fields"), args
        described, title = describe_fields(t.node), draw_fields(t.node).title
        assert described.startswith(op.value) and title.startswith(op.value)
        for name in args._fields:
            assert f"{name}=" in described and f"{name}=" in title, (name, described, title)
    assert describe_fields(le.pad(X, 1).node) == \
        "pad[widths=((1, 1), (1, 1)),constants=((0.0, 0.0), (0.0, 0.0))]"
    assert describe_fields((le.lazy(X) + 1).node) == "add"  # an op without arguments


@pytest.mark.parametrize("op", list(Op), ids=lambda op: op.value)
def test_each_op_prints_and_draws_through_its_definition(op, monkeypatch):
    t, described, title = samples()[op]
    assert describe_op(t.node) == described
    assert title in titles(t.node)
    assert f" = {described}" in pformat(t.node) or op is Op.LEAF
    # replacing the definition's printing changes what is printed and drawn
    mine = dataclasses.replace(DEFINITIONS[op], describe=lambda node: "mine",
                               draw=lambda node: ops.Drawing("drawn"))
    monkeypatch.setitem(DEFINITIONS, op, mine)
    assert describe_op(t.node) == "mine" and "drawn" in titles(t.node)


def test_ops_that_do_not_customise_print_generically():
    for op in (Op.ADD, Op.CONCAT):
        assert DEFINITIONS[op].describe is describe_fields
    x = le.lazy(X, name="x")
    assert "stack axis=0" in titles(le.stack([x, x]).node)  # concat draws stacks its own way
    assert "kron: reshape" in titles(le.kron(le.eye(2), x).node)


def test_a_node_takes_its_ops_args_type_only():
    with pytest.raises(AssertionError, match="EyeArgs"):
        Node(Op.EYE, arg=(2, 2, 0, np.dtype(float)))
    assert Node(Op.EYE, arg=EyeArgs(2, 2, 0, np.dtype(float))) is le.eye(2).node


def test_a_node_with_every_op_unpickles_in_a_fresh_process():
    x = le.lazy(X, name="x")
    row = le.pad(2 * x + le.eye(2, 3), ((0, 1), (0, 0))).reshape(1, 9) @ np.ones((9, 4))
    more = le.diag(np.arange(2.0), k=2)
    t = le.concatenate([row, le.eye(2, 4, k=1)[:, ::-1],
                        more.astype(np.float32) + le.ones((4, 4))], axis=0)
    assert {n.op for n in toposort(t.node)} == set(Op)
    script = ("import pickle, sys; import numpy as np; node = pickle.load(sys.stdin.buffer); "
              "from lazyein.ir import Node; from lazyein.printing import pformat; "
              "import lazyein as le; print(pformat(node)); "
              "np.save(sys.stdout.buffer, le.LazyTensor(node).compute())")
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(t.node),
                          capture_output=True, env=env, cwd=ROOT, check=True)
    text, _, data = done.stdout.partition(b"}\n")
    assert text.decode() + "}" == pformat(t.node)
    np.testing.assert_allclose(np.load(io.BytesIO(data)), t.compute())


# -- an op defined here only ------------------------------------------------------------------

class ToyOp(enum.Enum):
    NEGATE = "negate"  # -a in a given dtype
    COPY = "copy"  # a itself, its shape as the argument


class NegateArgs(NamedTuple):
    dtype: np.dtype


class CopyArgs(NamedTuple):
    shape: tuple[int, ...]


def _negate_shape(src, arg: NegateArgs):
    (a,) = src
    return a.shape, arg.dtype


def _negate_lower(session, node: Node):
    """-a: its operand's terms, each negated (a scale by -1)."""
    return [t._replace(coeff=-t.coeff) for t in session.operand(node.src[0], node)]


@pytest.fixture
def toy_ops():
    """NEGATE and COPY registered with no printing code, and unregistered after the test."""
    ops.register_op(OpDef(ToyOp.NEGATE, NegateArgs, _negate_shape, _negate_lower))
    ops.register_op(OpDef(ToyOp.COPY, CopyArgs, lambda src, arg: (arg.shape, src[0].dtype),
                          lambda session, node: session.operand(node.src[0], node)))
    yield
    caches.clear()  # no plan of a toy node stays behind
    for op in ToyOp:
        del DEFINITIONS[op]


def test_an_op_defined_only_here_prints_draws_and_computes(toy_ops):
    x = le.lazy(X, name="x")
    negated = Node(ToyOp.NEGATE, (x.node,), NegateArgs(np.dtype(np.float64)))
    assert describe_op(negated) == "negate[dtype=float64]"
    assert "negate[dtype=float64] x" in pformat(negated)
    assert "negate dtype=float64" in titles(negated)
    assert "dtype=float64" in viz.expression_dot(negated)
    y = le.lazy(Y, name="y")
    t = le.LazyTensor(negated) @ y + x @ y
    np.testing.assert_allclose(t.compute(), np.zeros((2, 4)))  # exactly -x @ y + x @ y
    assert t.explain().num_terms == 0  # merged as equal terms of opposite signs
    np.testing.assert_array_equal(le.LazyTensor(negated).compute(), -X)
    assert "negate[dtype=float64]" in repr(le.LazyTensor(negated))


def test_equal_looking_args_of_two_ops_are_two_nodes(toy_ops):
    x = le.lazy(X).node
    reshaped, copied = Node(Op.RESHAPE, (x,), ReshapeArgs((2, 3))), \
        Node(ToyOp.COPY, (x,), CopyArgs((2, 3)))
    assert ReshapeArgs((2, 3)) == CopyArgs((2, 3))  # NamedTuples compare as tuples
    assert reshaped is not copied and reshaped.op is Op.RESHAPE and copied.op is ToyOp.COPY
    assert describe_op(copied) == "copy[shape=(2, 3)]"
    np.testing.assert_array_equal(le.LazyTensor(copied).compute(), X)
