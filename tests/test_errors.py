"""Error contract (API.md "Errors", STYLE.md section 6): the right class, raised at the right time,
with a message that quotes the offending value.

Every bad call is a row of a table.  Build-time rows are lambdas that only *build*: the error
must come from the building call itself, never later from ``compute``.  Compute-time rows build
first (which must succeed) and then expect ``compute`` to raise.  Each row's ``match`` regex
names the fragment a helpful message must contain -- the offending value, label, axis or shape
-- so a bare ``ValueError("bad input")`` fails the row.

Expected classes are API.md's: ``SubscriptError`` for malformed subscripts and operand counts,
``ShapeError`` for shapes (and axes) that do not fit, ``TypeError`` for type problems (as numpy
does), ``NotImplementedError`` for unsupported pad modes, ``ValueError`` for a bad ``max_bytes``,
``MemoryBudgetError`` for a budget that no plan can meet.
"""

import re
import tracemalloc

import numpy as np
import pytest

import lazyein as le


# ----------------------------------------------------------------------------- helpers
def L(*shape, dtype=np.float64):
    """A lazy leaf of ones with `shape`."""
    return le.lazy(np.ones(shape, dtype))


def shp(*dims):
    """Regex for a shape as a message may print it: ``(2, 3)``, ``(2,3)``, ``[2, 3]``, ``(4,)``."""
    body = r",\s*".join(str(d) for d in dims)
    return rf"[(\[]{body},?\s*[)\]]"


def val(x):
    """Regex for a number or word standing alone (``7`` must not match inside ``17``, ``-7``
    or ``7.5``)."""
    return rf"(?<![\w.-]){re.escape(str(x))}(?![\w]|\.\d)"


def allof(*fragments):
    """Regex matching a message that contains every fragment, in any order."""
    return "(?s)" + "".join(f"(?=.*?(?:{f}))" for f in fragments)


def _fail_if_not_raised(built):
    """Reached only when the build did not raise: say whether the error was merely deferred."""
    if isinstance(built, le.LazyTensor):
        try:
            built.compute()
        except Exception as e:  # noqa: BLE001 -- we report whatever compute raised
            pytest.fail(f"the building call returned {built!r}; the error surfaced only at "
                        f"compute: {type(e).__name__}: {e}")
    pytest.fail(f"the building call did not raise; it returned {built!r}")


# ----------------------------------------------------------------------------- build-time table
S, Sh, T = le.SubscriptError, le.ShapeError, TypeError

