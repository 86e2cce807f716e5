"""einsum grammar conformance: ``le.einsum`` must give numpy's ``np.einsum`` answer.

The cases follow what numpy's own einsum test suite (``numpy/_core/tests/test_einsum.py``)
covers for the subscript forms -- explicit and implicit output, ``...`` broadcasting, repeated
labels, size-1 broadcasting, the interleaved (sublist) form and spaces, also over lazy operands
and as random subscripts -- rewritten as comparisons against numpy.  Dtypes, zero-size axes,
scalar and other operands and long operand chains are in tests/test_einsum_operands.py,
malformed subscripts in tests/test_einsum_errors.py, the shared ``check`` in
tests/_einsum_cases.py.

Every value check builds ``t = le.einsum(*args)`` and compares ``t.compute()`` and
``np.asarray(t)`` with ``np.einsum(*args)`` on copies of the same inputs: values, shape and
dtype (the result dtype must equal numpy's).  It also checks that ``t.shape``/``t.dtype`` are
numpy's and that no input (array or sublist) was modified.
"""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyein as le
from _einsum_cases import E, _ids, check, check_subs, make, operands_for, verify

# ------------------------------------------------------------------- explicit output
EXPLICIT = [
    ("ij->ij", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("ijk->jik", [(2, 3, 4)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("ij->", [(2, 3)]),
    ("ij->i", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ijk->j", [(2, 3, 4)]),
    ("ijk->ki", [(2, 3, 4)]),
    ("i->", [(5,)]),
    ("i->i", [(5,)]),
    ("->", [()]),
    ("i,i->", [(4,), (4,)]),
    ("i,i->i", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j->ji", [(3,), (4,)]),
    ("i,j->", [(3,), (4,)]),
    ("i,j->i", [(3,), (4,)]),
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("ij,jk->ki", [(2, 3), (3, 4)]),
    ("ij,jk->", [(2, 3), (3, 4)]),
    ("ij,jk->ijk", [(2, 3), (3, 4)]),
    ("ij,jk->j", [(2, 3), (3, 4)]),
    ("ij,j->i", [(4, 3), (3,)]),
    ("ji,j->i", [(3, 4), (3,)]),
    ("i,ij->j", [(4,), (4, 3)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("ij,ji->", [(2, 3), (3, 2)]),
    ("ij,ji->ij", [(2, 3), (3, 2)]),
    ("ij,kl->ijkl", [(2, 3), (2, 2)]),
    ("ij,kl->ikjl", [(2, 3), (2, 2)]),
    ("ijk,jil->kl", [(3, 4, 5), (4, 3, 2)]),
    ("ijk,k->", [(2, 3, 4), (4,)]),
    ("ijk,ikj->k", [(3, 4, 4), (3, 4, 4)]),
    ("i,jk->ijk", [(3,), (2, 2)]),
    ("j,ik->ijk", [(2,), (3, 2)]),
    ("bimd,bind->bimn", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("bhqk,bhkd->bqhd", [(2, 2, 3, 5), (2, 2, 5, 4)]),
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 6)]),
    ("ij,jk,kl->li", [(3, 4), (4, 5), (5, 6)]),
    ("i,j,k->kji", [(2,), (3,), (4,)]),
    ("a,ab,abc->abc", [(2,), (2, 3), (2, 3, 4)]),
    ("a,b,ab->ab", [(2,), (3,), (2, 3)]),
    ("x,yx,zx->xzy", [(2,), (2, 2), (4, 2)]),
    ("z,mz,zm->", [(2,), (2, 2), (2, 2)]),
    ("ijklm,ijn,ijn->", [(2, 3, 2, 2, 3), (2, 3, 4), (2, 3, 4)]),
    ("ijklm,ijn->", [(2, 3, 2, 2, 3), (2, 3, 4)]),
    ("cl,cpx->lpx", [(2, 3), (2, 3, 5)]),
    ("cl,cpxy->lpxy", [(3, 3), (3, 3, 4, 4)]),
    ("obk,ijk->ioj", [(2, 4, 3), (2, 4, 3)]),
    ("ea,fb,gc,hd,abcd->efgh", [(2, 2), (3, 3), (2, 4), (3, 2), (2, 3, 4, 2)]),
    ("aA,Ab->ab", [(2, 3), (3, 4)]),
    ("Ij,jK->KI", [(2, 3), (3, 4)]),
    ("AB,BC->CA", [(2, 3), (3, 4)]),
    ("iI->Ii", [(2, 3)]),
    ("abcdefghij->jihgfedcba", [(1, 2, 1, 2, 1, 2, 1, 2, 1, 2)]),
    ("zZyY->ZzYy", [(2, 3, 1, 2)]),
]


@pytest.mark.parametrize("subscripts,shapes", EXPLICIT, ids=_ids(EXPLICIT))
def test_explicit_output(subscripts, shapes):
    check_subs(subscripts, shapes)


# ------------------------------------------------------------------- implicit output
# numpy's implicit output: labels appearing exactly once, in ASCII order (A-Z before a-z),
# after the broadcast '...' dimensions.
IMPLICIT = [
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),          # output 'ij' -> transpose
    ("ba", [(2, 3)]),
    ("kji", [(2, 3, 4)]),
    ("i", [(4,)]),
    ("", [()]),
    ("ii", [(3, 3)]),          # trace
    ("iij", [(3, 3, 4)]),      # output 'j'
    ("jii", [(4, 3, 3)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij,jk,kl", [(2, 3), (3, 4), (4, 2)]),
    ("kj,ji", [(2, 3), (3, 4)]),  # output 'ik'
    ("i,i", [(4,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("j,i", [(3,), (4,)]),       # output 'ij' -> transposed outer
    ("ab,ab,c", [(2, 3), (2, 3), (4,)]),
    ("ijk,k", [(2, 3, 4), (4,)]),
    ("abcd,ad", [(2, 3, 4, 5), (2, 5)]),
    ("ba,ac", [(2, 3), (3, 4)]),
    ("Ba,aA", [(2, 3), (3, 4)]),  # output 'AB'
    ("zA", [(2, 3)]),             # output 'Az' (uppercase first) -> transpose
    ("aB", [(2, 3)]),             # output 'Ba' -> transpose
    ("Aa", [(2, 3)]),
    ("bB,Ba", [(2, 3), (3, 4)]),  # output 'ab'... B summed: 'ab'
    ("cB,Ab", [(2, 3), (4, 5)]),  # output 'ABbc'
    ("Zz,zY", [(2, 3), (3, 4)]),  # output 'YZ'
    ("ij,ij", [(2, 3), (2, 3)]),
    ("ab,ba", [(2, 3), (3, 2)]),
    ("abc,cba", [(2, 3, 4), (4, 3, 2)]),
]


@pytest.mark.parametrize("subscripts,shapes", IMPLICIT, ids=_ids(IMPLICIT))
def test_implicit_output(subscripts, shapes):
    check_subs(subscripts, shapes)


def test_implicit_output_is_ascii_sorted_uppercase_first():
    # 'aA' implicit: output 'Aa' -> transposed; with explicit '->aA' it is not
    x = make((2, 3))
    np.testing.assert_array_equal(check("aA", x), x.T)
    np.testing.assert_array_equal(check("aA->aA", x), x)
    y = make((2, 3, 4), rng=np.random.default_rng(7))
    np.testing.assert_array_equal(check("cBa", y), y.transpose(1, 2, 0))


# ------------------------------------------------------------------------- ellipsis
ELLIPSIS = [
    ("...", [(2, 3)]),
    ("...", [()]),
    ("...->...", [(2, 3)]),
    ("...i->...", [(2, 3, 4)]),
    ("...i->i...", [(2, 3, 4)]),
    ("i...->...", [(2, 3, 4)]),
    ("i...->...i", [(2, 3, 4)]),
    ("ij...->...ji", [(2, 3, 4, 5)]),
    ("...ij->...ji", [(2, 3, 4, 5)]),
    ("...ij->ji...", [(2, 3, 4, 5)]),
    ("i...j->j...i", [(2, 3, 4, 5)]),
    ("i...j->...", [(2, 3, 4, 5)]),
    ("i...j", [(2, 3, 4, 5)]),      # implicit: '...ij'
    ("j...i", [(2, 3, 4, 5)]),      # implicit: '...ij' -> swapped
    ("...i", [(2, 3)]),
    ("i...", [(2, 3)]),             # implicit: '...i'
    ("...i->...i", [(4,)]),          # ellipsis covering zero dims
    ("i...->i...", [(4,)]),
    ("ij->...ij", [(2, 3)]),         # ellipsis in output only
    ("...,...", [(3, 4), (2, 3, 4)]),
    ("...,...->...", [(2, 1, 3), (4, 1)]),
    ("..., ...", [(3,), (3,)]),
    ("...i,...i", [(2, 3, 4), (4,)]),
    ("...i,...i->...", [(2, 3, 4), (3, 4)]),
    ("i...,i...", [(4, 3, 2), (4,)]),
    ("i...,j...", [(2, 4), (3, 4)]),   # implicit '...ij'
    ("...i,...j", [(4, 2), (4, 3)]),
    ("...,i", [(2, 3), (4,)]),
    ("...,ij->ij...", [(5,), (2, 3)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(1, 2, 3), (5, 3, 4)]),
    ("...ij,...jk", [(2, 3), (5, 1, 3, 4)]),
    ("...ij,jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ij,...j->...i", [(3, 4), (4,)]),
    ("ij...,jk...->ik...", [(2, 3, 4), (3, 5, 4)]),
    ("a...b,b...c->...ac", [(2, 3, 4), (4, 3, 5)]),
    ("ij...,j...->i...", [(1, 2), (2, 2, 1)]),
    ("ij...,j...->ij...", [(2, 3, 4), (3,)]),
    ("ij...,...j->ij...", [(2, 3, 4), (3,)]),
    ("ij...,j->ij...", [(2, 3, 4), (3,)]),
    ("ik...,k...->i...", [(4, 3), (3, 2)]),
    ("ik...,...kj->i...j", [(4, 3), (3, 2)]),
    ("...k,kj", [(4, 3), (3, 2)]),
    ("ik,k...->i...", [(4, 3), (3, 2)]),
    ("ijkl,k", [(2, 3, 4, 5), (4,)]),
    ("...kl,k", [(2, 3, 4, 5), (4,)]),
    ("...kl,k...", [(2, 3, 4, 5), (4,)]),
    ("...lmn,lmno->...o", [(1, 1, 1, 3, 4, 2), (3, 4, 2, 3)]),
    ("...lmn,...lmno->...o", [(1, 1, 1, 3, 4, 2), (3, 4, 2, 3)]),
    ("...A,Ab->...b", [(2, 3), (3, 4)]),
]


@pytest.mark.parametrize("subscripts,shapes", ELLIPSIS, ids=_ids(ELLIPSIS))
def test_ellipsis(subscripts, shapes):
    check_subs(subscripts, shapes)


# Explicit output that leaves out the '...' dimensions.  numpy itself is of two minds here:
# the C loop of numpy <= 2.4 (``optimize=False``, the default) rejects it with a ValueError,
# while numpy's ``optimize=True`` path sums the '...' dimensions away, and numpy's current
# test suite (gh-30349: test_einsum_broadcast_30349, test_einsum_ellipsis_30349_*) asserts
# the summing behaviour for both paths.  Either numpy answer is accepted: a SubscriptError
# from the build call, or exactly the summed result.
ELLIPSIS_SUMMED = [
    ("...->", [(2, 3)]),
    ("...i->i", [(2, 3, 4)]),
    ("i...->", [(2, 3, 4)]),
    ("i...->i", [(3, 3, 3)]),
    ("ij...->i", [(2, 3, 4)]),
    ("ij...->ij", [(2, 3, 4)]),
    ("...ij->i", [(2, 3, 4)]),
    ("...ij->ij", [(2, 3, 4)]),
    ("i...j->i", [(2, 3, 4)]),
    ("i...j->ij", [(2, 3, 4)]),
    ("...i,...i->", [(2, 3, 4), (3, 4)]),
    ("i...,i...->i", [(4, 3, 2), (4, 1, 2)]),
    ("...ij->", [(2, 3, 4)]),
    ("ij..., i...->i", [(3, 3, 3), (3, 3, 3)]),
    ("j..., i...->j", [(3, 3, 3), (3, 3, 3)]),
    ("j..., i...->", [(3, 3, 3), (3, 3, 3)]),
    ("ijk, jk...->", [(3, 3, 3), (3, 3, 3)]),
    ("ijk, k...->i", [(3, 3, 3), (3, 3, 3)]),
]


@pytest.mark.parametrize("subscripts,shapes", ELLIPSIS_SUMMED, ids=_ids(ELLIPSIS_SUMMED))
def test_ellipsis_dims_left_out_of_output(subscripts, shapes):
    ops = operands_for(subscripts, shapes)
    try:
        le.einsum(subscripts, *ops)
    except le.SubscriptError:
        with pytest.raises(ValueError):     # numpy's C einsum rejects it too
            np.einsum(subscripts, *ops, optimize=False)
        return
    check(subscripts, *ops, ref_optimize=True)


def test_ellipsis_sum_over_tiled_input():
    # gh-30349 in numpy: 'i...->i' over a tiled input gives [18, 18, 18] (or is rejected)
    x = np.tile(np.array([1, 2, 3]), (3, 3, 1))
    try:
        le.einsum("i...->i", x)
    except le.SubscriptError:
        return
    np.testing.assert_array_equal(check("i...->i", x, ref_optimize=True), [18, 18, 18])


# ------------------------------------------------------------------ repeated labels
REPEATED = [
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ii->", [(4, 4)]),
    ("iii->i", [(3, 3, 3)]),
    ("iii", [(3, 3, 3)]),
    ("iij->j", [(3, 3, 4)]),
    ("iij->ij", [(3, 3, 4)]),
    ("iij->ji", [(3, 3, 4)]),
    ("iij", [(3, 3, 4)]),
    ("iji->ij", [(3, 4, 3)]),
    ("jii->ij", [(4, 3, 3)]),
    ("jii->", [(4, 3, 3)]),
    ("ii...->...", [(3, 3, 2, 4)]),
    ("ii...->...i", [(3, 3, 2)]),
    ("ii...->i...", [(3, 3, 2)]),
    ("ii...", [(3, 3, 2)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("...ii->i...", [(2, 3, 3)]),
    ("...ii->...", [(2, 3, 3)]),
    ("...ii", [(2, 3, 3)]),
    ("i...i->i...", [(3, 2, 3)]),
    ("i...i->...i", [(3, 2, 3)]),
    ("i...i->...", [(3, 2, 3)]),
    ("i...i", [(3, 2, 3)]),
    ("aabb->ab", [(3, 3, 4, 4)]),
    ("aabb->ba", [(3, 3, 4, 4)]),
    ("aabb", [(3, 3, 4, 4)]),
    ("ijij->", [(2, 3, 2, 3)]),
    ("ijij->ij", [(2, 3, 2, 3)]),
    ("ijji->ij", [(2, 3, 3, 2)]),
    ("abab", [(2, 3, 2, 3)]),
    ("bbcdc->d", [(1, 1, 3, 1, 3)]),
    ("bbcdc->d", [(2, 2, 3, 4, 3)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("ii,i", [(3, 3), (3,)]),
    ("ii,ij->j", [(3, 3), (3, 4)]),
    ("ij,ii->j", [(3, 4), (3, 3)]),
    ("iij,jj->i", [(3, 3, 4), (4, 4)]),
    ("ii,ii->i", [(3, 3), (3, 3)]),
    ("ii,jj->ij", [(3, 3), (2, 2)]),
    ("ii,jj", [(3, 3), (2, 2)]),
    ("cab,cdd->ab", [(2, 3, 4), (2, 5, 5)]),
    ("iI->iI", [(2, 3)]),       # 'i' and 'I' are different labels
    ("Ii,iI->", [(2, 3), (3, 2)]),
    ("iI,Ii->iI", [(2, 3), (3, 2)]),
    ("AAb,bb->A", [(3, 3, 2), (2, 2)]),
]


@pytest.mark.parametrize("subscripts,shapes", REPEATED, ids=_ids(REPEATED))
def test_repeated_labels(subscripts, shapes):
    check_subs(subscripts, shapes)


def test_repeated_label_values():
    a = np.arange(9).reshape(3, 3)
    np.testing.assert_array_equal(check("ii->i", a), [0, 4, 8])
    np.testing.assert_array_equal(check("ii", a), 12)
    b = np.arange(27).reshape(3, 3, 3)
    np.testing.assert_array_equal(check("iii->i", b), [0, 13, 26])
    np.testing.assert_array_equal(check("jii->ij", b), [b[:, i, i] for i in range(3)])
    c = np.arange(9).reshape(1, 1, 3, 1, 3)
    np.testing.assert_array_equal(check("bbcdc->d", c), [12])


# ---------------------------------------------------------- size-1 broadcasting
SIZE_ONE = [
    ("ij,ij->j", [(10, 2), (1, 2)]),
    ("ij,ij->ij", [(3, 1), (1, 4)]),
    ("ij,ij", [(3, 1), (1, 4)]),
    ("i,i", [(2,), (1,)]),
    ("i, i", [(1,), (4,)]),
    ("i,i->i", [(1,), (3,)]),
    ("i,i->", [(1,), (4,)]),
    ("ij,jk->ik", [(2, 1), (3, 4)]),
    ("ij,jk", [(2, 1), (1, 4)]),
    ("ij,j->ij", [(1, 3), (1,)]),
    ("ii,i", [(3, 3), (1,)]),
    ("ii,i", [(1, 1), (3,)]),
    ("ii,i->i", [(1, 1), (3,)]),
    ("ijp,ipq,ikq->ijk", [(3, 1, 1), (3, 1, 3), (1, 3, 3)]),
    ("jhcabhijaci,dfijejgh->fgje",
     [(1, 1, 1, 1, 3, 1, 1, 1, 1, 1, 1), (3, 1, 3, 1, 1, 1, 1, 2)]),
    ("baegffahgc,hdggeff->dhg", [(2, 1, 4, 1, 1, 1, 1, 2, 1, 1), (1, 1, 1, 1, 4, 1, 1)]),
    ("cehgbaifff,fhhdegih->cdghbi", [(1,) * 10, (2, 1, 1, 2, 4, 1, 1, 1)]),
    ("gah,cdbcghefg->ef", [(2, 3, 1), (1, 3, 1, 1, 1, 2, 1, 4, 1)]),
    ("cacc,bcb->", [(1, 1, 1, 1), (1, 4, 1)]),
    ("...ij,...jk->...ik", [(1, 5), (5, 5)]),
    ("ijk,kl,jl", [(1, 5, 4), (4, 6), (5, 6)]),
    ("ijk,kl,jl,i->i", [(1, 5, 4), (4, 6), (5, 6), (10,)]),
    ("abjk,kl,jl,ab->ab", [(1, 1, 5, 4), (4, 6), (5, 6), (7, 7)]),
    ("ij,ij->", [(0, 2), (1, 2)]),
    ("aB,Bc->ac", [(2, 1), (5, 3)]),
]


@pytest.mark.parametrize("subscripts,shapes", SIZE_ONE, ids=_ids(SIZE_ONE))
def test_size_one_broadcasting(subscripts, shapes):
    check_subs(subscripts, shapes)


def test_size_one_broadcast_values():
    # gh-10343 and gh-10930 in numpy
    np.testing.assert_array_equal(check("ij,ij->j", np.ones((10, 2)), np.ones((1, 2))),
                                  [10.0, 10.0])
    np.testing.assert_array_equal(check("i, i", np.array([2.0, 3.0]), np.array([4.0])), 20.0)
    p = np.ones((1, 5)) / 2
    q = np.ones((5, 5)) / 2
    np.testing.assert_array_equal(check("...ij,...jk->...ik", p, q), np.full((1, 5), 1.25))


# ------------------------------------------------------------ interleaved / sublist
# Each case: list of (shape, sublist) pairs, then the output sublist (None = implicit).
SUBLIST = [
    ("identity", [((2, 3), [0, 1])], None),
    ("transpose-implicit", [((2, 3), [1, 0])], None),
    ("transpose-explicit", [((2, 3), [0, 1])], [1, 0]),
    ("matmul", [((2, 3), [0, 1]), ((3, 4), [1, 2])], [0, 2]),
    ("matmul-implicit", [((2, 3), [0, 1]), ((3, 4), [1, 2])], None),
    ("matvec", [((4, 3), [0, 1]), ((3,), [1])], None),
    ("outer", [((3,), [0]), ((4,), [1])], None),
    ("outer-reversed", [((3,), [1]), ((4,), [0])], None),
    ("sum", [((4,), [0])], []),
    ("sum-2d", [((2, 3), [0, 1])], []),
    ("trace", [((3, 3), [0, 0])], None),
    ("diag", [((3, 3), [0, 0])], [0]),
    ("triple-diag", [((3, 3, 3), [0, 0, 0])], [0]),
    ("swapaxes", [((2, 3, 4), [0, 1, 2])], [1, 0, 2]),
    ("ellipsis-only", [((2, 3), [E])], None),
    ("ellipsis-sum-last", [((2, 3, 4), [E, 0])], [E]),
    ("ellipsis-sum-first", [((2, 3, 4), [0, E])], [E]),
    ("ellipsis-multiply", [((3, 4), [E]), ((2, 3, 4), [E])], None),
    ("ellipsis-inner", [((2, 3, 4), [E, 0]), ((4,), [E, 0])], None),
    ("ellipsis-inner-first", [((4, 3, 2), [0, E]), ((4,), [0, E])], None),
    ("ellipsis-diag-1", [((3, 3, 3), [E, 0, 0])], [E, 0]),
    ("ellipsis-diag-2", [((3, 3, 3), [0, 0, E])], [E, 0]),
    ("ellipsis-diag-3", [((3, 3, 3), [E, 0, 0])], [0, E]),
    ("ellipsis-diag-4", [((3, 3, 3), [0, E, 0])], [0, E]),
    ("ellipsis-diag-5", [((3, 3, 3), [0, 0, E])], [0, E]),
    ("ellipsis-diag-6", [((3, 3, 3), [0, E, 0])], [E, 0]),
    ("ellipsis-batched-matmul", [((2, 3, 4), [E, 0, 1]), ((2, 4, 5), [E, 1, 2])], [E, 0, 2]),
    ("ellipsis-in-output-only", [((2, 3), [0, 1])], [E, 1, 0]),
    ("jii->ij", [((3, 3, 3), [1, 0, 0])], [0, 1]),
    ("tensordot", [((3, 4, 5), [0, 1, 2]), ((4, 3, 2), [1, 0, 3])], [2, 3]),
    ("chain3", [((2, 3), [0, 1]), ((3, 4), [1, 2]), ((4, 5), [2, 3])], None),
    ("label-20", [((2, 3), [0, 20]), ((3, 4), [20, 2])], [0, 2]),
    ("label-27", [((2, 3), [0, 27]), ((3, 4), [27, 2])], [0, 2]),
    ("label-51", [((2, 3), [0, 51]), ((3, 4), [51, 2])], [0, 2]),
    ("label-25-26", [((2, 3), [25, 26])], None),
    ("label-51-0-implicit", [((2, 3), [51, 0])], None),   # implicit: 0 ('A') before 51 ('z')
    ("label-30-implicit-order", [((2, 3), [30, 1]), ((3, 4), [1, 2])], None),
    ("tuple-sublists", [((2, 3), (0, 1)), ((3, 4), (1, 2))], (0, 2)),
    ("numpy-int-labels", [((3, 3), [np.int64(0), np.int64(0)])], None),
    ("numpy-int-labels-out", [((3, 4), [np.intp(5), np.int32(7)])], [np.int16(7)]),
]


def _build_sublist_args(pairs, out, seed=0):
    rng = np.random.default_rng(seed)
    args = []
    for shape, sub in pairs:
        args.append(make(shape, np.float64, rng))
        args.append(sub)
    if out is not None:
        args.append(out)
    return args


@pytest.mark.parametrize("name,pairs,out", SUBLIST, ids=[c[0] for c in SUBLIST])
def test_sublist_form(name, pairs, out):
    check(*_build_sublist_args(pairs, out))


@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.complex128, np.bool_],
                         ids=lambda d: np.dtype(d).name)
def test_sublist_form_dtypes(dtype):
    rng = np.random.default_rng(3)
    a, b = make((2, 3), dtype, rng), make((3, 4), dtype, rng)
    check(a, [0, 1], b, [1, 2], [0, 2])
    check(a, [0, 1], b, [1, 2])
    check(a, [E, 0], [E])


def test_sublist_with_scalars():
    a = np.arange(9, dtype=np.float64)
    check(3, [], a, [0], [])
    check(a, [0], 3, [], [])
    check(np.array(2.5), [], a, [0], [0])


@pytest.mark.parametrize("string_form,sublist_form", [
    ("ij,jk->ik", ([0, 1], [1, 2], [0, 2])),
    ("ij,jk", ([0, 1], [1, 2], None)),
    ("...i,...i", ([E, 0], [E, 0], None)),
    ("ij,ij->", ([0, 1], [0, 1], [])),
])
def test_sublist_equals_string_form(string_form, sublist_form):
    rng = np.random.default_rng(5)
    a = make((2, 3), np.float64, rng)
    b = make((3, 4) if "jk" in string_form else (2, 3), np.float64, rng)
    s1, s2, out = sublist_form
    args = [a, s1, b, s2] + ([] if out is None else [out])
    r1 = le.einsum(string_form, a, b).compute()
    r2 = le.einsum(*args).compute()
    np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-12)
    assert r1.shape == r2.shape and r1.dtype == r2.dtype


# ----------------------------------------------------------------------- spaces
SPACES = ["{}...a{}->{}...a{}".format(*sp)
          for sp in itertools.product(["", " "], repeat=4)]
SPACES += [" ij , jk -> ik ", "ij, jk", "i j,j k->i k", "ij->i j", "ij ->", " ii ",
           "... i , ... i", "ij,jk->   "]


@pytest.mark.parametrize("subscripts", SPACES, ids=[repr(s) for s in SPACES])
def test_spaces_in_subscripts(subscripts):
    lhs = subscripts.split("->")[0].replace(" ", "").split(",")
    if lhs == ["...a"]:
        ops = [make((2, 3))]
    elif lhs == ["ii"]:
        ops = [make((3, 3))]
    elif lhs == ["...i", "...i"]:
        ops = [make((2, 3)), make((3,))]
    elif lhs == ["ij"]:
        ops = [make((2, 3))]
    else:
        ops = [make((2, 3)), make((3, 4))]
    check(subscripts, *ops)


# ------------------------------------------- the grammar over lazy operand expressions
def _lazy_equal(x, kind, rng):
    """A lazy expression whose value is exactly ``x`` (float64 or int64)."""
    if kind == "sum":                       # a sum the einsum has to expand
        v = make(x.shape, x.dtype, rng)
        return le.lazy(x - v) + v
    if kind == "transposed" and x.ndim >= 2:  # an einsum feeding an einsum
        return le.einsum("...ij->...ji", le.lazy(np.swapaxes(x, -1, -2).copy()))
    return le.lazy(x)


GRAMMAR_TABLES = EXPLICIT + IMPLICIT + ELLIPSIS + REPEATED + SIZE_ONE


@pytest.mark.parametrize("kind", ["sum", "transposed"])
@pytest.mark.parametrize("subscripts,shapes", GRAMMAR_TABLES, ids=_ids(GRAMMAR_TABLES))
def test_grammar_on_lazy_operands(subscripts, shapes, kind):
    rng = np.random.default_rng(17)
    dtype = np.int64 if len(shapes) % 2 else np.float64
    ops = operands_for(subscripts, shapes, dtype=dtype, seed=17)
    snaps = [o.copy() for o in ops]
    expected = np.asarray(np.einsum(subscripts, *ops))
    t = le.einsum(subscripts, *[_lazy_equal(o, kind, rng) for o in ops])
    verify(t, expected, [subscripts] + ops, list(range(1, len(ops) + 1)))
    for o, s0 in zip(ops, snaps):
        np.testing.assert_array_equal(o, s0)


EYE_CASES = [
    ("ii", [(3, None, 0)], []),
    ("ii->i", [(3, None, 1)], []),
    ("ii", [(4, None, -1)], []),
    ("ij->", [(2, 5, -1)], []),
    ("ij->ji", [(3, 4, 2)], []),
    ("ij,jk->ik", [(3, 4, 1)], [(4, 2)]),
    ("ij,ij->", [(3, None, 0)], [(3, 3)]),
    ("ij,ji->i", [(3, 4, -1)], [(4, 3)]),
    ("ii,jj", [(3, None, 0), (2, None, 0)], []),
    ("ij,jk", [(3, None, 0), (3, None, 0)], []),
    ("...ij,jk->...ik", [(3, None, 0)], [(2, 3, 3)]),
    ("ij,kl->ikjl", [(2, None, 0)], [(2, 3)]),
    ("ab,bc,cd->ad", [(3, None, 1), (3, None, -1)], [(3, 2)]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("subscripts,eyes,shapes", EYE_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in EYE_CASES])
def test_grammar_on_eye_operands(subscripts, eyes, shapes, dtype):
    # le.eye operands are listed first; np.eye gives numpy's answer
    rng = np.random.default_rng(19)
    dense = [make(sh, dtype, rng) for sh in shapes]
    ref = [np.eye(n, m, k, dtype=dtype) for n, m, k in eyes] + dense
    lazy = [le.eye(n, m, k, dtype=dtype) for n, m, k in eyes] + dense
    if subscripts.startswith("...ij,jk"):      # the dense operand comes first there
        ref, lazy = ref[::-1], lazy[::-1]
    expected = np.asarray(np.einsum(subscripts, *ref))
    t = le.einsum(subscripts, *lazy)
    verify(t, expected, [subscripts] + ref, list(range(1, len(ref) + 1)))


# ------------------------------------------------------------ randomised grammar
_LABELS = "abcdeAB"


@st.composite
def _einsum_problem(draw):
    nlab = draw(st.integers(1, len(_LABELS)))
    labels = _LABELS[:nlab]
    sizes = {c: draw(st.integers(1, 3)) for c in labels}
    nops = draw(st.integers(1, 4))
    use_ellipsis = draw(st.booleans())
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    terms, shapes = [], []
    for _ in range(nops):
        term = draw(st.lists(st.sampled_from(labels), min_size=0, max_size=4))
        ones = draw(st.sets(st.sampled_from(labels)))   # labels broadcast from size 1 here
        shape = [1 if c in ones else sizes[c] for c in term]
        text = "".join(term)
        if use_ellipsis and draw(st.booleans()):
            at = draw(st.integers(0, len(term)))
            nb = draw(st.integers(0, len(batch)))        # fewer leading dims broadcast too
            bshape = [draw(st.sampled_from([d, 1])) for d in batch[len(batch) - nb:]]
            text = text[:at] + "..." + text[at:]
            shape = shape[:at] + bshape + shape[at:]
        terms.append(text)
        shapes.append(tuple(shape))
    used = sorted(set("".join(terms).replace(".", "")))
    any_ellipsis = any("..." in t for t in terms)
    lhs = ",".join(terms)
    if draw(st.booleans()):
        subs = lhs
    else:
        out = list(draw(st.permutations(used)))
        out = out[:draw(st.integers(0, len(out)))]
        if any_ellipsis:      # keep '...' in an explicit output (numpy <= 2.4 requires it)
            out.insert(draw(st.integers(0, len(out))), "...")
        subs = lhs + "->" + "".join(out)
    dtype = draw(st.sampled_from([np.float64, np.int64, np.complex128]))
    lazy_kind = draw(st.sampled_from(["array", "leaf", "sum"]))
    seed = draw(st.integers(0, 2**16))
    return subs, shapes, dtype, lazy_kind, seed


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(_einsum_problem())
def test_random_grammar_against_numpy(problem):
    subs, shapes, dtype, lazy_kind, seed = problem
    if lazy_kind == "array":
        check_subs(subs, shapes, dtype=dtype, seed=seed)
        return
    ops = operands_for(subs, shapes, dtype=dtype, seed=seed)
    expected = np.asarray(np.einsum(subs, *ops))
    rng = np.random.default_rng(seed)
    t = le.einsum(subs, *[_lazy_equal(o, lazy_kind, rng) for o in ops])
    verify(t, expected, [subs] + ops, list(range(1, len(ops) + 1)))
