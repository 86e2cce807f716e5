"""Reshapes as index arithmetic: labels split, axes regrouped, views where they exist."""

import numpy as np
import pytest

from lazyein.ir import Leaf, Node, Op
from lazyein.regroup import NoView, reshaped, split_label
from lazyein.sop import Axis, Factor, Sub, Term, full_axis


def _dense(shape):
    node = Node(Op.LEAF, arg=Leaf(np.ones(shape)))
    axes = tuple(full_axis(ix, n) for ix, n in enumerate(shape))
    return Term(1, (Factor(node, axes),), axes, dict(enumerate(shape)), node.dtype)


def _counter(start=100):
    labels = iter(range(start, 10**6))
    return lambda: next(labels)


def test_merging_axes_gathers_their_labels_on_one_axis():
    term = reshaped(_dense((4, 6)), (4, 6), (24,), _counter())
    (ax,) = term.out
    assert [(s.label, s.dim) for s in ax.subs] == [(0, 4), (1, 6)]
    assert term.factors[0].axes == (full_axis(0, 4), full_axis(1, 6))  # the input untouched


def test_splitting_an_axis_splits_its_label_in_the_factor_too():
    term = reshaped(_dense((6,)), (6,), (2, 3), _counter())
    first, second = term.out
    (factor_axis,) = term.factors[0].axes
    assert factor_axis.subs == (*first.subs, *second.subs)  # the input viewed as 2 x 3
    assert [term.sizes[s.label] for s in factor_axis.subs] == [2, 3]


def test_a_padded_axis_regrouped_across_its_padding_has_no_view():
    # (2, 3) padded to (2, 4), then read as (4, 2): rows of 2 cut the padded range
    padded = Term(1, (), (full_axis(0, 2), Axis(0, (Sub(1, 4, 0),))), {0: 2, 1: 3})
    with pytest.raises(NoView):
        reshaped(padded, (2, 4), (4, 2), _counter())


def test_a_label_over_part_of_its_range_splits_in_whole_blocks_only():
    term = Term(1, (), (Axis(0, (Sub(0, 6, 2),)),), {0: 4})  # [2, 6) of 6
    with pytest.raises(NoView):
        split_label(term, 0, (2, 3), _counter())  # blocks of 3 start at 0 and 3: not 2
    whole = Term(1, (), (Axis(0, (Sub(0, 6, 3),)),), {0: 3})  # [3, 6): the second block
    (ax,) = split_label(whole, 0, (2, 3), _counter()).out
    assert [(s.dim, s.offset) for s in ax.subs] == [(2, 1), (3, 0)]