BUILD_ROWS = [
    # -- leaves
    pytest.param(lambda: le.lazy(["a", "b"]), T, allof("U1|str"), id="lazy-str-data"),
    pytest.param(lambda: le.lazy(np.array([object(), 1], dtype=object)), T, "object",
                 id="lazy-object-data"),
    pytest.param(lambda: le.lazy(np.ones(3), name=3), T, val("int"), id="lazy-int-name"),
    pytest.param(lambda: le.lazy(np.ones(3), name=b"A"), T, "bytes", id="lazy-bytes-name"),
    pytest.param(lambda: le.eye(-3), Sh, val(-3), id="eye-negative-N"),
    pytest.param(lambda: le.eye(3, M=-2), Sh, val(-2), id="eye-negative-M"),
    pytest.param(lambda: le.eye(3, k=1.5), T, val(1.5), id="eye-float-k"),
    pytest.param(lambda: le.eye(2.5), T, val(2.5), id="eye-float-N"),
    pytest.param(lambda: le.eye(3, dtype=str), T, "U|str", id="eye-str-dtype"),
    # -- einsum: malformed subscripts
    pytest.param(lambda: le.einsum("ij->jk->k", L(2, 3)), S, "->", id="einsum-two-arrows"),
    pytest.param(lambda: le.einsum("ij-k", L(2, 3)), S, re.escape("ij-k"), id="einsum-lone-dash"),
    pytest.param(lambda: le.einsum("i$j", L(2, 3)), S, re.escape("$"), id="einsum-bad-char"),
    pytest.param(lambda: le.einsum("i.j", L(2, 3)), S, allof(re.escape("i.j"), r"\.\.\.|'\.'"),
                 id="einsum-broken-ellipsis"),
    pytest.param(lambda: le.einsum("ij->ik", L(2, 3)), S, val("k"),
                 id="einsum-unknown-output-label"),
    pytest.param(lambda: le.einsum("ij->ii", L(2, 3)), S, allof(val("i"), "repeat|multiple|twice"),
                 id="einsum-repeated-output-label"),
    pytest.param(lambda: le.einsum(L(2, 3), [0, -1]), S, val(-1), id="einsum-sublist-label-range"),
    # -- einsum: operand count and dimension count
    pytest.param(lambda: le.einsum("ij,jk->ik", L(2, 3)), S, allof(val(2), val(1)),
                 id="einsum-too-few-operands"),
    pytest.param(lambda: le.einsum("ij", L(2, 3), L(2, 3)), S, allof(val(1), val(2)),
                 id="einsum-too-many-operands"),
    pytest.param(lambda: le.einsum("ij", L(2, 3, 4)), S, allof("ij", val(3)),
                 id="einsum-operand-has-more-dims"),
    pytest.param(lambda: le.einsum("ijk", L(2, 3)), S, allof("ijk", val(2)),
                 id="einsum-operand-has-fewer-dims"),
    pytest.param(lambda: le.einsum("...ij->ij", L(5, 2, 3)), S, re.escape("..."),
                 id="einsum-output-drops-ellipsis"),
    # -- einsum: sizes
    pytest.param(lambda: le.einsum("ij,jk->ik", L(2, 3), L(4, 5)), Sh,
                 allof(val("j"), val(3), val(4)), id="einsum-label-size-clash"),
    pytest.param(lambda: le.einsum("ii", L(2, 3)), Sh, allof(val("i"), val(2), val(3)),
                 id="einsum-diagonal-unequal"),
    pytest.param(lambda: le.einsum("...i,...i", L(2, 3), L(4, 3)), Sh, allof(val(2), val(4)),
                 id="einsum-ellipsis-no-broadcast"),
    pytest.param(lambda: le.einsum("i", ["a", "b"]), T, "U1|str", id="einsum-str-operand"),
    # -- elementwise
    pytest.param(lambda: le.add(L(2, 3), L(4)), Sh, allof(shp(2, 3), shp(4)),
                 id="add-no-broadcast"),
    pytest.param(lambda: L(2, 3) + L(3, 2), Sh, allof(shp(2, 3), shp(3, 2)),
                 id="plus-no-broadcast"),
    pytest.param(lambda: np.ones((2, 3)) + L(4), Sh, allof(shp(2, 3), shp(4)),
                 id="ndarray-plus-lazy-no-broadcast"),
    pytest.param(lambda: le.subtract(L(2, 3), L(5)), Sh, allof(shp(2, 3), shp(5)),
                 id="subtract-no-broadcast"),
    pytest.param(lambda: le.multiply(L(2, 3), L(2)), Sh, allof(shp(2, 3), shp(2)),
                 id="multiply-no-broadcast"),
    pytest.param(lambda: L(4, 1, 3) * L(2, 4), Sh, allof(shp(4, 1, 3), shp(2, 4)),
                 id="times-no-broadcast"),
    pytest.param(lambda: le.subtract(L(3, dtype=bool), L(3, dtype=bool)), T, "bool",
                 id="bool-subtract"),
    pytest.param(lambda: L(3, dtype=bool) - np.ones(3, bool), T, "bool", id="bool-minus-operator"),
    pytest.param(lambda: -L(3, dtype=bool), T, "bool", id="bool-negate"),
    pytest.param(lambda: L(3) / L(3), T, "LazyTensor", id="divide-by-lazy"),
    pytest.param(lambda: L(3) / np.ones(3), T, "ndarray", id="divide-by-ndarray"),
    pytest.param(lambda: 2.0 / L(3), T, "LazyTensor", id="scalar-divided-by-lazy"),
    pytest.param(lambda: L(3) * "x", T, "str|U1", id="times-str"),
    pytest.param(lambda: L(3) + "x", T, "str|U1", id="plus-str"),
    # -- products
    pytest.param(lambda: le.matmul(le.lazy(np.float64(2.0)), L(3)), Sh,
                 "0-d|0 dim|scalar|operand 0",
                 id="matmul-0d-left"),
    pytest.param(lambda: L(3) @ 2.0, Sh, "0-d|0 dim|scalar|operand 1", id="matmul-0d-right"),
    pytest.param(lambda: L(2, 3) @ L(7, 5), Sh, allof(val(3), val(7)), id="matmul-inner-mismatch"),
    pytest.param(lambda: np.ones((2, 3)) @ L(7), Sh, allof(val(3), val(7)),
                 id="ndarray-matmul-lazy-mismatch"),
    pytest.param(lambda: le.matmul(L(2, 3, 4), L(5, 4, 6)), Sh, allof(val(2), val(5)),
                 id="matmul-batch-no-broadcast"),
    pytest.param(lambda: le.dot(L(2, 3), L(4, 5)), Sh, allof(val(3), val(4)), id="dot-misaligned"),
    pytest.param(lambda: le.dot(L(3), L(6)), Sh, allof(val(3), val(6)), id="dot-1d-misaligned"),
    pytest.param(lambda: le.tensordot(L(2, 3), L(3, 4), axes=3), Sh, val(3),
                 id="tensordot-too-many-axes"),
    pytest.param(lambda: le.tensordot(L(2, 3), L(4, 5), axes=([1], [0])), Sh, allof(val(3), val(4)),
                 id="tensordot-size-mismatch"),
    pytest.param(lambda: le.tensordot(L(2, 3), L(3, 4), axes=([9], [0])), Sh, val(9),
                 id="tensordot-axis-out-of-range"),
    pytest.param(lambda: le.tensordot(L(2, 3), L(2, 3), axes=([0, 1], [0])), Sh,
                 allof(val(2), val(1)), id="tensordot-unpaired-axes"),
    pytest.param(lambda: le.kron(["a"], np.ones(2)), T, "U1|str", id="kron-str"),
    # -- structure
    pytest.param(lambda: le.transpose(L(2, 3, 4), (0, 0, 1)), Sh, shp(0, 0, 1),
                 id="transpose-not-permutation"),
    pytest.param(lambda: le.transpose(L(2, 3, 4), (1, 0)), Sh, shp(1, 0),
                 id="transpose-wrong-length"),
    pytest.param(lambda: L(2, 3).transpose(0, 7), Sh, val(7), id="transpose-axis-out-of-range"),
    pytest.param(lambda: le.moveaxis(L(2, 3, 4), 0, 7), Sh, val(7),
                 id="moveaxis-destination-range"),
    pytest.param(lambda: le.moveaxis(L(2, 3, 4), -9, 0), Sh, val(-9), id="moveaxis-source-range"),
    pytest.param(lambda: le.moveaxis(L(2, 3, 4), [0, 0], [1, 2]), Sh,
                 allof("repeat|duplicate", "source", shp(0, 0)),
                 id="moveaxis-repeated-source"),
    pytest.param(lambda: le.swapaxes(L(2, 3, 4), 0, 7), Sh, val(7), id="swapaxes-out-of-range"),
    pytest.param(lambda: le.swapaxes(L(2, 3, 4), 0, 1.0), T, val(1.0), id="swapaxes-float-axis"),
    pytest.param(lambda: le.moveaxis(L(2, 3, 4), [0, 1], [2]), Sh, allof(val(2), val(1)),
                 id="moveaxis-count-mismatch"),
    pytest.param(lambda: le.transpose(L(2, 3), (0, 1.5)), T, val(1.5), id="transpose-float-axis"),
    pytest.param(lambda: le.reshape(L(2, 3), (4, 2)), Sh, allof(shp(4, 2), val(6)),
                 id="reshape-incompatible"),
    pytest.param(lambda: L(2, 3).reshape(5, -1), Sh, allof(shp(5, -1), val(6)),
                 id="reshape-minus-one-indivisible"),
    pytest.param(lambda: le.reshape(L(2, 3), (-1, -1)), Sh, shp(-1, -1),
                 id="reshape-two-minus-ones"),
    pytest.param(lambda: le.reshape(L(2, 3), (2.0, 3)), T, val(2.0), id="reshape-float-dim"),
    pytest.param(lambda: le.pad(L(2, 3), -1), Sh, val(-1), id="pad-negative-width"),
    pytest.param(lambda: le.pad(L(2, 3), ((1, 1), (1, -2))), Sh, val(-2),
                 id="pad-negative-width-in-pair"),
    pytest.param(lambda: le.pad(L(2, 3), ((1, 1), (1, 1), (1, 1))), Sh,
                 re.escape("((1, 1), (1, 1), (1, 1))"), id="pad-width-wrong-shape"),
    pytest.param(lambda: le.pad(L(2, 3), 1.5), T, val(1.5), id="pad-float-width"),
    pytest.param(lambda: le.pad(L(2, 3), 1, mode="reflect"), NotImplementedError, "reflect",
                 id="pad-mode-reflect"),
    pytest.param(lambda: le.pad(L(2, 3), 1, mode="edge"), NotImplementedError, "edge",
                 id="pad-mode-edge"),
    pytest.param(lambda: le.stack([L(2, 3), L(3, 2)]), Sh, allof(shp(2, 3), shp(3, 2)),
                 id="stack-unequal-shapes"),
    pytest.param(lambda: le.stack([]), Sh, "at least one|empty", id="stack-empty"),
    pytest.param(lambda: le.stack([L(2, 3), L(2, 3)], axis=5), Sh, val(5), id="stack-axis-range"),
    pytest.param(lambda: le.concatenate([L(2, 3), L(2, 4)]), Sh, allof(shp(2, 3), shp(2, 4)),
                 id="concatenate-mismatch"),
    pytest.param(lambda: le.concatenate([L(2, 3), L(3)]), Sh, allof(shp(2, 3), shp(3)),
                 id="concatenate-ndim-mismatch"),
    pytest.param(lambda: le.concatenate([le.lazy(1.0), le.lazy(2.0)]), Sh,
                 "zero-dimensional|0-d|0 dim", id="concatenate-0d"),
    pytest.param(lambda: le.concatenate([]), Sh, "at least one|empty", id="concatenate-empty"),
    pytest.param(lambda: le.concatenate([L(2, 3), L(2, 3)], axis=9), Sh, val(9),
                 id="concatenate-axis-range"),
    # -- reductions (einsums)
    pytest.param(lambda: L(2, 3).sum(axis=7), Sh, val(7), id="sum-axis-out-of-range"),
    pytest.param(lambda: L(2, 3).sum(axis=(0, 0)), Sh, allof("repeat|duplicate", val(0)),
                 id="sum-repeated-axis"),
    pytest.param(lambda: L(2, 3).sum(axis=1.0), T, val(1.0), id="sum-float-axis"),
    pytest.param(lambda: le.diagonal(L(3)), Sh, allof("2", shp(3)), id="diagonal-1d"),
    pytest.param(lambda: le.diagonal(L(2, 3), axis1=1, axis2=-1), Sh,
                 allof("same|equal|differ", val(1), val(-1)),
                 id="diagonal-same-axes"),
    pytest.param(lambda: le.diagonal(L(2, 3), axis1=0, axis2=7), Sh, val(7),
                 id="diagonal-axis-out-of-range"),
    pytest.param(lambda: le.diagonal(L(2, 3), offset=1.5), T, val(1.5), id="diagonal-float-offset"),
    pytest.param(lambda: le.trace(L(2, 3), axis1=0, axis2=5), Sh, val(5),
                 id="trace-axis-out-of-range"),
    pytest.param(lambda: le.trace(L(4)), Sh, shp(4), id="trace-1d"),
    pytest.param(lambda: len(le.lazy(np.float64(1.0))), T, "0-d|unsized|len", id="len-of-0d"),
]


