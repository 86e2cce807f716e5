"""einsum errors: malformed subscripts and size clashes raise from the ``le.einsum`` call itself.

Errors must be raised by the ``le.einsum(...)`` call itself (at build time), never later, and
each case must really be an error in numpy too.
"""

import re

import numpy as np
import pytest

import lazyein as le
from _einsum_cases import E


# ========================================================================== errors
def _o(*shape):
    return np.ones(shape)


# (id, args) -- must raise le.SubscriptError from le.einsum(*args) itself. numpy's limits
# that lazyein lifts (non-ASCII letters, sublist labels past 51) are not errors: test_networks
SUBSCRIPT_ERRORS = [
    # invalid characters
    ("bad-char-%", ("i%...", _o(2, 2)), "%"),
    ("bad-char-$", ("...j$", _o(2, 2)), re.escape("$")),
    ("bad-char-&-output", ("i->&", _o(2)), "&"),
    ("digit", ("i1", _o(2, 2)), "1"),
    ("bad-char->", ("i>j", _o(2, 2)), None),
    ("tab", ("\ti j", _o(2, 2)), None),
    ("comma-in-output", ("ij->i,j", _o(2, 2)), None),
    # arrows
    ("arrow-twice", ("i->i->i", _o(2)), None),
    ("arrow-twice-empty", ("ij->->", _o(2, 2)), None),
    ("dangling-dash", ("ij-", _o(2, 2)), None),
    ("output-double-gt", ("ij->>", _o(2, 2)), None),
    # '.' that is not part of '...'
    ("two-dots", ("i..", _o(2, 2)), None),
    ("dot-then-ellipsis", (".i...", _o(2, 2)), None),
    ("two-dots-output", ("j->..j", _o(2)), None),
    ("dot-output", ("j->.j...", _o(2)), None),
    ("four-dots", ("....i", _o(2, 2)), None),
    ("two-ellipses-input", ("i...i...", _o(2, 2)), None),
    ("two-ellipses-output", ("i->...i...", _o(2)), None),
    ("spaced-dots", (". ..", _o(2, 2)), None),
    # output labels
    ("output-repeated", ("ij->jij", _o(2, 2)), "j"),
    ("output-repeated-ii", ("ij->ii", _o(2, 2)), "i"),
    ("output-not-in-input", ("i->ij", _o(2)), "j"),
    ("output-not-in-input-z", ("ij,jk->iz", _o(2, 2), _o(2, 2)), "z"),
    ("output-not-in-input-case", ("ij->iJ", _o(2, 2)), "J"),
    ("output-for-scalar", ("->i", np.array(0.0)), "i"),
    # operand counts
    ("too-many-operands", ("i", _o(2), _o(2)), None),
    ("too-many-operands-empty", ("", np.array(0.0), np.array(0.0)), None),
    ("too-many-operands-comma", (",", 0.0, 0.0, 0.0), None),
    ("too-few-operands", ("i,j", _o(2)), None),
    ("too-few-operands-3", ("ij,jk,kl", _o(2, 2), _o(2, 2)), None),
    ("too-few-operands-comma", (",", 0.0), None),
    ("no-operands", ("ij",), None),
    ("no-operands-empty", ("",), None),
    # subscripts vs operand dimensions
    ("too-many-subscripts-0d", ("i", np.array(0.0)), None),
    ("too-many-subscripts-1d", ("ij", _o(2)), None),
    ("too-many-subscripts-ellipsis-0d", ("...i", np.array(0.0)), None),
    ("too-many-subscripts-mid-ellipsis", ("i...j", _o(2)), None),
    ("too-many-subscripts-trailing-ellipsis", ("i...", np.array(0.0)), None),
    ("too-many-subscripts-ij...", ("ij...", _o(2)), None),
    ("too-many-subscripts-operand-1", ("ij,jk", _o(2, 2), _o(2)), "1"),
    ("too-few-subscripts", ("i", _o(2, 3)), None),
    ("too-few-subscripts-explicit", ("i->i", _o(2, 2)), None),
    ("too-few-subscripts-3d", ("ij->ij", _o(1, 2, 3)), None),
    ("too-few-subscripts-operand-1", ("ij,j->i", _o(2, 2), _o(2, 2)), "1"),
    ("too-few-subscripts-empty", ("->", _o(2)), None),
    # interleaved form
    ("sublist-label-negative", (_o(2, 3), [-1, 5], _o(3, 4), [5, 2], [-1, 2]), None),
    ("sublist-output-repeated", (_o(2, 3), [0, 1], _o(3, 4), [1, 2], [0, 0]), None),
    ("sublist-output-not-in-input", (_o(2, 3), [0, 1], _o(3, 4), [1, 2], [0, 5]), None),
    ("sublist-too-many-subscripts", (_o(2, 3), [0, 1, 2]), None),
    ("sublist-too-few-subscripts", (_o(2, 3), [0]), None),
    ("sublist-two-ellipses", (_o(2, 3), [E, 0, E]), None),
]


