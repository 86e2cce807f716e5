"""One product of an einsum: operands' terms tied into one term by index arithmetic."""

import numpy as np
import pytest

from lazyein.ir import Leaf, Node, Op
from lazyein.ops import EinsumArgs, EyeArgs
from lazyein.product import NeedsDense, combine
from lazyein.sop import Axis, Factor, Sub, Term, full_axis


def _leaf(*shape):
    return Node(Op.LEAF, arg=Leaf(np.ones(shape)))


def _dense(node, labels):
    axes = tuple(full_axis(ix, n) for ix, n in zip(labels, node.shape))
    return Term(1, (Factor(node, axes),), axes, dict(zip(labels, node.shape)), node.dtype)


def _counter(start=100):
    labels = iter(range(start, 10**6))
    return lambda: next(labels)


def _matmul(a, b):
    return Node(Op.EINSUM, (a, b), EinsumArgs(((0, 1), (1, 2)), (0, 2)))


def test_a_matrix_product_ties_the_inner_letter_and_sums_it():
    a, b = _leaf(2, 3), _leaf(3, 4)
    term = combine(_matmul(a, b), [_dense(a, (0, 1)), _dense(b, (2, 3))], _counter())
    (fa, fb) = term.factors
    inner_a, inner_b = fa.axes[1].subs[0].label, fb.axes[0].subs[0].label
    assert inner_a == inner_b  # tied: one label, summed (it is on no output axis)
    out = {s.label for ax in term.out for s in ax.subs}
    assert inner_a not in out and len(out) == 2 and term.coeff == 1


def test_offset_diagonals_that_never_meet_are_an_exact_zero():
    # einsum('ab,ab->a', eye(3, k=1), eye(3, k=-1)): b = a + 1 and b = a - 1 at once
    eye_up = Node(Op.EYE, arg=EyeArgs(3, 3, 1, np.dtype(float)))
    eye_down = Node(Op.EYE, arg=EyeArgs(3, 3, -1, np.dtype(float)))
    node = Node(Op.EINSUM, (eye_up, eye_down), EinsumArgs(((0, 1), (0, 1)), (0,)))
    up = Term(1, (), (Axis(0, (Sub(0, 3, 0),)), Axis(0, (Sub(0, 3, 1),))), {0: 2})
    down = Term(1, (), (Axis(0, (Sub(1, 3, 1),)), Axis(0, (Sub(1, 3, 0),))), {1: 2})
    assert combine(node, [up, down], _counter()) is None


def test_a_summed_label_that_indexes_nothing_counts_its_range():
    # sum over i of eye(4)[i, i]: no factor, the coefficient is the trace, 4
    eye = Node(Op.EYE, arg=EyeArgs(4, 4, 0, np.dtype(float)))
    node = Node(Op.EINSUM, (eye,), EinsumArgs(((0, 0),), ()))
    term = combine(node, [Term(1, (), (full_axis(0, 4), full_axis(0, 4)), {0: 4})], _counter())
    assert term.factors == () and term.out == () and term.coeff == 4


def test_a_window_against_a_split_axis_asks_for_the_operand_computed():
    a, b = _leaf(2, 6), _leaf(6, 3)
    window = Axis(0, (Sub(0, 2, 0), Sub(1, 5, 0)), (1, 1))  # x = u + a over 6
    split = Axis(0, (Sub(2, 2, 0), Sub(3, 3, 0)))  # 6 as 2 x 3
    wa = Term(1, (), (full_axis(4, 2), window), {0: 2, 1: 5, 4: 2})
    sb = Term(1, (Factor(b, (split, full_axis(5, 3))),), (split, full_axis(5, 3)),
              {2: 2, 3: 3, 5: 3})
    with pytest.raises(NeedsDense) as raised:
        combine(_matmul(a, b), [wa, sb], _counter())
    assert raised.value.operand == 1
