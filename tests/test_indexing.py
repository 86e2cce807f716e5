"""Basic indexing, le.flip and le.roll against numpy: every form alone and composed with every
op, errors when built, the work and memory of the entries asked for only."""

import numpy as np
import pytest

import lazyein as le
from lazyein.testing import assert_like_numpy, traced_working_bytes

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 5, 6))

KEYS = [
    0, -1, 3, slice(None), slice(1, 3), slice(None, None, -1), slice(None, None, 2),
    slice(3, 0, -2), slice(-2, None), slice(10, 20), slice(None, None, -3),
    (1, 2), (-1, slice(None), 4), (slice(1, 4), slice(None, None, -1), slice(0, 6, 4)),
    (Ellipsis, 2), (None, Ellipsis), (Ellipsis, None), (1, None, Ellipsis, slice(None, 2)),
    (None, 0, None, slice(4, None, -1), None), (slice(None, None, -1), -2, -3), (),
    Ellipsis, None, (0, 0, 0), (slice(2, 2),), (np.int64(2), np.array(1)),
]


def _key_id(key):
    return repr(key).replace(" ", "")


@pytest.mark.parametrize("key", KEYS, ids=_key_id)
def test_every_form_of_a_leaf_matches_numpy(key):
    t = le.lazy(A)[key]
    ref = A[key]
    assert t.shape == ref.shape and t.dtype == ref.dtype  # known when built
    assert_like_numpy(t.compute(), np.asarray(ref))


def _operand_cases():
    """(name, lazy expression, numpy value) over every op."""
    a, b = RNG.standard_normal((6, 7)), RNG.standard_normal((7, 5))
    c, d = RNG.standard_normal((3, 4)), RNG.standard_normal((2, 3))
    kern = RNG.standard_normal(3)
    conv = le.stack([le.pad(kern, (i, 7 - i)) for i in range(8)])  # an (8, 10) window
    conv_ref = np.stack([np.pad(kern, (i, 7 - i)) for i in range(8)])
    return [
        ("einsum", le.lazy_einsum("ij,jk->ik", a, b), a @ b),
        ("sum", le.lazy(a) @ b + 2 * (le.lazy(a) @ b), 3 * (a @ b)),
        ("kron", le.kron(c, d), np.kron(c, d)),
        ("kron-eye", le.kron(le.eye(3), c), np.kron(np.eye(3), c)),
        ("pad", le.pad(c, ((1, 2), (3, 0)), constant_values=2.5),
         np.pad(c, ((1, 2), (3, 0)), constant_values=2.5)),
        ("stack", le.stack([c, 2 * le.lazy(c), le.lazy(c)[::-1]], axis=1),
         np.stack([c, 2 * c, c[::-1]], axis=1)),
        ("concat", le.concatenate([c, d.T], axis=1), np.concatenate([c, d.T], axis=1)),
        ("eye", le.eye(6, 5, k=1), np.eye(6, 5, k=1)),
        ("eye-sum", le.eye(6) * 2 - le.eye(6, k=-2), np.eye(6) * 2 - np.eye(6, k=-2)),
        ("window", conv, conv_ref),
        ("reshape", le.reshape(a, (3, 14)), a.reshape(3, 14)),
        ("transpose", le.lazy(a).T, a.T),
        ("diagonal", le.diagonal(le.lazy_einsum("ij,kl->ikjl", c, c).reshape(9, 16)[:9, :9]),
         np.diagonal(np.einsum("ij,kl->ikjl", c, c).reshape(9, 16)[:9, :9])),
    ]


OPERANDS = _operand_cases()
OPERAND_KEYS = [
    (slice(1, 4), slice(None, None, -1)), (slice(None, None, -1),), (2,), (-1, 1),
    (slice(1, None, 2), slice(5, 0, -2)), (None, slice(2, 5), None), (Ellipsis, -2),
    (slice(None, None, 3), 0), (slice(4, 0, -1), slice(1, 6, 3)),
]


