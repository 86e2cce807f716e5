"""einsum operands against ``np.einsum``: dtypes, zero sizes, scalars, many operands, array-likes.

The cases follow numpy's own einsum test suite (``numpy/_core/tests/test_einsum.py``): every
numeric dtype and mixed promotion, zero-size axes, scalar operands, long operand chains
(numpy's path cases), numpy's regression cases, array-likes, read-only views and lazy operands;
each is compared with numpy by ``check`` (tests/_einsum_cases.py).
"""

import string

import numpy as np
import pytest

import lazyein as le
from _einsum_cases import ALL_DTYPES, DTYPE_IDS, E, _ids, check, check_subs, make

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