@pytest.mark.parametrize("build, exc, match", BUILD_ROWS)
def test_bad_build_raises_at_build_time(build, exc, match):
    with pytest.raises(exc, match=match):
        _fail_if_not_raised(build())


# ----------------------------------------------------------------------------- compute-time table
def _chain(n=4):
    """A matrix chain: every contraction order has an n-by-n intermediate."""
    rng = np.random.default_rng(0)
    A, B, C = (rng.standard_normal((n, n)) for _ in range(3))
    return le.einsum("ij,jk,kl->il", A, B, C), (A, B, C)


def _small():
    return le.lazy(np.arange(6.0).reshape(2, 3)) @ le.lazy(np.ones((3, 4)))


def _read_only(shape):
    out = np.zeros(shape)
    out.flags.writeable = False
    return out


COMPUTE_ROWS = [
    pytest.param(lambda t: t.compute(max_bytes="lots"), ValueError, "lots", id="max_bytes-word"),
    pytest.param(lambda t: t.compute(max_bytes="12XB"), ValueError, "12XB",
                 id="max_bytes-bad-unit"),
    pytest.param(lambda t: t.compute(max_bytes="-5MB"), ValueError, "-5MB",
                 id="max_bytes-negative-string"),
    pytest.param(lambda t: t.compute(max_bytes="1.2.3GB"), ValueError, re.escape("1.2.3GB"),
                 id="max_bytes-two-dots"),
    pytest.param(lambda t: t.compute(max_bytes=""), ValueError, "''|\"\"|empty",
                 id="max_bytes-empty-string"),
    pytest.param(lambda t: t.compute(max_bytes=-1), ValueError, val(-1), id="max_bytes-negative"),
    pytest.param(lambda t: t.compute(max_bytes=True), T, "bool", id="max_bytes-bool"),
    pytest.param(lambda t: t.compute(max_bytes=[64]), T, "list", id="max_bytes-list"),
    pytest.param(lambda t: le.compute(t, t.T, max_bytes="lots"), ValueError, "lots",
                 id="le.compute-max_bytes-word"),
    pytest.param(lambda t: le.compute(t, max_bytes=-7), ValueError, val(-7),
                 id="le.compute-max_bytes-negative"),
    pytest.param(lambda t: t.explain(max_bytes="lots"), ValueError, "lots",
                 id="explain-max_bytes-word"),
    pytest.param(lambda t: t.compute(out=np.empty((4, 2))), Sh, allof(shp(4, 2), shp(2, 4)),
                 id="out-wrong-shape"),
    pytest.param(lambda t: t.compute(out=np.empty(8)), Sh, allof(shp(8), shp(2, 4)),
                 id="out-wrong-ndim"),
    pytest.param(lambda t: t.compute(out=np.empty((2, 4), np.int64)), T, allof("int64", "float64"),
                 id="out-int-dtype"),
    pytest.param(lambda t: t.compute(out=np.empty((2, 4), np.float32)), T,
                 allof("float32", "float64"), id="out-float32-dtype"),
    pytest.param(lambda t: (t * 1j).compute(out=np.empty((2, 4))), T, allof("complex128",
                 "float64"),
                 id="out-complex-into-float"),
    pytest.param(lambda t: t.compute(out=[[0.0] * 4] * 2), T, "list", id="out-not-ndarray"),
    pytest.param(lambda t: t.compute(out=_read_only((2, 4))), ValueError, "read-only|writeable",
                 id="out-read-only"),
    pytest.param(lambda t: t.compute(max_bytes=1), le.MemoryBudgetError, "max_bytes|budget|bytes",
                 id="max_bytes-impossible"),
]


