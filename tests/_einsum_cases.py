"""Shared by the einsum conformance tests: operands, and ``check`` of le.einsum against numpy.

Every value check builds ``t = le.einsum(*args)`` and compares ``t.compute()`` and
``np.asarray(t)`` with ``np.einsum(*args)`` on copies of the same inputs: values, shape and
dtype (the result dtype must equal numpy's).  It also checks that ``t.shape``/``t.dtype`` are
numpy's and that no input (array or sublist) was modified.
"""

import numpy as np

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
