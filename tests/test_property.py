"""Property tests: random lazyein expression DAGs agree with numpy in value, shape and dtype."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyein as le
import strategies
from lazyein import testing

_SETTINGS = strategies.deterministic()


# Headroom over the process's current address space while a test runs: a runaway allocation
# then fails that one test with MemoryError instead of getting the whole run OOM-killed.
_MEMORY_MARGIN = 512 << 20


@pytest.fixture(autouse=True)
def _bounded_memory():
    """Cap the address space at its current size plus ``_MEMORY_MARGIN`` for one test (Linux)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError, ValueError):  # not Linux: run unbounded
        yield
        return
    limit = used + _MEMORY_MARGIN
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _copies(case):
    return {name: x.copy() for name, x in case.inputs.items()}


def _check_metadata(t, ref):
    """Shape, dtype, ndim, size and nbytes are known before computing, and are numpy's."""
    assert isinstance(t, le.LazyTensor), type(t)
    assert t.shape == ref.shape, (t.shape, ref.shape)
    assert isinstance(t.shape, tuple), type(t.shape)
    assert t.dtype == ref.dtype, (t.dtype, ref.dtype)
    assert t.ndim == ref.ndim
    assert t.size == ref.size
    assert t.nbytes == ref.nbytes


def _check_value(got, ref, bound, rtol=None):
    """``got`` is an ndarray equal to ``ref`` up to rounding at the scale ``bound`` of its terms.

    ``rtol`` defaults to the tolerance of ``ref``'s dtype; a case passes its own, which is
    float32's when numpy rounded to float32 on the way to a float64 result.
    """
    testing.assert_like_numpy(got, ref, rtol, bound)


def _check_inputs_unchanged(case, before):
    for name, x in case.inputs.items():
        np.testing.assert_array_equal(x, before[name], err_msg=f"input {name} was modified")
        assert x.dtype == before[name].dtype


def _check_case(case):
    before = _copies(case)
    t = case.lazy
    _check_metadata(t, case.ref)
    _check_value(t.compute(), case.ref, case.bound, case.rtol)
    _check_inputs_unchanged(case, before)


@pytest.mark.parametrize("op", sorted(strategies.OPERATIONS))
@settings(max_examples=100, **_SETTINGS)
@given(data=st.data())
def test_operation_matches_numpy(op, data):
    """Each operation family alone (one or two applications, on fresh leaves) matches numpy."""
    _check_case(data.draw(strategies.exprs(max_ops=2, ops=(op,)), label="case"))


@settings(max_examples=1000, **_SETTINGS)
@given(case=strategies.exprs(min_ops=3, max_ops=7))
def test_dag_matches_numpy(case):
    """Random DAGs mixing every operation: value, shape, dtype, metadata, inputs untouched."""
    _check_case(case)


@settings(max_examples=400, **_SETTINGS)
@given(
    case=strategies.exprs(
        min_ops=1, max_ops=4, dtypes=("float32", "int64", "complex128", "float64")
    )
)
def test_dtype_promotion_matches_numpy(case):
    """Mixed input dtypes with Python and numpy scalars: numpy's promotion rules (NEP 50)."""
    _check_case(case)


_SCALARS = (
    2,
    -3,
    0.5,
    1j,
    np.float64(1.5),
    np.float32(0.5),
    np.int64(3),
    np.int32(2),
    np.complex64(1j),
)
_SCALAR_FORMS = {
    "t + c": lambda t, c: t + c,
    "c + t": lambda t, c: c + t,
    "t - c": lambda t, c: t - c,
    "c - t": lambda t, c: c - t,
    "t * c": lambda t, c: t * c,
    "c * t": lambda t, c: c * t,
    "t / c": lambda t, c: t / c,
    "le.add(t, c)": lambda t, c: le.add(t, c) if isinstance(t, le.LazyTensor) else np.add(t, c),
    "le.subtract(c, t)": lambda t, c: (
        le.subtract(c, t) if isinstance(t, le.LazyTensor) else np.subtract(c, t)
    ),
    "le.multiply(t, c)": lambda t, c: (
        le.multiply(t, c) if isinstance(t, le.LazyTensor) else np.multiply(t, c)
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "complex128", "complex64"])
def test_scalar_promotion_table(dtype):
    """Every scalar operator with every kind of scalar follows NEP 50, exhaustively.

    Python scalars are weak (float32 array + 1.5 stays float32); numpy scalars are strong
    (float32 array + np.float64(1.5) is float64).
    """
    x = np.arange(1, 7, dtype=dtype).reshape(2, 3)
    wrong = []
    for form, f in _SCALAR_FORMS.items():
        for c in _SCALARS:
            want = np.asarray(f(x, c))
            t = f(le.lazy(x), c)
            got = t.compute()
            if not (t.dtype == got.dtype == want.dtype and got.shape == want.shape):
                wrong.append(
                    f"{form} with c={c!r}: lazy dtype {t.dtype}, computed {got.dtype}, "
                    f"numpy {want.dtype}"
                )
            else:
                rtol = testing.tolerance(want.dtype)
                if not np.allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max()):
                    wrong.append(f"{form} with c={c!r}: {got.tolist()} != numpy {want.tolist()}")
    assert not wrong, (
        f"x = np.arange(1, 7, dtype={dtype!r}).reshape(2, 3); t = le.lazy(x)\n" + "\n".join(wrong)
    )


