"""Accumulating terms into a result (lazyein/execute.py, backends/numpy.py's `write`): plain,
scaled, subtracted, broadcast, into sub-regions, the first term written rather than added,
in every dtype numpy has rules for. numpy is the oracle; tracemalloc checks that a scaled add
allocates no full-size temporary and stays within `max_bytes`."""

import numpy as np
import pytest

import lazyein as le
from lazyein.backends.numpy import NUMPY
from lazyein.steps import SLAB_BYTES, Accumulate, Zeros
from lazyein.testing import assert_like_numpy, traced_working_bytes

rng = np.random.default_rng(12)
MiB = 1 << 20

# big enough that a scaled add goes in slabs (over SLAB_BYTES in float64), and small
SHAPES = {"slabs": (700, 60), "small": (7, 5)}


def _arrays(dtype, shape, n=3):
    if np.dtype(dtype) == bool:
        return [rng.random(shape) < 0.5 for _ in range(n)]
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return [rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
                for _ in range(n)]
    if np.dtype(dtype).kind == "c":
        return [(rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
                for _ in range(n)]
    return [rng.standard_normal(shape).astype(dtype) for _ in range(n)]


def _accumulates(t: le.LazyTensor) -> list[Accumulate]:
    return [s for s in t.explain().steps if isinstance(s, Accumulate)]


# -- values: numpy's, dtype and all ---------------------------------------------------------

@pytest.mark.parametrize("size", list(SHAPES))
@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128", "int8", "uint8",
                                   "int64"])
def test_scaled_sums_match_numpy(dtype, size):
    a, b, c = _arrays(dtype, SHAPES[size])
    A, B, C = map(le.lazy, (a, b, c))
    with np.errstate(all="ignore"):  # integer results wrap, as numpy's do
        cases = [(A + 3 * B - 2 * C, a + 3 * b - 2 * c),
                 (A - B, a - b),                 # subtracted in place, exactly
                 (2 * A - B + C, 2 * a - b + c),  # a scaled first term, written in place
                 (-A - B, -a - b),
                 (A * 5 - C * 7, a * 5 - c * 7)]
        if np.dtype(dtype).kind in "fc":
            cases += [(A + 0.1 * B - 2 * C, a + 0.1 * b - 2 * c),  # NEP 50: float32 stays
                      (A / 3 + B * 2.5, a / 3 + b * 2.5)]
    for t, ref in cases:
        exact = np.dtype(dtype).kind in "iu"
        assert_like_numpy(t.compute(), ref, rtol=0 if exact else None)


def test_float32_with_python_scalars_rounds_as_numpy():
    # each term scaled in float32, then added in float32: numpy's own operations and order
    a, b, c = _arrays(np.float32, SHAPES["slabs"])
    got = (le.lazy(a) + 0.1 * le.lazy(b) - 2 * le.lazy(c)).compute()
    assert_like_numpy(got, a + 0.1 * b - 2 * c, rtol=0)
    assert_like_numpy((le.lazy(a) - le.lazy(b)).compute(), a - b, rtol=0)


@pytest.mark.parametrize("size", list(SHAPES))
def test_complex_coefficients_and_mixed_dtypes(size):
    a, b = _arrays(np.float64, SHAPES[size], 2)
    f, i = a.astype(np.float32), (10 * b).astype(np.int16)
    for t, ref in [
            (le.lazy(a) + (1 + 2j) * le.lazy(b), a + (1 + 2j) * b),
            (le.lazy(a) - 2j * le.lazy(b), a - 2j * b),
            (le.lazy(f) + np.float64(0.3) * le.lazy(f), f + np.float64(0.3) * f),
            (le.lazy(f) - le.lazy(a), f - a),          # -1 on a float64 term into float64
            (le.lazy(i) - le.lazy(f), i - f),          # an int16 term subtracted in float32
            (le.lazy(i) * 3 - le.lazy(i), i * 3 - i)]:
        assert_like_numpy(t.compute(), ref)


@pytest.mark.parametrize("size", list(SHAPES))
def test_bool_sums_or_as_numpy(size):
    a, b, c = _arrays(bool, SHAPES[size])
    A, B, C = map(le.lazy, (a, b, c))
    for t, ref in [(A + B + C, a + b + c), (True * A + B, True * a + b),
                   (A + 2 * B, a + 2 * b), (A + B * 1.5, a + b * 1.5)]:
        assert_like_numpy(t.compute(), ref, rtol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "complex64"])
