"""einsum grammar conformance: ``le.einsum`` must give numpy's ``np.einsum`` answer.

The cases follow what numpy's own einsum test suite (``numpy/_core/tests/test_einsum.py``)
covers -- explicit and implicit output, ``...`` broadcasting, repeated labels, size-1
broadcasting, the interleaved (sublist) form, every numeric dtype, zero-size axes, scalar
operands, long operand chains, spaces, and malformed subscripts -- rewritten as comparisons
against numpy.

Every value check builds ``t = le.einsum(*args)`` and compares ``t.compute()`` and
``np.asarray(t)`` with ``np.einsum(*args)`` on copies of the same inputs: values, shape and
dtype (the result dtype must equal numpy's).  It also checks that ``t.shape``/``t.dtype`` are
numpy's and that no input (array or sublist) was modified.

Errors must be raised by the ``le.einsum(...)`` call itself (at build time), never later.
"""

import itertools
import re
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyein as le

E = Ellipsis

ALL_DTYPES = [
    np.bool_,
    np.int8, np.int16, np.int32, np.int64,
    np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64,
    np.complex64, np.complex128,
]
DTYPE_IDS = [np.dtype(d).name for d in ALL_DTYPES]

# relative tolerance (applied both as rtol and, scaled, as atol) per floating kind
_TOL = {
    np.dtype(np.float16): 1e-2,
    np.dtype(np.float32): 1e-4,
    np.dtype(np.complex64): 1e-4,
    np.dtype(np.float64): 1e-9,
    np.dtype(np.complex128): 1e-9,
}


# ----------------------------------------------------------------------------- helpers
def make(shape, dtype=np.float64, rng=None):
    """Small, exactly representable values for ints/bool/float16 (no overflow anywhere)."""
    dt = np.dtype(dtype)
    if rng is None:
        rng = np.random.default_rng(12345)
    shape = tuple(shape)
    if dt.kind == "b":
        return np.asarray(rng.integers(0, 2, size=shape)).astype(bool)
    if dt.kind == "u":
        hi = 2 if dt.itemsize == 1 else 4
        return np.asarray(rng.integers(0, hi, size=shape)).astype(dt)
    if dt.kind == "i":
        lo, hi = (-1, 2) if dt.itemsize == 1 else (-3, 4)
        return np.asarray(rng.integers(lo, hi, size=shape)).astype(dt)
    if dt == np.float16:
        return (np.asarray(rng.integers(-4, 5, size=shape)) / 4).astype(dt)
    if dt.kind == "f":
        return np.asarray(rng.standard_normal(shape)).astype(dt)
    if dt.kind == "c":
        re_ = np.asarray(rng.standard_normal(shape))
        im_ = np.asarray(rng.standard_normal(shape))
        return (re_ + 1j * im_).astype(dt)
    raise AssertionError(dt)