@pytest.mark.parametrize("key", OPERAND_KEYS, ids=_key_id)
@pytest.mark.parametrize("name,t,ref", OPERANDS, ids=[c[0] for c in OPERANDS])
def test_index_of_every_op_matches_numpy(name, t, ref, key):
    try:
        expected = ref[key]
    except IndexError:
        with pytest.raises(IndexError):
            t[key]  # noqa: B018
        return
    got = t[key]
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert_like_numpy(got.compute(), np.asarray(expected))


@pytest.mark.parametrize("name,t,ref", OPERANDS, ids=[c[0] for c in OPERANDS])
def test_flip_and_roll_of_every_op_match_numpy(name, t, ref):
    for axis in (None, 0, -1, (0, 1))[:2 + 2 * (ref.ndim > 1)]:
        assert_like_numpy(le.flip(t, axis).compute(), np.flip(ref, axis))
    for shift, axis in ((1, None), (-3, 0), (4, 1), ((2, -1), (0, 1)), (7, (1, 1)))[
            :2 + 3 * (ref.ndim > 1)]:
        assert_like_numpy(le.roll(t, shift, axis).compute(), np.roll(ref, shift, axis))


def test_views_inside_every_op_match_numpy():
    """Indexed, flipped and rolled operands of einsum, kron, pad, stack and sums."""
    a, b = RNG.standard_normal((6, 7)), RNG.standard_normal((7, 5))
    fa, ra, sa = le.flip(a, 1), le.roll(a, 2, 0), le.lazy(a)[::-2, 1:]
    cases = [
        (fa @ b, np.flip(a, 1) @ b),
        (ra @ b, np.roll(a, 2, 0) @ b),
        (sa.T @ le.lazy(a)[::-2], a[::-2, 1:].T @ a[::-2]),
        (le.kron(fa, sa), np.kron(np.flip(a, 1), a[::-2, 1:])),
        (le.pad(ra, 2, constant_values=1), np.pad(np.roll(a, 2, 0), 2, constant_values=1)),
        (le.stack([fa, ra, a]), np.stack([np.flip(a, 1), np.roll(a, 2, 0), a])),
        (fa + ra - 3 * le.lazy(a)[::-1, ::-1],
         np.flip(a, 1) + np.roll(a, 2, 0) - 3 * a[::-1, ::-1]),
        (le.lazy_einsum("ii->i", le.flip(a[:6, :6], 0)), np.einsum("ii->i", np.flip(a[:6, :6], 0))),
        (le.trace(le.roll(le.eye(6), 1, 0) @ a), np.trace(np.roll(np.eye(6), 1, 0) @ a)),
        (le.reshape(le.flip(a), (42,))[::-5], np.flip(a).reshape(42)[::-5]),
    ]
    for t, ref in cases:
        assert t.shape == ref.shape
        assert_like_numpy(t.compute(), ref)


def test_flip_and_roll_forms_match_numpy():
    x = RNG.standard_normal((3, 4, 5))
    for axis in (None, 0, 1, 2, -1, (0, 2), (2, 0, 1), ()):
        assert_like_numpy(le.flip(x, axis).compute(), np.flip(x, axis))
    for shift, axis in ((0, None), (61, None), (-1, 2), ((1, 2), (0, 2)), (3, (0, 1, 2)),
                        ((1, 1), 1), (-13, -2)):
        assert_like_numpy(le.roll(x, shift, axis).compute(), np.roll(x, shift, axis))
    assert_like_numpy(le.roll(np.float64(2.0), 3).compute(), np.roll(np.float64(2.0), 3))
    assert_like_numpy(le.flip(np.arange(4)).compute(), np.arange(4)[::-1])


def test_errors_are_raised_when_built():
    t = le.lazy(A)
    for key in (4, -5, (0, 5), (0, 0, 6)):
        with pytest.raises(IndexError, match="out of bounds"):
            t[key]  # noqa: B018
    for key in (np.array([0, 1]), [0, 1], (0, [1]), A > 0, True, (slice(None), np.bool_(False)),
                t[0, 0, :2], 1.5):
        with pytest.raises(IndexError, match="integers, slices, None"):
            t[key]  # noqa: B018
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0, 0]  # noqa: B018
    with pytest.raises(IndexError, match="single ellipsis"):
        t[..., 0, ...]  # noqa: B018
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        t[::0]  # noqa: B018
    with pytest.raises(le.ShapeError, match="out of bounds"):
        le.flip(A, 3)
    with pytest.raises(le.ShapeError, match="repeated axis"):
        le.flip(A, (0, 0))
    with pytest.raises(le.ShapeError, match="do not broadcast"):
        le.roll(A, (1, 2), (0, 1, 2))
    with pytest.raises(le.ShapeError, match="out of bounds"):
        le.roll(A, 1, 5)
    with pytest.raises(TypeError, match="int"):
        le.roll(A, 1.5, 0)