@pytest.mark.parametrize("name,args,match", SUBSCRIPT_ERRORS,
                         ids=[c[0] for c in SUBSCRIPT_ERRORS])
def test_subscript_errors(name, args, match):
    with pytest.raises(ValueError):  # the case really is an error in numpy
        np.einsum(*args)
    with pytest.raises(le.SubscriptError, match=match):
        le.einsum(*args)


def test_subscript_error_class_hierarchy():
    assert issubclass(le.SubscriptError, le.LazyeinError)
    assert issubclass(le.SubscriptError, ValueError)
    assert issubclass(le.ShapeError, le.LazyeinError)
    assert issubclass(le.ShapeError, ValueError)


def test_no_arguments_at_all():
    with pytest.raises(ValueError):
        np.einsum()
    with pytest.raises(le.SubscriptError):
        le.einsum()


# label size clashes: SubscriptError or ShapeError, at build time
SIZE_ERRORS = [
    ("trace-non-square", ("ii", np.arange(6.0).reshape(2, 3)), r"\bi\b"),
    ("diag-non-square", ("ii->i", np.arange(6.0).reshape(2, 3)), r"\bi\b"),
    ("repeated-size-one-does-not-broadcast", ("ii", _o(1, 3)), r"\bi\b"),
    ("gh-11221-label-b", ("aabcb,abc", _o(3, 3, 4, 5, 6), _o(3, 4, 5)), r"\bb\b"),
    ("matmul-clash", ("ij,jk", _o(2, 3), _o(2, 3)), r"\bj\b"),
    ("dot-clash", ("i,i", _o(2), _o(3)), r"\bi\b"),
    ("chain-clash", ("ij,jk,kl->il", _o(2, 3), _o(3, 4), _o(5, 6)), r"\bk\b"),
    ("hadamard-clash", ("ij,ij", _o(2, 3), _o(3, 2)), None),
    ("uppercase-clash", ("aB,Bc->ac", _o(2, 3), _o(4, 2)), r"\bB\b"),
    ("ellipsis-broadcast-clash", ("...,...", _o(2), _o(3)), None),
    ("ellipsis-broadcast-clash-2", ("...i,...i", _o(2, 3), _o(4, 3)), None),
    ("sublist-trace-clash", (np.ones((2, 3)), [0, 0]), None),
    ("sublist-matmul-clash", (_o(2, 3), [0, 1], _o(2, 3), [1, 2]), None),
]


@pytest.mark.parametrize("name,args,match", SIZE_ERRORS, ids=[c[0] for c in SIZE_ERRORS])
def test_size_clash_errors(name, args, match):
    with pytest.raises(ValueError):  # the case really is an error in numpy
        np.einsum(*args)
    with pytest.raises((le.SubscriptError, le.ShapeError), match=match):
        le.einsum(*args)


# numpy raises TypeError for these; the contract's SubscriptError is accepted as well
TYPE_ERRORS = [
    ("sublist-string-label", (_o(2, 3), ["a", "b"])),
    ("sublist-float-label", (_o(2, 3), [0.0, 1])),
    ("sublist-not-a-list", (_o(2, 3), 0)),
    ("subscripts-not-a-string", (0, 0)),
]


@pytest.mark.parametrize("name,args", TYPE_ERRORS, ids=[c[0] for c in TYPE_ERRORS])
def test_malformed_sublist_types(name, args):
    with pytest.raises(TypeError):
        np.einsum(*args)
    with pytest.raises((TypeError, le.SubscriptError)):
        le.einsum(*args)


def test_errors_are_raised_before_compute_even_for_lazy_operands():
    # the shapes of lazy operands are known, so errors surface at build time
    la = le.lazy(np.ones((2, 3)))
    lb = le.lazy(np.ones((2, 3)))
    with pytest.raises((le.SubscriptError, le.ShapeError)):
        le.einsum("ij,jk->ik", la, lb)
    with pytest.raises(le.SubscriptError):
        le.einsum("ijk->ij", la)
    with pytest.raises(le.SubscriptError):
        le.einsum("ij->ik", la)
    inner = le.einsum("ij,kj->ik", la, lb)     # (2, 2), valid
    with pytest.raises((le.SubscriptError, le.ShapeError)):
        le.einsum("ij,j->i", inner, np.ones(3))