def test_broadcast_terms(dtype):
    big, = _arrays(dtype, (700, 60), 1)
    row, = _arrays(dtype, (60,), 1)
    col, = _arrays(dtype, (700, 1), 1)
    with np.errstate(all="ignore"):
        for t, ref in [(le.lazy(big) + 3 * le.lazy(row), big + 3 * row),
                       (le.lazy(big) - le.lazy(col), big - col),
                       (2 * le.lazy(row) + le.lazy(big), 2 * row + big),  # broadcast first
                       (le.lazy(big) - 5 * le.lazy(col) + le.lazy(row),
                        big - 5 * col + row),
                       (le.lazy(big).T + 3 * le.lazy(big.T), big.T + 3 * big.T)]:
            assert_like_numpy(t.compute(), ref,
                              rtol=0 if np.dtype(dtype).kind == "i" else None)


@pytest.mark.parametrize("dtype", ["float64", "int16", "complex128"])
def test_sub_regions(dtype):
    x, y = _arrays(dtype, (400, 100), 2)
    small, = _arrays(dtype, (100, 30), 1)
    X, Y = le.lazy(x), le.lazy(y)
    with np.errstate(all="ignore"):
        cases = [
            (le.pad(2 * X, ((3, 5), (0, 7))) - le.pad(Y, ((8, 0), (7, 0))),
             np.pad(2 * x, ((3, 5), (0, 7))) - np.pad(y, ((8, 0), (7, 0)))),
            (le.concatenate([3 * X, X - Y]), np.concatenate([3 * x, x - y])),
            (le.stack([X - 3 * Y, 2 * X], axis=1), np.stack([x - 3 * y, 2 * x], axis=1)),
            (le.pad(le.lazy(small), ((0, 300), (40, 30))) * 3 + X,
             np.pad(small, ((0, 300), (40, 30))) * 3 + x)]
    for t, ref in cases:
        assert_like_numpy(t.compute(), ref, rtol=0 if dtype == "int16" else None)


@pytest.mark.parametrize("coeff", [1, 0.25, -1])
def test_kron_plus_identity_first_term_covers(coeff):
    # the kron term writes all of the result through a split region: the result is not
    # zeroed first, and its product is the result itself (adopted), not copied into it
    k1, k2 = rng.standard_normal((30, 30)), rng.standard_normal((20, 20))
    v = rng.standard_normal(600)
    t = (coeff * le.kron(k1, k2) + 0.5 * le.eye(600)) @ v
    assert_like_numpy(t.compute(), coeff * np.kron(k1, k2) @ v + 0.5 * v)
    steps = t.explain().steps
    zeros = [s for s in steps if isinstance(s, Zeros)]
    assert zeros and not any(z.fill for z in zeros), zeros
    first = _accumulates(t)[0]
    assert first.assign and (first.adopt is not None) == (coeff == 1), first


@pytest.mark.parametrize("budget", [None, "100KB", "40KB"])
def test_adopted_first_chunk_then_chunks_added(budget):
    # within the budget the chain is sliced over a summed label: its first chunk covers the
    # result and becomes it (adopted), the chunk loop adds the others into it
    a, b = rng.standard_normal((50, 2000)), rng.standard_normal((2000, 2000))
    c, d = rng.standard_normal((2000, 50)), rng.standard_normal((50, 50))
    t = le.lazy(a) @ le.lazy(b) @ le.lazy(c) - 3 * le.lazy(d)
    plan = t.explain(max_bytes=budget)
    assert _accumulates(t)[0].adopt is not None
    assert (plan.num_chunks > 1) == (budget is not None)
    t.compute(max_bytes=budget)
    result, working = traced_working_bytes(lambda: t.compute(max_bytes=budget))
    assert_like_numpy(result, a @ b @ c - 3 * d)
    assert working <= plan.peak_bytes + MiB


@pytest.mark.parametrize("first", ["sum", "product"])
def test_adopted_product_shared_with_another_root(first):
    # the kron's product is one root's value and the other root's first term: the root that
    # adds into it must not change the other's
    k1, k2, v = rng.standard_normal((20, 20)), rng.standard_normal((30, 30)), \
        rng.standard_normal(600)
    product, total = le.kron(k1, k2) @ v, (le.kron(k1, k2) + 0.5 * le.eye(600)) @ v
    want = {"product": np.kron(k1, k2) @ v, "sum": np.kron(k1, k2) @ v + 0.5 * v}
    order = ("sum", "product") if first == "sum" else ("product", "sum")
    roots = {"product": product, "sum": total}
    for name, got in zip(order, le.compute(*(roots[n] for n in order))):
        assert_like_numpy(got, want[name])


# -- memory: a scaled add allocates no full-size temporary -----------------------------------

def test_scaled_add_records_a_slab_scratch():
    a, b, c = _arrays(np.float64, (1 << 20,))  # 8 MiB each
    t = le.lazy(a) + 0.1 * le.lazy(b) - le.lazy(c)
    first, scaled, subtracted = _accumulates(t)
    assert first.assign and not first.scaled
    assert scaled.scaled and scaled.slab_rows is not None
    assert NUMPY.accumulate_scratch(scaled, t.shape) <= SLAB_BYTES
    assert subtracted.subtract and not subtracted.scaled
    assert NUMPY.accumulate_scratch(subtracted, t.shape) == 0