@settings(max_examples=200, **_SETTINGS)
@given(case=strategies.exprs(min_ops=1, max_ops=4, share=True))
def test_shared_subexpression_matches_numpy(case):
    """A node used twice by the same operation (S * S, einsum over S and S, stack([S, S]), ...)."""
    _check_case(case)


@settings(max_examples=100, **_SETTINGS)
@given(case=strategies.problem_cases())
def test_problem_scenarios_match_numpy(case):
    """Small PROBLEMS.md scenarios: kron with eye, sums under einsum, convolution."""
    _check_case(case)


@pytest.mark.parametrize("squarings", [1, 2, 3, 4])
def test_power_of_one_node(squarings):
    """A product of 2**k copies of one node matches numpy's (and is planned in bounded time).

    Built three ways: ``t = t * t`` k times, ``t = le.einsum('i,i->i', t, t)`` k times, and one
    einsum over 2**k copies of the leaf.
    """
    x = np.array([1.0, -2.0, 0.5])
    n = 2**squarings
    want = x**n
    t1 = t2 = le.lazy(x)
    for _ in range(squarings):
        t1, t2 = t1 * t1, le.einsum("i,i->i", t2, t2)
    t3 = le.einsum(",".join(["i"] * n) + "->i", *[le.lazy(x)] * n)
    for t in (t1, t2, t3):
        _check_value(t.compute(), want, float(np.abs(want).max()))


@settings(max_examples=60, **_SETTINGS)
@given(case=strategies.exprs(max_ops=4))
def test_asarray_equals_compute(case):
    """np.asarray(t) and np.array(t) compute, and give what t.compute() gives."""
    t = case.lazy
    got = t.compute()
    for other in (np.asarray(t), np.array(t)):
        assert isinstance(other, np.ndarray)
        assert other.dtype == got.dtype and other.shape == got.shape
        np.testing.assert_array_equal(other, got)
    _check_value(got, case.ref, case.bound, case.rtol)


@settings(max_examples=150, **_SETTINGS)
@given(case=strategies.exprs(min_ops=2, max_ops=5, outputs=3))
def test_compute_many_equals_individual(case):
    """le.compute(t1, t2, t3) returns a tuple equal to the individual computes."""
    before = _copies(case)
    ts = case.build()
    together = le.compute(*ts)
    assert isinstance(together, tuple) and len(together) == len(ts)
    for t, got, ref, bound, rtol in zip(ts, together, case.refs, case.bounds, case.rtols):
        _check_metadata(t, ref)
        _check_value(got, ref, bound, rtol)
        _check_value(t.compute(), ref, bound, rtol)
    _check_inputs_unchanged(case, before)


@settings(max_examples=150, **_SETTINGS)
@given(case=strategies.exprs(max_ops=4), data=st.data())
def test_memory_layout_does_not_matter(case, data):
    """The same expression on inputs of equal values but other strides (Fortran, reversed,
    strided views) gives the same result, also right after a computation on the first layout."""
    first = case.lazy.compute()
    _check_value(first, case.ref, case.bound, case.rtol)
    layouts = {
        name: data.draw(st.sampled_from(testing.LAYOUTS), label=name) for name in case.inputs
    }
    inputs = {name: testing.relayout(x, layouts[name])[0] for name, x in case.inputs.items()}
    (t,) = case.build(inputs)[:1]
    _check_value(t.compute(), case.ref, case.bound, case.rtol)


@settings(max_examples=60, **_SETTINGS)
@given(case=strategies.exprs(max_ops=4))
def test_compute_into_out(case):
    """compute(out=...) writes the result into ``out`` and returns it."""
    t = case.lazy
    out = np.full(case.ref.shape, 7, dtype=case.ref.dtype)
    assert t.compute(out=out) is out
    _check_value(out, case.ref, case.bound, case.rtol)