@pytest.mark.parametrize("run, exc, match", COMPUTE_ROWS)
def test_bad_compute_argument(run, exc, match):
    t = _chain()[0] if exc is le.MemoryBudgetError else _small()
    with pytest.raises(exc, match=match):
        run(t)


# ----------------------------------------------------------------------------- hierarchy
@pytest.mark.parametrize("cls, bases", [
    (le.LazyeinError, (Exception,)),
    (le.SubscriptError, (le.LazyeinError, ValueError)),
    (le.ShapeError, (le.LazyeinError, ValueError)),
    (le.MemoryBudgetError, (le.LazyeinError, MemoryError)),
], ids=lambda x: getattr(x, "__name__", None))
def test_error_bases(cls, bases):
    for base in bases:
        assert issubclass(cls, base), f"{cls.__name__} must subclass {base.__name__}"
    assert cls.__name__ in le.__all__


def test_package_errors_are_not_confused():
    # a shape fault is not a budget fault, and vice versa
    assert not issubclass(le.ShapeError, MemoryError)
    assert not issubclass(le.MemoryBudgetError, ValueError)


# ----------------------------------------------------------------------------- memory budget
_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30}
_SIZE = re.compile(r"(?<![\w.])(\d+(?:[,_]\d{3})*(?:\.\d+)?)\s*(bytes?|[kKmMgG]i?B|B)?(?![\w])")