def operands_for(subscripts, shapes, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [make(s, dtype, rng) for s in shapes]


def _operand_positions(args):
    if isinstance(args[0], str):
        return list(range(1, len(args)))
    return list(range(0, 2 * (len(args) // 2), 2))


def _snapshot(x):
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, list):
        return [_snapshot(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_snapshot(v) for v in x)
    return x


def _assert_unchanged(orig, snap, where):
    if isinstance(snap, np.ndarray):
        assert isinstance(orig, np.ndarray), where
        assert orig.shape == snap.shape and orig.dtype == snap.dtype, f"{where} was modified"
        np.testing.assert_array_equal(orig, snap, err_msg=f"{where} was modified")
    elif isinstance(snap, (list, tuple)):
        assert type(orig) is type(snap) and len(orig) == len(snap), f"{where} was modified"
        for i, (o, s) in enumerate(zip(orig, snap)):
            _assert_unchanged(o, s, f"{where}[{i}]")
    else:
        assert orig is snap or orig == snap, f"{where} was modified"


def _abs_bound(args, positions):
    """einsum of |operands| in float64: bounds every partial sum, hence the rounding error."""
    absargs = list(args)
    for p in positions:
        absargs[p] = np.abs(np.asarray(args[p])).astype(np.float64)
    try:
        b = np.asarray(np.einsum(*absargs, optimize=True), dtype=np.float64)
    except Exception:  # pragma: no cover - only a scale for atol
        return 1.0
    return float(b.max()) if b.size else 1.0


def assert_matches(got, expected, args, positions, what):
    assert isinstance(got, np.ndarray), f"{what} returned {type(got)!r}, not an ndarray"
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != numpy {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != numpy {expected.dtype}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected, err_msg=what, strict=True)
    else:
        tol = _TOL[expected.dtype]
        scale = max(_abs_bound(args, positions), 1e-300)
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * scale, err_msg=what)


def check(*args, ref_optimize=False):
    """Compare le.einsum(*args) with np.einsum(*args); return the computed result."""
    positions = _operand_positions(args)
    snaps = [_snapshot(a) for a in args]
    expected = np.asarray(np.einsum(*[_snapshot(a) for a in args], optimize=ref_optimize))

    t = le.einsum(*args)
    got = verify(t, expected, args, positions)

    for i, (a, s) in enumerate(zip(args, snaps)):
        _assert_unchanged(a, s, f"argument {i}")
    return got


def verify(t, expected, args, positions):
    """Check a built lazy expression against numpy's ``expected`` (args give the error scale)."""
    assert not isinstance(t, np.ndarray), "le.einsum must build a lazy expression"

    got = t.compute()
    assert_matches(got, expected, args, positions, "compute()")
    got2 = np.asarray(t)
    assert_matches(got2, expected, args, positions, "np.asarray(t)")

    assert tuple(t.shape) == expected.shape, f"t.shape {t.shape} != numpy {expected.shape}"
    assert np.dtype(t.dtype) == expected.dtype, f"t.dtype {t.dtype} != numpy {expected.dtype}"
    return got


def check_subs(subscripts, shapes, dtype=np.float64, seed=0):
    return check(subscripts, *operands_for(subscripts, shapes, dtype, seed))


def _ids(table):
    return [f"{c[0]!r}-{'x'.join(map(str, c[1][0])) if c[1] else ''}" for c in table]


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


# -------------------------------------------------------------------------- dtypes
DTYPE_OPS = [
    ("i->", [(7,)]),
    ("i->i", [(7,)]),
    ("ij->ji", [(2, 3)]),
    ("...i->...", [(2, 3, 5)]),
    ("i...->...", [(2, 3, 5)]),
    ("ij->", [(3, 4)]),
    ("ii", [(4, 4)]),
    ("ii->i", [(4, 4)]),
    ("..., ...", [(3, 4), (2, 3, 4)]),
    ("...i, ...i", [(2, 3, 4), (4,)]),
    ("i..., i...", [(3, 2, 2), (3,)]),
    ("i,j", [(3,), (4,)]),
    ("ij, j", [(4, 3), (3,)]),
    ("ji,j", [(3, 4), (3,)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("ij,jk,kl", [(2, 3), (3, 3), (3, 2)]),
    ("ijk, jil -> kl", [(3, 2, 2), (2, 3, 2)]),
    ("i,i,i->i", [(8,), (8,), (8,)]),
    ("i,i,i->", [(5,), (5,), (5,)]),
    ("i,i,i,i->", [(5,), (5,), (5,), (5,)]),
    ("i,i", [(6,), (6,)]),
    ("i,i->i", [(6,), (6,)]),
    ("bimd,bind->bimn", [(2, 2, 3, 2), (2, 2, 2, 2)]),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("subscripts,shapes", DTYPE_OPS, ids=_ids(DTYPE_OPS))
def test_dtypes(subscripts, shapes, dtype):
    check_subs(subscripts, shapes, dtype=dtype, seed=11)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=DTYPE_IDS)
def test_dtypes_scalar_and_noncontiguous(dtype):
    rng = np.random.default_rng(4)
    arr = make((7,), dtype, rng)
    two = np.array(2 if np.dtype(dtype).kind != "b" else True, dtype=dtype)
    # 0-d operand of the same dtype: result keeps the dtype
    check("i,->i", arr, two)
    check(",i->i", two, arr)
    check(",i->", two, arr)
    check("i,->", arr, two)
    check("i,->i", arr, np.dtype(dtype).type(two))   # numpy scalar operand
    # non-contiguous inputs
    nc = arr.repeat(2)[::2]
    check("i,i->i", nc, nc)
    check("i,i->", nc, arr[::-1])
    m = make((3, 4), dtype, rng)
    check("ij,jk", m, m.T)
    check("ij->", np.asfortranarray(m))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=DTYPE_IDS)
def test_dtypes_sublist_sums(dtype):
    rng = np.random.default_rng(6)
    for n in (1, 2, 5, 9):
        a = make((n,), dtype, rng)
        check(a, [0], [])
        b = make((2, 3, n), dtype, rng)
        check(b, [E, 0], [E])
        check(b, [0, E], [E])
        c = make((n, n), dtype, rng)
        check(c, [0, 0])


MIXED = [
    (np.int8, np.float32), (np.int32, np.float32), (np.uint8, np.int8),
    (np.float16, np.int16), (np.complex64, np.float64), (np.bool_, np.int8),
    (np.uint64, np.int64), (np.float16, np.float32), (np.bool_, np.float16),
    (np.uint16, np.float16), (np.int64, np.complex64), (np.uint32, np.int16),
    (np.bool_, np.complex64), (np.float32, np.complex64), (np.int16, np.uint8),
]


@pytest.mark.parametrize("d1,d2", MIXED,
                         ids=[f"{np.dtype(a).name}-{np.dtype(b).name}" for a, b in MIXED])
def test_mixed_dtype_promotion(d1, d2):
    rng = np.random.default_rng(8)
    a, b = make((2, 3), d1, rng), make((3, 4), d2, rng)
    check("ij,jk->ik", a, b)
    check("ij,jk->", a, b)
    v, w = make((4,), d1, rng), make((4,), d2, rng)
    check("i,i->i", v, w)
    check("i,i,i->i", v, w, v)


# -------------------------------------------------------------------- zero-size axes
ZERO = [
    ("i->", [(0,)]),
    ("i", [(0,)]),
    ("ij->", [(2, 0)]),
    ("ij->i", [(2, 0)]),
    ("ij->j", [(0, 3)]),
    ("ij->ji", [(0, 3)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),
    ("ij,jk->ik", [(0, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 0)]),
    ("ij,jk->", [(2, 0), (0, 3)]),
    ("ii->i", [(0, 0)]),
    ("ii", [(0, 0)]),
    ("...i,...i", [(0, 3), (3,)]),
    ("i...,i...", [(3, 0), (3, 1)]),
    ("i,j->ij", [(0,), (3,)]),
    ("...", [(2, 0, 3)]),
    ("ijk->kji", [(0, 2, 3)]),
    ("ijk->", [(2, 0, 3)]),
    ("ij,ij->", [(0, 2), (1, 2)]),
    ("ij,ij->i", [(0, 2), (1, 2)]),
    ("a,ab,bc->c", [(0,), (0, 3), (3, 2)]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_, np.complex64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("subscripts,shapes", ZERO, ids=_ids(ZERO))
def test_zero_size(subscripts, shapes, dtype):
    check_subs(subscripts, shapes, dtype=dtype)


# ------------------------------------------------------------- scalar operands
def _scalar_cases():
    a64 = np.arange(5, dtype=np.float64) - 2.0
    a32 = (np.arange(5, dtype=np.float32) - 2) / 2
    ai8 = np.arange(5, dtype=np.int8) - 2
    ai32 = np.arange(5, dtype=np.int32) - 2
    m = np.arange(6, dtype=np.float64).reshape(2, 3)
    m2 = np.arange(12, dtype=np.float64).reshape(3, 4) / 3
    return [
        ("py-int-py-int", ("..., ...", 3, 4)),
        ("py-int-py-int-explicit", (",->", 3, 4)),
        ("py-float-py-int", (",", 2.0, 3)),
        ("py-int-array", (",i->", 3, a64)),
        ("array-py-int", ("i,->", a64, 3)),
        ("array-py-float", ("i,->i", a64, 2.5)),
        ("py-int-int32", (",i->i", 2, ai32)),
        ("py-int-int8", (",i->", 3, ai8)),
        ("py-float-int8", (",i->", 3.0, ai8)),
        ("py-bool-int8", (",i->i", True, ai8)),
        ("py-float-float32", (",i->i", 0.5, a32)),
        ("py-complex-float32", (",i", 2j, a32)),
        ("py-complex-float64", ("i,->i", a64, 1 - 2j)),
        ("0d-only", ("", np.array(3.0))),
        ("0d-only-arrow", ("->", np.array(2.5, dtype=np.float32))),
        ("0d-ellipsis", ("...", np.array(3))),
        ("0d-float32-times-float32", (",ij->ij", np.array(2.0, dtype=np.float32),
                                      np.ones((2, 3), dtype=np.float32))),
        ("np-float64-scalar-float32", ("i,->i", a32, np.float64(2))),
        ("np-float32-scalar-float64", ("i,->i", a64, np.float32(2))),
        ("scalar-between-matrices", ("ij,,jk->ik", m, 0.5, m2)),
        ("two-scalars-and-array", (",i,->i", 2, a64, 3.0)),
        ("scalar-with-ellipsis", ("...,ij->ij", 2.0, m)),
        ("0d-and-0d", (",", np.array(2, dtype=np.int16), np.array(3, dtype=np.int16))),
    ]


SCALAR_CASES = _scalar_cases()


@pytest.mark.parametrize("name,args", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_scalar_operands(name, args):
    check(*args)


# ----------------------------------------------------------------- many operands
_SIZES = dict(zip("abcdefghij", [2, 3, 4, 5, 4, 3, 2, 6, 5, 4]))

NUMPY_PATH_CASES = [
    # hadamard-like / index transformations
    "a,ab,abc->abc", "a,b,ab->ab",
    "ea,fb,gc,hd,abcd->efgh", "ea,fb,abcd,gc,hd->efgh", "abcd,ea,fb,gc,hd->efgh",
    # long cases
    "acdf,jbje,gihb,hfac,gfac,gifabc,hfac", "cd,bdhe,aidb,hgca,gc,hgibcd,hgac",
    "abhe,hidj,jgba,hiab,gab", "bde,cdh,agdb,hica,ibd,hgicd,hiac",
    "chd,bde,agbc,hiad,hgc,hgi,hiad", "chd,bde,agbc,hiad,bdi,cgh,agdb",
    "bdhe,acad,hiab,agac,hibd",
    # collapse / expand
    "ab,ab,c->", "ab,ab,c->c", "ab,ab,cd,cd->", "ab,ab,cd,cd->ac", "ab,ab,cd,cd->cd",
    "ab,ab,cd,cd,ef,ef->",
    "ab,cd,ef->abcdef", "ab,cd,ef->acdf", "ab,cd,de->abcde", "ab,cd,de->be",
    "ab,bcd,cd->abcd", "ab,bcd,cd->abd",
    # edge cases
    "eb,cb,fb->cef", "dd,fb,be,cdb->cef", "bca,cdb,dbf,afc->", "dcc,fce,ea,dbf->ab",
    "fdf,cdd,ccd,afe->ae", "abcd,ad", "ed,fcd,ff,bcf->be", "baa,dcf,af,cde->be",
    "bd,db,eac->ace", "fff,fae,bef,def->abd", "efc,dbc,acf,fd->abe", "ba,ac,da->bcd",
    # inner products
    "ab,ab", "ab,ba", "abc,abc", "abc,bac", "abc,cba",
    # random cases
    "aab,fa,df,ecc->bde", "ecb,fef,bad,ed->ac", "bcf,bbb,fbf,fc->", "bb,ff,be->e",
    "bcb,bb,fc,fff->", "fbb,dfd,fc,fc->", "afd,ba,cc,dc->bf", "adb,bc,fa,cfc->d",
    "bbd,bda,fc,db->acf", "dba,ead,cad->bce", "aef,fbc,dca->bde",
]


def _shapes_for(subscripts, sizes=_SIZES):
    terms = subscripts.split("->")[0].split(",")
    return [tuple(sizes[c] for c in term) for term in terms]


@pytest.mark.parametrize("subscripts", NUMPY_PATH_CASES)
def test_numpy_path_cases(subscripts):
    check_subs(subscripts, _shapes_for(subscripts), seed=21)


def _chain(n):
    letters = string.ascii_letters
    terms = [letters[i] + letters[i + 1] for i in range(n)]
    return ",".join(terms) + "->" + letters[0] + letters[n]


MANY = [
    (_chain(5), [(3, 3)] * 5),
    (_chain(8), [(2, 3), (3, 2)] * 4),
    (_chain(10), [(2, 2)] * 10),
    ("a,a,a,a,a->a", [(4,)] * 5),
    ("a,a,a,a,a,a,a,a->", [(3,)] * 8),
    ("a,b,c,d,e->abcde", [(2,)] * 5),
    ("a,b,c,d,e->edcba", [(2,), (1,), (3,), (2,), (2,)]),
    ("ab,bc,cd,da->", [(2, 3), (3, 4), (4, 2), (2, 2)]),  # a ring
    ("ab,bc,cd,de,ea", [(2, 3), (3, 2), (2, 3), (3, 2), (2, 2)]),
    ("aA,AB,Bb,bC,Cc->ac", [(2, 3), (3, 2), (2, 3), (3, 2), (2, 2)]),
    ("ij,jk,kl,lm,mn,no->io", [(2, 2)] * 6),
    ("i,ij,jk,k,kl,l->", [(2,), (2, 3), (3, 2), (2,), (2, 3), (3,)]),
    ("...a,ab,...b,bc,c->...", [(2, 3), (3, 2), (2, 2), (2, 4), (4,)]),
    ("ii,ij,jj,jk,kk->ik", [(3, 3)] * 5),
    ("abc,bcd,cde,def,efg,fgh,ghi->ai", [(2, 2, 2)] * 7),
    ("a,b,c,d,e,f,g,h,i,j->", [(2,)] * 10),
]


@pytest.mark.parametrize("subscripts,shapes", MANY, ids=_ids(MANY))
def test_many_operands(subscripts, shapes):
    check_subs(subscripts, shapes, seed=31)


@pytest.mark.parametrize("dtype", [np.int64, np.complex128, np.float32],
                         ids=lambda d: np.dtype(d).name)
def test_many_operands_dtypes(dtype):
    check_subs(_chain(6), [(2, 2)] * 6, dtype=dtype, seed=41)
    check_subs("ab,bc,cd,da->", [(2, 3), (3, 2), (2, 2), (2, 2)], dtype=dtype, seed=42)


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


# ------------------------------------------------- numpy regression cases (misc)
def test_numpy_misc_regressions():
    a = np.ones((1, 2))
    b = np.ones((2, 2, 1))
    np.testing.assert_array_equal(check("ij...,j...->i...", a, b), [[[2], [2]]])

    a = np.ones((5, 12, 4, 2, 3), np.int64)
    b = np.ones((5, 12, 11), np.int64)
    r1 = check("ijklm,ijn,ijn->", a, b, b)
    r2 = check("ijklm,ijn->", a, b)
    np.testing.assert_array_equal(r1, r2)

    a = np.arange(1, 3)
    b = np.arange(1, 5).reshape(2, 2)
    c = np.arange(1, 9).reshape(4, 2)
    np.testing.assert_array_equal(
        check("x,yx,zx->xzy", a, b, c),
        [[[1, 3], [3, 9], [5, 15], [7, 21]], [[8, 16], [16, 32], [24, 48], [32, 64]]])

    p = np.arange(2) + 1
    q = np.arange(4).reshape(2, 2) + 3
    r = np.arange(4).reshape(2, 2) + 7
    np.testing.assert_array_equal(check("z,mz,zm->", p, q, r), 253)

    x = np.eye(2)
    y = np.ones(2)
    np.testing.assert_array_equal(check("ji,i->", x, y), 2.0)
    np.testing.assert_array_equal(check("i,ij->", y, x), 2.0)
    np.testing.assert_array_equal(check("ij,i->", x, y), 2.0)

    t = np.random.default_rng(1).random((4, 4, 4, 4))
    np.testing.assert_allclose(check("ijij->", t), t.trace(axis1=0, axis2=2).trace())
    idx = np.arange(4)
    np.testing.assert_array_equal(check("aabb->ab", t), t[idx[:, None], idx[:, None], idx, idx])

    # mixed float32/int16 contraction (numpy gh-4485 shapes, smaller)
    A = np.arange(6).reshape(2, 3).astype(np.float32)
    B = np.arange(2 * 3 * 17).reshape(2, 3, 17).astype(np.int16)
    np.testing.assert_allclose(check("cl, cpx->lpx", A, B), np.tensordot(A, B, axes=(0, 0)))

    # all-True boolean batched product (numpy gh-5946)
    z = np.ones((2, 1, 1), dtype=bool)
    np.testing.assert_array_equal(check("...ij,...jk->...ik", z, z), z)


def test_bool_semantics_are_logical():
    # numpy's bool einsum: products are AND, sums are OR, result stays bool
    a = np.array([True, False, True, True])
    b = np.array([True, True, False, True])
    r = check("i,i->", a, b)
    assert r.dtype == np.bool_ and bool(r) is True
    check("i->", a)
    m = np.array([[True, True], [False, True]])
    check("ij,jk->ik", m, m)
    check("ij->", m)


def test_nested_list_operands():
    # numpy accepts array-likes; the API says "follow numpy" where it is silent
    check("...i,...i", [1, 2, 3], [2, 3, 4])
    check("i,j", [1], [2])


def test_readonly_and_broadcast_view_operands():
    base = np.arange(4.0)
    view = np.broadcast_to(base, (3, 4))       # read-only, zero strides
    ro = np.arange(12.0).reshape(4, 3)
    ro.flags.writeable = False
    check("ij,jk->ik", view, ro)
    check("ij->", view)
    check("ij,ij->i", view, view)
    neg = np.arange(12.0).reshape(3, 4)[::-1, ::-2]
    check("ij,jk", neg, ro[::2])


def test_lazy_operands_and_nesting():
    rng = np.random.default_rng(9)
    a, b, c = make((2, 3), rng=rng), make((3, 4), rng=rng), make((4, 2), rng=rng)
    a0, b0, c0 = a.copy(), b.copy(), c.copy()
    la, lb = le.lazy(a, name="a"), le.lazy(b, name="b")
    t = le.einsum("ij,jk->ik", la, lb)
    np.testing.assert_allclose(t.compute(), a @ b, rtol=1e-12, atol=1e-12)
    t2 = le.einsum("ik,kl->il", t, c)          # nested, mixed lazy/ndarray
    np.testing.assert_allclose(t2.compute(), a @ b @ c, rtol=1e-12, atol=1e-12)
    t3 = le.einsum(la, [0, 1], lb, [1, 2], [2, 0])
    np.testing.assert_allclose(np.asarray(t3), (a @ b).T, rtol=1e-12, atol=1e-12)
    t4 = le.einsum("ii", le.einsum("ij,jk->ik", a, a.T))
    np.testing.assert_allclose(t4.compute(), np.trace(a @ a.T), rtol=1e-12)
    for x, x0 in ((a, a0), (b, b0), (c, c0)):
        np.testing.assert_array_equal(x, x0)


def test_lazy_einsum_alias():
    a, b = make((2, 3)), make((3, 4))
    r1 = le.lazy_einsum("ij,jk->ik", a, b).compute()
    r2 = le.einsum("ij,jk->ik", a, b).compute()
    np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r1, a @ b, rtol=1e-12, atol=1e-12)


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


# ========================================================================== errors
def _o(*shape):
    return np.ones(shape)


# (id, args) -- must raise le.SubscriptError from le.einsum(*args) itself
SUBSCRIPT_ERRORS = [
    # invalid characters
    ("bad-char-%", ("i%...", _o(2, 2)), "%"),
    ("bad-char-$", ("...j$", _o(2, 2)), re.escape("$")),
    ("bad-char-&-output", ("i->&", _o(2)), "&"),
    ("digit", ("i1", _o(2, 2)), "1"),
    ("bad-char->", ("i>j", _o(2, 2)), None),
    ("non-ascii-letter", ("i\u00e4", _o(2, 2)), None),
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
    ("sublist-label-52", (_o(2, 3), [0, 52], _o(3, 4), [52, 2], [0, 2]), None),
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