def test_scaled_add_allocates_no_full_size_temporary():
    a, b, c = _arrays(np.float64, (1 << 20,))
    t = le.lazy(a) + 0.1 * le.lazy(b) - 2 * le.lazy(c)
    t.compute()  # planned: what is measured below is the run alone
    result, working = traced_working_bytes(t.compute)
    assert_like_numpy(result, a + 0.1 * b - 2 * c)
    # each term scaled into one slab's scratch, not into a new 8 MiB array
    assert working < MiB, working
    assert t.explain().peak_bytes <= MiB


def test_write_scales_into_the_scratch_given():
    # numpy's write of a scaled slab: the scaled term lands in the scratch, no new array
    target, value = np.ones((200, 5)), np.arange(1000.0).reshape(200, 5)
    scratch = np.empty(700)
    got = NUMPY.write(target, target[:100], value[:100], 3.0, np.dtype(np.float64), False,
                      scratch)
    assert got is target
    np.testing.assert_array_equal(target[:100], 1 + 3 * value[:100])
    np.testing.assert_array_equal(target[100:], 1)
    np.testing.assert_array_equal(scratch[:500].reshape(100, 5), 3 * value[:100])


@pytest.mark.parametrize("name", ["axpy", "gp", "broadcast"])
def test_fused_accumulation_within_a_tight_budget(name):
    if name == "axpy":
        a, b, c = _arrays(np.float64, (1 << 20,))
        t, ref = le.lazy(a) + 0.1 * le.lazy(b) - 2 * le.lazy(c), a + 0.1 * b - 2 * c
    elif name == "gp":
        k1, k2 = rng.standard_normal((300, 300)), rng.standard_normal((200, 200))
        v = rng.standard_normal(60000)
        t = (le.kron(k1, k2) + 0.3 * le.eye(60000)) @ v
        ref = (k1 @ v.reshape(300, 200) @ k2.T).ravel() + 0.3 * v
    else:
        big, row = rng.standard_normal((2000, 300)), rng.standard_normal(300)
        t, ref = 0.5 * le.lazy(big) - 3 * le.lazy(row), 0.5 * big - 3 * row
    budget = t.explain().peak_bytes  # as tight as the plan goes
    t.compute(max_bytes=budget)
    result, working = traced_working_bytes(lambda: t.compute(max_bytes=budget))
    assert_like_numpy(result, ref)
    assert working <= budget + MiB, (working, budget, str(t.explain(max_bytes=budget)))
    # the scaled term adds no full-size temporary: none at all for a sum of inputs; for the
    # GP operator, the kron's two products only
    assert budget < (2 if name == "gp" else 1) * ref.nbytes + SLAB_BYTES, (budget, ref.nbytes)


# -- building: scaling's dtype is numpy's, asked once per kind of operands ---------------------

@pytest.mark.parametrize("dtype", ["int8", "uint8", "float32", "float64", "complex64", "bool"])
@pytest.mark.parametrize("scalar", [2, -1, 1000, 2**70, 0.5, 1e300, 2j, True,
                                    np.float32(3), np.int64(7), np.float64(0.25)])
def test_scaling_dtypes_and_errors_are_numpy_s_every_time(dtype, scalar):
    x = np.ones(3, dtype)
    for _ in range(2):  # the second time answered from what the first one learned
        for build, eager in [(lambda: scalar * le.lazy(x), lambda: scalar * x),
                             (lambda: le.lazy(x) * scalar, lambda: x * scalar),
                             (lambda: le.lazy(x) / scalar, lambda: x / scalar)]:
            try:
                with np.errstate(all="ignore"):
                    ref = eager()
            except (OverflowError, TypeError) as error:
                with pytest.raises(type(error)):
                    build()
                continue
            assert build().dtype == ref.dtype, (dtype, scalar)


def test_subtract_keeps_numpy_s_dtype_and_errors():
    i8, u8, b = np.ones(3, np.int8), np.ones(3, np.uint8), np.ones(3, bool)
    assert (le.lazy(u8) - le.lazy(u8)).dtype == np.uint8
    assert (le.lazy(i8) - le.lazy(u8)).dtype == (i8 - u8).dtype
    assert (le.lazy(i8) - 1).dtype == np.int8
    with pytest.raises(TypeError, match="boolean subtract"):
        le.lazy(b) - le.lazy(b)
    with pytest.raises(le.ShapeError, match="subtract"):
        le.lazy(np.ones(3)) - le.lazy(np.ones(4))