def _named_budgets(message, given):
    """Byte counts a message names, except the budget we passed, smallest first."""
    found = set()
    for number, unit in _SIZE.findall(message):
        value = float(number.replace(",", "").replace("_", ""))
        found.add(int(np.ceil(value * _UNITS[(unit or "").lower()])))
    return sorted(b for b in found if b > given)


# the chain's n-by-n intermediate is 2 MiB: well above what planning alone allocates (a cold
# first plan of it takes up to ~450 KB, which at n = 256 came close to half an intermediate)
N_BIG = 512


def test_impossible_budget_fails_before_heavy_work():
    t, _ = _chain(N_BIG)
    intermediate = N_BIG * N_BIG * 8
    tracemalloc.start()
    try:
        with pytest.raises(le.MemoryBudgetError) as info:
            t.compute(max_bytes=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < intermediate // 2, (
        f"compute allocated {peak:,} bytes before refusing max_bytes=1; an n-by-n "
        f"intermediate is {intermediate:,}: the refusal must come before evaluation")
    assert isinstance(info.value, MemoryError)
    assert _named_budgets(str(info.value), given=1), (
        f"the message must name the smallest budget that would work: {info.value}")


@pytest.mark.parametrize("with_out", [False, True], ids=["plain", "out="])
def test_retry_with_the_named_budget_succeeds(with_out):
    t, (A, B, C) = _chain(64)
    out = np.empty(t.shape, t.dtype) if with_out else None
    with pytest.raises(le.MemoryBudgetError) as info:
        t.compute(max_bytes=1, out=out)
    budgets = _named_budgets(str(info.value), given=1)
    assert budgets, f"no budget named in: {info.value}"
    errors = []
    for budget in budgets:  # the named budget is one of these; smaller ones may fail
        try:
            result = t.compute(max_bytes=budget, out=out)
        except le.MemoryBudgetError as e:
            errors.append(f"max_bytes={budget}: {e}")
            continue
        np.testing.assert_allclose(result, A @ B @ C, rtol=1e-10, atol=1e-10)
        if with_out:
            assert result is out
        return
    pytest.fail(f"no budget named in {str(info.value)!r} works: {errors}")