def test_full_index_is_the_same_expression():
    t = le.lazy(A)
    assert t[:] is t and t[...] is t and t[:, ::1, 0:6] is t
    assert t[1:3].node is t[1:3].node  # interned
    assert "index[1:3:1" not in repr(t[1:3]) and "index[1:3" in repr(t[1:3])


def test_structural_zeros_stay_exact():
    """A flipped or rolled identity never multiplies its zeros: inf reaches only its row."""
    x = np.array([[1.0, np.inf], [2.0, 3.0], [4.0, 5.0]])
    got = (le.flip(le.eye(3), 0) @ x).compute()
    np.testing.assert_array_equal(got, np.flip(x, 0))
    got = (le.roll(le.eye(3), 1, 0) @ x).compute()
    np.testing.assert_array_equal(got, np.roll(x, 1, 0))
    got = (le.eye(3)[::-2] @ x).compute()
    assert not np.isnan(got).any()


def test_only_the_entries_asked_for_are_computed():
    """E[:5, :7] of a 20000 x 200 by 200 x 20000 product: 5 * 7 * 200 multiply-adds within
    1 MB (the product itself would be 3.2 GB)."""
    a, b = RNG.random((20000, 200)), RNG.random((200, 20000))
    e = le.lazy_einsum("ij,jk->ik", a, b)
    part = e[:5, :7]
    plan = part.explain(max_bytes="1MB")
    assert plan.flops == 2 * 5 * 7 * 200, str(plan)
    part.compute(max_bytes="1MB")
    got, working = traced_working_bytes(lambda: part.compute(max_bytes="1MB"))
    assert working < 2**20, working
    assert_like_numpy(got, a[:5] @ b[:, :7])
    # a column far away and reversed rows: the same work
    far = e[::-4000, -1]
    assert far.explain().flops == 2 * 5 * 200
    assert_like_numpy(far.compute(max_bytes="1MB"), a[::-4000] @ b[:, -1])


def test_index_of_kron_and_pad_is_index_arithmetic():
    """Slices of kron, pad, stack and eye results need nothing computed first."""
    c, d = RNG.standard_normal((30, 30)), RNG.standard_normal((40, 40))
    cases = [le.kron(c, d)[17:1000:1, 5:-3], le.kron(le.eye(30), d)[::-1, 55:77],
             le.pad(c, 5)[3:9, ::-2], le.stack([c, d[:30, :30]])[:, 3:, ::-1],
             le.eye(100, k=3)[10:20:3, ::-1]]
    for t in cases:
        plan = t.explain()
        assert not plan.materialized, str(plan)
    kron = le.kron(c, d)
    assert kron[17:1000].explain().flops <= 2 * (1000 - 17) * 1200


def test_dense_fallback_is_reported():
    """A merged axis sliced with a step that no view expresses: the operand is computed."""
    c, d = RNG.standard_normal((80, 3)), RNG.standard_normal((90, 2))
    t = le.kron(c, d)[::7]
    assert_like_numpy(t.compute(), np.kron(c, d)[::7])
    assert any("index" in m for m in t.explain().materialized), str(t.explain())


def test_flipped_window_is_the_convolution_with_the_kernel_reversed():
    kern, x = RNG.standard_normal(4), RNG.standard_normal(12)
    conv = le.stack([le.pad(kern, (i, 8 - i)) for i in range(9)])  # a correlation, 9 x 12
    flipped = le.flip(conv, 1) @ x
    reversed_kernel = le.stack([le.pad(kern[::-1], (i, 8 - i)) for i in range(9)])
    ref = np.correlate(x[::-1], kern, "valid")
    assert_like_numpy(flipped.compute(), ref)
    assert_like_numpy((le.flip(reversed_kernel, 0) @ x).compute(),
                      np.flip(np.correlate(x, kern[::-1], "valid")))
    plan = flipped.explain()
    assert plan.num_terms == 1 and not plan.materialized, str(plan)