def test_named_budget_is_not_far_above_what_evaluation_uses():
    # API.md: the error names "the smallest budget that would work".  Measure what the
    # unbudgeted evaluation really keeps alive; twice that must not be refused.
    t, _ = _chain(N_BIG)
    tracemalloc.start()
    try:
        result = t.compute()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    used = max(peak - result.nbytes, 0)
    with pytest.raises(le.MemoryBudgetError) as info:
        t.compute(max_bytes=1)
    named = _named_budgets(str(info.value), given=1)
    assert named and min(named) <= 2 * used + 64 * 1024, (
        f"evaluation used {used:,} working bytes, but the error asks for {named}: {info.value}")


def test_le_compute_impossible_budget():
    t, _ = _chain(16)
    with pytest.raises(le.MemoryBudgetError, match="bytes|max_bytes|budget"):
        le.compute(t, t.T, max_bytes=1)


# ----------------------------------------------------------------------------- out untouched
OUT_FAILURES = [
    pytest.param(lambda t, out: t.compute(max_bytes=1, out=out), "float64", le.MemoryBudgetError,
                 id="budget-too-small"),
    pytest.param(lambda t, out: t.compute(max_bytes="lots", out=out), "float64", ValueError,
                 id="bad-max_bytes"),
    pytest.param(lambda t, out: t.compute(out=out), "int64", TypeError, id="wrong-dtype-int"),
    pytest.param(lambda t, out: t.compute(out=out), "float32", TypeError, id="wrong-dtype-float32"),
    pytest.param(lambda t, out: t.compute(max_bytes=1, out=out), "int64", TypeError,
                 id="wrong-dtype-and-budget"),
]


@pytest.mark.parametrize("run, dtype, exc", OUT_FAILURES)
@pytest.mark.parametrize("kind", ["ndarray", "memmap"])
def test_out_untouched_on_error(run, dtype, exc, kind, tmp_path):
    t, _ = _chain(16)
    rng = np.random.default_rng(1)
    sentinel = (rng.integers(-1000, 1000, t.shape)).astype(dtype)
    if kind == "memmap":
        out = np.memmap(tmp_path / "out.bin", dtype=dtype, mode="w+", shape=t.shape)
        out[...] = sentinel
        out.flush()
    else:
        out = sentinel.copy()
    before = out.tobytes()
    with pytest.raises(exc):
        run(t, out)
    assert out.tobytes() == before, "out was modified by a compute that raised"
    if kind == "memmap":
        out.flush()
        assert (tmp_path / "out.bin").read_bytes() == before