def test_periodic_laplacian_from_rolled_identities_is_the_stencil():
    n = 64
    u = RNG.standard_normal(n * n)
    eye = le.eye(n)
    shift = le.roll(eye, 1, axis=0)
    second = shift + shift.T - 2 * eye
    lap = le.kron(second, eye) + le.kron(eye, second)
    big = np.reshape(u, (n, n))
    ref = (np.roll(big, 1, 0) + np.roll(big, -1, 0) + np.roll(big, 1, 1) + np.roll(big, -1, 1)
           - 4 * big).reshape(-1)
    plan = (lap @ u).explain()
    assert not plan.materialized, str(plan)
    assert plan.flops <= 20 * n * n, str(plan)
    assert_like_numpy((lap @ u).compute(max_bytes="64MB"), ref)


def test_describe_and_draw():
    t = le.lazy(A, name="A")[1, ::-2, None, 2:4]
    assert "index[1,4:-6:-2,None,2:4]" in repr(t) or "index[1,4:" in repr(t)
    assert "[1," in t.to_dot()


@pytest.mark.parametrize("shape, step", [((2, 4), 2), ((4, 4), 3), ((3, 3), -2)])
def test_strided_slice_of_a_merged_axis_times_one_entry(shape, step):
    """A term split into windows by a strided slice of a merged axis, times a plain view of
    the same source: the factors sort (a window's steps against a plain axis's)."""
    X = np.arange(float(np.prod(shape))).reshape(shape)
    r = le.reshape(le.lazy(X), (-1,))
    flat = X.ravel()
    for b in range(flat.size):
        assert_like_numpy((r[::step] * r[b]).compute(), flat[::step] * flat[b])


@pytest.mark.parametrize("cast", [
    lambda t: t.astype(np.float32), lambda t: t.astype(int), lambda t: t.astype(bool),
    lambda t: (t * 1j).real, lambda t: le.conj(t * (1 + 1j)),
])
def test_indexing_chooses_entries_before_a_cast(cast):
    """An entrywise map commutes with choosing entries: a cast of a big product, indexed,
    costs the entries asked for."""
    A, B = RNG.standard_normal((300, 40)), RNG.standard_normal((40, 300))
    E = le.lazy(A) @ B
    t = cast(E)[:5, :7]
    assert t.explain().flops <= 2 * 5 * 7 * 40 * 2, t.explain()
    assert_like_numpy(t.compute(max_bytes=4096), np.asarray(cast(E).compute())[:5, :7])


@pytest.mark.parametrize("name", ["flipped eye", "strided eye", "rolled eye", "padded"])
def test_kron_with_a_placed_or_reversed_factor_stays_a_view(name):
    """A kron merges each pair of axes: one placed at an offset, reversed or strided (a
    window) merges into a window of the kron's axis, computing nothing first."""
    A, B = RNG.standard_normal((3, 4)), RNG.standard_normal((2, 3))
    lazy, dense = {
        "flipped eye": (le.eye(5)[::-1], np.eye(5)[::-1]),
        "strided eye": (le.eye(6)[::2], np.eye(6)[::2]),
        "rolled eye": (le.roll(le.eye(5), 1, 0), np.roll(np.eye(5), 1, 0)),
        "padded": (le.pad(B, ((1, 0), (0, 2))), np.pad(B, ((1, 0), (0, 2)))),
    }[name]
    t = le.kron(A, lazy)
    x = RNG.standard_normal(t.shape[1])
    for expr, ref in ((t, np.kron(A, dense)), (t @ x, np.kron(A, dense) @ x),
                      (le.kron(lazy, A), np.kron(dense, A))):
        assert not expr.explain().materialized, expr.explain()
        assert_like_numpy(expr.compute(), ref)
