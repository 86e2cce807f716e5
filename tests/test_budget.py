"""max_bytes as a guarantee (issue 4): budgeted plans checked against numpy and tracemalloc."""

import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyein as le
import strategies
from lazyein import api, runtime, testing
from lazyein.backends import numpy as numpy_backend
from lazyein.testing import traced_working_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

MiB = 1 << 20  # the slack API.md allows over max_bytes: interpreter and tracemalloc noise

_SETTINGS = strategies.deterministic(shrink=False)

CHAIN = "ab,bc,cd,de->ae"
_HAND = ("i,jk,i,kj->k", "j,ik,k,ij->k", "i,jk,k,ij->k", "j,ik,i,kj->k")


# -- expressions with their numpy values ----------------------------------------------------

def chain(dims=(400,) * 5, seed=0, dtype=np.float64):
    """'ab,bc,cd,de->ae' over random matrices of sizes dims[0] x dims[1], ..."""
    rng = np.random.default_rng(seed)
    ops = [rng.standard_normal((dims[i], dims[i + 1])).astype(dtype) for i in range(4)]
    return le.einsum(CHAIN, *ops), np.einsum(CHAIN, *ops, optimize="optimal")


def problem2(n, q, seed=1):
    """PROBLEMS.md problem 2, and the four hand-expanded einsums as the reference."""
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((n, n)), rng.standard_normal(q)
    Y2, Z2 = rng.standard_normal(n), rng.standard_normal((q, n))
    C = le.lazy_einsum("i,jk->ijk", B, A)
    C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
    E = le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)
    ops = ((B, A, B, A), (Y2, Z2, Y2, Z2), (B, A, Y2, Z2), (Y2, Z2, B, A))
    return E, sum(np.einsum(eq, *o, optimize="optimal") for eq, o in zip(_HAND, ops))


def problem1(rows, seed=2):
    """PROBLEMS.md problem 1 with float32 data (under 20% nonzero), against the expert
    rewrite, which promotes the whole of the data to float64."""
    rng = np.random.default_rng(seed)
    W0 = rng.standard_normal((30, 784))
    data = rng.standard_normal((rows, 30 * 784), dtype=np.float32)
    data *= rng.random(data.shape, dtype=np.float32) < 0.2
    t = le.kron(le.eye(30), W0) @ le.lazy(data).T
    expert = (data.reshape(-1, 784).astype(np.float64) @ W0.T).reshape(-1, 900).T
    return t, expert


def mixed_dot(n=250_000, seed=3):
    """(2, n) float32 @ (n, 2) float64: only the summed label is worth slicing, since the cast
    copy of one row of the float32 operand is already n * 8 bytes."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((2, n)).astype(np.float32)
    B = rng.standard_normal((n, 2))
    return le.lazy(A) @ B, A.astype(np.float64) @ B


def materialized(seed=4):
    """A reshape that no split or merge of labels expresses (its rows of 100 cut across the
    201 columns of A): computed in full (720 KB), then used in a chain whose product X @ Y
    (240 KB) does not depend on its rows."""
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((300, 201)), rng.standard_normal((300, 99))
    X, Y = rng.standard_normal((100, 400)), rng.standard_normal((400, 300))
    t = (le.concatenate([A, B], axis=1).reshape(900, 100) @ X) @ Y
    return t, (np.concatenate([A, B], axis=1).reshape(900, 100) @ X) @ Y


def tensordot3(shape=(100, 80, 90, 120), seed=5):
    """A tensordot whose second operand must be permuted (copied) to become a matrix."""
    rng = np.random.default_rng(seed)
    a, b, c, d = shape
    X, Y = rng.standard_normal((a, b, c)), rng.standard_normal((c, b, d))
    return le.tensordot(X, Y, axes=([1, 2], [1, 0])), np.tensordot(X, Y, axes=([1, 2], [1, 0]))


def sum_of_products(seed=6):
    """A @ B + C @ D: two terms accumulating into one result."""
    rng = np.random.default_rng(seed)
    A, B, C, D = (rng.standard_normal((400, 400)) for _ in range(4))
    return le.lazy(A) @ B + le.lazy(C) @ D, A @ B + C @ D


def sum_of_chains(k, seed=29):
    """sum over i of (A_i @ B_i) @ X: k terms, each with a (200, 200) intermediate."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 200))
    pairs = [(rng.standard_normal((200, 60)), rng.standard_normal((60, 200))) for _ in range(k)]
    return (sum((le.lazy(A) @ B) @ X for A, B in pairs),
            sum((A @ B) @ X for A, B in pairs))


def attention(shape=(4, 8, 96, 32), seed=7):
    """Attention without the softmax: 'bimd,bind,bine->bime', a (b, i, m, n) intermediate."""
    rng = np.random.default_rng(seed)
    Q, K, V = (rng.standard_normal(shape) for _ in range(3))
    eq = "bimd,bind,bine->bime"
    return le.einsum(eq, Q, K, V), np.einsum(eq, Q, K, V, optimize="optimal")


def kron_product(seed=8):
    """kron(A, B) @ X with a strided (every other column) X."""
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((20, 20)), rng.standard_normal((30, 30))
    X = rng.standard_normal((600, 800))[:, ::2]
    return le.kron(A, B) @ X, np.kron(A, B) @ X


def convolution(seed=9):
    """PROBLEMS.md problem 4 at 16x16x3 with a 3x3x3x8 kernel (W_K would be 12 MB)."""
    rng = np.random.default_rng(seed)
    m1 = m2 = 16
    k1, k2, nch, nf = 3, 3, 3, 8
    K, A = rng.standard_normal((k1, k2, nch, nf)), rng.standard_normal((m1, m2, nch))
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    W_K = le.stack([le.stack([le.moveaxis(le.pad(K, ((i, m1 - i - k1), (j, m2 - j - k2),
                                                     (0, 0), (0, 0))), 3, 0)
                              for j in range(w2)]) for i in range(w1)])
    ref = sum(A[a:a + w1, b:b + w2, :] @ K[a, b] for a in range(k1) for b in range(k2))
    return le.tensordot(W_K, A, 3), ref


EXPRESSIONS = {
    "chain-square": lambda: chain((400,) * 5),
    "chain-wide": lambda: chain((1200, 64, 64, 64, 1200)),
    "chain-float32": lambda: chain((500,) * 5, dtype=np.float32),
    "problem1-float32": lambda: problem1(60),
    "problem2": lambda: problem2(300, 300),
    "mixed-dtype-dot": mixed_dot,
    "materialized-reshape": materialized,
    "tensordot-permuted": tensordot3,
    "sum-of-products": sum_of_products,
    "attention": attention,
    "kron-strided": kron_product,
    "convolution": convolution,
}


def assert_matches(got, ref, rtol=None):
    """`got` equals numpy's `ref` to the rounding of the result's dtype."""
    assert isinstance(got, np.ndarray), type(got)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    rtol = testing.tolerance(ref.dtype) if rtol is None else rtol
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale)


def cold(fn):
    """`fn` as a first call: with lazyein's plan cache emptied."""
    def run():
        api.clear_plan_cache()
        return fn()
    return run


_SLICED = re.compile(r"([A-Za-z]) \((kept|summed), (\d+)\) in (\d+) chunks of (\d+)")


def check_sliced_report(plan: le.Plan) -> set[str]:
    """Check each sliced term's report against its equation and chunk count; return the kinds
    ('kept', 'summed') of the labels sliced."""
    text, kinds = str(plan), set()
    for t in plan.terms:
        if t.num_chunks == 1:
            assert not t.sliced, t
            continue
        assert t.sliced, t
        assert f"sliced into {t.num_chunks} chunks: {'; '.join(t.sliced)}" in text, text
        inputs, output = t.equation.split("->")
        chunks = 1
        for described in t.sliced:
            match = _SLICED.fullmatch(described)
            assert match is not None, described
            label, kind, size, count, block = match.groups()
            assert label in inputs, (label, t.equation)
            assert (kind == "kept") == (label in output), (described, t.equation)
            assert int(count) == -(-int(size) // int(block)) > 1, described
            chunks *= int(count)
            kinds.add(kind)
        assert chunks == t.num_chunks, (t.sliced, t.num_chunks)
    assert plan.num_chunks == max(1, sum(t.num_chunks for t in plan.terms if t.num_chunks > 1))
    assert f"{plan.num_chunks} chunk(s)" in text.splitlines()[0], text
    return kinds


def within(t, budget, ref, rtol=None):
    """Compute `t` within `budget` as users do (cold plan cache), then again with the plan
    cached; both equal numpy and stay within the budget plus 1 MiB. Returns the plan."""
    plan = t.explain(max_bytes=budget)
    assert plan.peak_bytes <= budget, (plan.peak_bytes, budget)
    for run in (cold(lambda: t.compute(max_bytes=budget)), lambda: t.compute(max_bytes=budget)):
        result, working = traced_working_bytes(run)
        assert_matches(result, ref, rtol)
        assert working <= budget + MiB, (working, budget, str(plan))
    return plan


# -- 1. the memory model is honest -----------------------------------------------------------

@pytest.mark.parametrize("fraction", [None, 1 / 2, 1 / 8])
@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_estimated_peak_is_honest(name, fraction):
    t, ref = EXPRESSIONS[name]()
    rtol = 1e-5 if name in ("chain-float32",) else None
    budget = None
    if fraction is not None:
        budget = int(t.explain().peak_bytes * fraction)
        try:
            t.explain(max_bytes=budget)
        except le.MemoryBudgetError as e:  # the model is still measured, at the least budget
            budget = e.required_bytes
    plan = t.explain(max_bytes=budget)
    t.compute(max_bytes=budget)  # plans (cached), so the measure below is the run alone
    result, working = traced_working_bytes(lambda: t.compute(max_bytes=budget))
    assert_matches(result, ref, rtol)
    # measured <= estimate, and the estimate is not padded either
    assert working <= plan.peak_bytes + MiB, (working, plan.peak_bytes, str(plan))
    assert plan.peak_bytes <= 1.5 * working + MiB, (working, plan.peak_bytes, str(plan))
    if budget is not None:
        assert plan.peak_bytes <= budget
        if plan.num_chunks > 1:  # the contract is about compute as users call it: cold
            result, working = traced_working_bytes(cold(lambda: t.compute(max_bytes=budget)))
            assert_matches(result, ref, rtol)
            assert working <= budget + MiB, (working, budget, str(plan))


def test_budgeted_plans_are_chunked():
    """The parametrized honesty test above covers chunked plans, not only whole ones."""
    chunked = []
    for name, build in EXPRESSIONS.items():
        t, _ = build()
        budget = t.explain().peak_bytes // 8
        try:
            plan = t.explain(max_bytes=budget)
        except le.MemoryBudgetError as e:
            plan = t.explain(max_bytes=e.required_bytes)
        if plan.num_chunks > 1:
            chunked.append(name)
    assert len(chunked) >= 6, chunked


# -- 2. slicing ------------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [2, 5, 20, 100, 400])
def test_chain_sliced_into_chunks(divisor):
    t, ref = chain((500,) * 5, seed=10)
    whole = t.explain()
    assert whole.num_chunks == 1
    budget = whole.peak_bytes // divisor
    plan = within(t, budget, ref)
    assert plan.num_chunks > 1, str(plan)
    assert plan.terms[0].num_chunks == plan.num_chunks
    assert "kept" in check_sliced_report(plan), str(plan)
    assert "sliced" in str(plan)


def test_chain_rectangular_sliced_within_budget():
    t, ref = chain((1500, 64, 64, 64, 1500), seed=11)
    plan = within(t, 200_000, ref)  # the result alone is 18 MB
    assert plan.num_chunks > 1
    check_sliced_report(plan)


def test_only_a_summed_label_can_be_sliced():
    t, ref = mixed_dot()
    whole = t.explain()
    assert whole.peak_bytes >= 4 * 10**6  # the float64 copy of the float32 operand
    for budget in (10**6, 10**5, 10**4):
        plan = within(t, budget, ref)
        assert check_sliced_report(plan) == {"summed"}, str(plan)
        assert "b (summed, 250000)" in str(plan), str(plan)


def test_several_terms_sliced():
    t, ref = problem2(1000, 1000, seed=12)
    whole = t.explain()
    assert whole.num_terms == 4
    for budget in (whole.peak_bytes // 2, whole.peak_bytes // 6):
        plan = within(t, budget, ref)
        sliced = [k for k, term in enumerate(plan.terms) if term.num_chunks > 1]
        assert len(sliced) >= 2, str(plan)
        check_sliced_report(plan)


@pytest.mark.parametrize("budget", [965_000, 900_000, 800_000])
def test_materialized_intermediate_within_budget(budget):
    """The reshape must be held in full (720 KB); everything else fits around it by slicing:
    copying into the concatenation in column chunks, the chain in row chunks (X @ Y, 240 KB,
    then computed per chunk rather than hoisted)."""
    t, ref = materialized()
    assert t.explain().peak_bytes > budget
    plan = within(t, budget, ref)
    assert plan.materialized and "reshape" in plan.materialized[0], str(plan)
    assert plan.num_chunks > 1
    check_sliced_report(plan)


def test_materialized_intermediate_bounds_the_budget():
    t, _ = materialized()
    with pytest.raises(le.MemoryBudgetError) as info:
        t.compute(max_bytes=700_000)
    assert info.value.required_bytes >= 720_000  # the reshape alone


# -- 3. MemoryBudgetError --------------------------------------------------------------------

@pytest.mark.parametrize("budget", [1, 1000])
def test_budget_error_is_raised_before_any_work(budget, monkeypatch):
    t, _ = chain((1500,) * 5, seed=13)  # 27 GFLOP: running it would take seconds
    ran = []
    monkeypatch.setattr(runtime, "run_steps", lambda *args: ran.append(args))
    api.clear_plan_cache()
    start = time.perf_counter()
    with pytest.raises(le.MemoryBudgetError) as info:
        t.compute(max_bytes=budget)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, elapsed
    assert not ran
    error = info.value
    assert isinstance(error, MemoryError) and isinstance(error, le.LazyeinError)
    assert error.required_bytes > budget
    message = str(error)
    assert f"{budget:,}" in message or str(budget) in message, message
    required = error.required_bytes
    assert f"{required:,}" in message or str(required) in message, message


def test_budget_error_on_a_huge_expression_is_fast():
    """A chain over 100000 x 100000 (broadcast, so 8-byte) inputs: an 80 GB result. Only
    planning can happen before the error, or the test would never end."""
    N = 100_000
    big = [np.broadcast_to(np.ones((1, 1)), (N, N)) for _ in range(4)]
    t = le.einsum(CHAIN, *big)
    with pytest.raises(le.MemoryBudgetError):
        t.explain(max_bytes="1KB")
    api.clear_plan_cache()
    start = time.perf_counter()
    with pytest.raises(MemoryError, match="1,000|1000"):
        t.compute(max_bytes="1KB")
    assert time.perf_counter() - start < 0.5


def trace_squared():
    """trace(x) * trace(x) as an einsum of two diagonal views (found by hypothesis)."""
    x = np.arange(4.0).reshape(2, 2)
    t = le.trace(le.lazy(x))
    return le.einsum(",->", t, t), np.asarray(np.trace(x) ** 2)


REQUIRED = {
    "chain": lambda: chain((300,) * 5, seed=14),
    "chain-wide": lambda: chain((600, 50, 50, 50, 600), seed=15),
    "problem2-300": lambda: problem2(300, 300, seed=16),
    "problem2-1000": lambda: problem2(1000, 1000, seed=17),
    "problem1-float32": lambda: problem1(10),
    "mixed-dtype-dot": lambda: mixed_dot(10_000),
    "materialized-reshape": materialized,
    "tensordot-permuted": lambda: tensordot3((40, 30, 50, 60)),
    "attention": lambda: attention((2, 4, 48, 16)),
    "sum-of-chains": lambda: sum_of_chains(10),
    "trace-squared": trace_squared,
}


@pytest.mark.parametrize("budget", [0, 1000])
@pytest.mark.parametrize("name", list(REQUIRED))
def test_required_bytes_is_a_budget_that_works(name, budget):
    t, ref = REQUIRED[name]()
    try:
        t.explain(max_bytes=budget)
    except le.MemoryBudgetError as e:
        assert e.required_bytes > budget
        within(t, e.required_bytes, ref)
    else:  # a plan fits even this budget: then it must hold
        assert budget > 0
        within(t, budget, ref)


@pytest.mark.parametrize("budget", [0, 1000])
@pytest.mark.parametrize("name", list(REQUIRED))
def test_required_bytes_is_the_smallest_budget_found(name, budget):
    """API.md: the error names the smallest budget that would work; one byte less must not."""
    t, _ = REQUIRED[name]()
    try:
        t.explain(max_bytes=budget)
    except le.MemoryBudgetError as e:
        required = e.required_bytes
    else:
        assert budget > 0
        return  # nothing to check: a plan fits
    try:
        plan = t.explain(max_bytes=required - 1)
    except le.MemoryBudgetError as e:
        assert e.required_bytes == required, (e.required_bytes, required)
    else:
        pytest.fail(f"max_bytes={budget} names {required:,} bytes as the smallest budget, but "
                    f"a plan of {plan.peak_bytes:,} bytes fits in {required - 1:,}:\n{plan}")


# -- 4. the problems at the sizes ----------------------------------------------------

def test_problem2_full_size_within_16MB():
    t, ref = problem2(1000, 1000, seed=18)
    within(t, le.api.parse_bytes("16MB"), ref)


def test_problem1_float32_full_size_within_32MB():
    t, expert = problem1(1666)
    assert t.explain().peak_bytes > 32 * 10**6  # unbounded, the plan would take more
    plan = within(t, le.api.parse_bytes("32MB"), expert)
    assert plan.num_chunks > 1
    check_sliced_report(plan)


@pytest.mark.parametrize("form", ["loop-free", "loop of pads"])
def test_problem4_128_within_8MB(form):
    # the convolution operator W_K (180 GiB if built) for a 128x128x3 image and a 5x5x3x32
    # kernel: unbounded the plan copies 8.8 MiB of patches, within 8 MB it is sliced
    from problem4_convolution import operator_by_loop, operator_loop_free, shift_and_add

    rng = np.random.default_rng(21)
    A, K = rng.standard_normal((128, 128, 3)), rng.standard_normal((5, 5, 3, 32))
    build = operator_loop_free if form == "loop-free" else operator_by_loop
    t = le.tensordot(build(K, 128, 128), A, 3)
    assert t.explain().peak_bytes > 8 * 10**6
    plan = within(t, le.api.parse_bytes("8MB"), shift_and_add(A, K))
    assert plan.num_chunks > 1 and not plan.materialized


# -- 5. out= ---------------------------------------------------------------------------------

def _wide_chain():
    return chain((1200, 64, 64, 64, 1200), seed=19)  # an 11.5 MB result


_OUT_BUDGET = 200_000  # the unsliced plan needs 632 KiB


def test_out_ndarray_larger_than_the_budget():
    t, ref = _wide_chain()
    budget = _OUT_BUDGET
    out = np.full(t.shape, np.nan)
    assert out.nbytes > 10 * budget
    t.compute(max_bytes=budget, out=np.empty_like(out))  # plans
    got, working = testing.traced_peak(lambda: t.compute(max_bytes=budget, out=out))
    assert got is out
    assert_matches(out, ref)
    # API.md: out= is left as it was on any error, so the result is computed aside (one
    # array of the result's size) and copied; working memory, as API.md defines it, is the
    # traced peak minus the result's bytes. (An out= on disk is streamed: see the memmap test.)
    assert working - t.nbytes <= budget + MiB, (working, budget)
    assert working <= t.nbytes + budget + MiB


def test_out_memmap_larger_than_the_budget(tmp_path):
    t, ref = _wide_chain()
    budget = _OUT_BUDGET
    path = tmp_path / "result.dat"
    out = np.memmap(path, dtype=np.float64, mode="w+", shape=t.shape)
    assert out.nbytes > 10 * budget
    for run in (cold(lambda: t.compute(max_bytes=budget, out=out)),
                lambda: t.compute(max_bytes=budget, out=out)):
        out[...] = np.nan
        got, working = testing.traced_peak(run)
        assert got is out
        assert working <= budget + MiB, (working, budget)
        out.flush()
        assert_matches(np.fromfile(path, dtype=np.float64).reshape(t.shape), ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.dat"]  # no scratch left


@pytest.mark.parametrize("kind", ["ndarray", "memmap"])
def test_out_with_a_wider_dtype(kind, tmp_path):
    t, ref = chain((800, 48, 48, 48, 800), seed=20, dtype=np.float32)
    assert t.dtype == np.float32
    budget = 200_000
    if kind == "memmap":
        out = np.memmap(tmp_path / "r.dat", dtype=np.complex128, mode="w+", shape=t.shape)
    else:
        out = np.zeros(t.shape, np.complex128)
    assert out.nbytes > budget
    t.compute(max_bytes=budget)
    got, working = testing.traced_peak(lambda: t.compute(max_bytes=budget, out=out))
    assert got is out and out.dtype == np.complex128
    # in memory, the result is computed aside (API.md: out= untouched on error), cast into
    # out slab by slab; on disk it is streamed through a scratch file
    aside = t.nbytes if kind == "ndarray" else 0
    assert working - aside <= budget + MiB, (working, budget)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def _failures():
    """Ways compute can fail, each a (setup, expected error) with setup(monkeypatch, t)."""
    def mid_run(monkeypatch, t):
        calls = []

        def failing(operation):
            original = getattr(numpy_backend.NumpyBackend, operation)

            def run(self, *args):  # the first chunks are added into the result, then it fails
                calls.append(operation)
                if len(calls) == 7:
                    raise RuntimeError("interrupted")
                return original(self, *args)

            return run

        for operation in ("matmul", "dots", "multiply", "sum"):
            monkeypatch.setattr(numpy_backend.NumpyBackend, operation, failing(operation))
        api.clear_plan_cache()  # plans are compiled once: compile afresh, patched
        assert t.explain(max_bytes=_OUT_BUDGET).num_chunks > 3
        return dict(max_bytes=_OUT_BUDGET)

    return {
        "budget": (lambda mp, t: dict(max_bytes=10), le.MemoryBudgetError),
        "mid-run": (mid_run, RuntimeError),
    }


@pytest.mark.parametrize("failure", list(_failures()))
@pytest.mark.parametrize("kind", ["ndarray", "memmap"])
def test_out_untouched_on_error(kind, failure, tmp_path, monkeypatch):
    t, _ = _wide_chain()
    setup, error = _failures()[failure]
    before = np.random.default_rng(21).standard_normal(t.shape)
    path = tmp_path / "r.dat"
    if kind == "memmap":
        out = np.memmap(path, dtype=np.float64, mode="w+", shape=t.shape)
    else:
        out = np.empty(t.shape)
    out[...] = before
    kwargs = setup(monkeypatch, t)
    with pytest.raises(error):
        t.compute(out=out, **kwargs)
    np.testing.assert_array_equal(out, before)  # bit for bit
    if kind == "memmap":
        out.flush()
        np.testing.assert_array_equal(np.fromfile(path).reshape(t.shape), before)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r.dat"]


@pytest.mark.parametrize("kind", ["ndarray", "memmap"])
def test_out_untouched_on_a_wrong_dtype_or_shape(kind, tmp_path):
    t, _ = _wide_chain()
    for dtype, shape, error in ((np.float32, t.shape, TypeError),
                                (np.int64, t.shape, TypeError),
                                (np.float64, t.shape[::-1] + (1,), le.ShapeError)):
        if kind == "memmap":
            out = np.memmap(tmp_path / f"{np.dtype(dtype).name}.dat", dtype=dtype, mode="w+",
                            shape=shape)
        else:
            out = np.empty(shape, dtype)
        out[...] = 7
        with pytest.raises(error):
            t.compute(max_bytes=_OUT_BUDGET, out=out)
        assert (out == 7).all()


# -- 6. progress=True ------------------------------------------------------------------------

class _Bar:
    """A stand-in for tqdm recording what the bar is told."""

    made: list = []

    def __init__(self, *args, total=None, **kwargs):
        self.total, self.n, self.most, self.closed = total, 0, 0, False
        _Bar.made.append(self)

    def update(self, n=1):
        self.n += n
        self.most = max(self.most, self.n)

    def close(self):
        self.closed = True


@pytest.fixture
def bars(monkeypatch):
    tqdm_auto = pytest.importorskip("tqdm.auto")
    _Bar.made = []
    monkeypatch.setattr(tqdm_auto, "tqdm", _Bar)
    return _Bar.made


PROGRESS = {
    "chain-sliced": (lambda: chain((500,) * 5, seed=22), lambda p: p // 10),
    "problem2-several-terms": (lambda: problem2(1000, 1000, seed=23), lambda p: p // 6),
    "mixed-dtype-dot": (mixed_dot, lambda p: p // 20),
    "unsliced": (lambda: chain((100,) * 5, seed=24), lambda p: None),
}


@pytest.mark.parametrize("name", list(PROGRESS))
def test_progress_counts_chunks(name, bars):
    build, budget_of = PROGRESS[name]
    t, ref = build()
    budget = budget_of(t.explain().peak_bytes)
    plan = t.explain(max_bytes=budget)
    assert_matches(t.compute(max_bytes=budget, progress=True), ref)
    (bar,) = bars
    assert bar.total == plan.num_chunks
    assert bar.n == bar.most == plan.num_chunks  # reached, never overshot
    assert bar.closed
    if budget is not None:
        assert plan.num_chunks > 1


def test_progress_with_out_memmap(bars, tmp_path):
    t, ref = _wide_chain()
    out = np.memmap(tmp_path / "r.dat", dtype=np.float64, mode="w+", shape=t.shape)
    plan = t.explain(max_bytes=_OUT_BUDGET)
    assert t.compute(max_bytes=_OUT_BUDGET, out=out, progress=True) is out
    assert_matches(np.asarray(out), ref)
    (bar,) = bars
    assert bar.total == bar.n == plan.num_chunks > 1


def test_progress_bar_on_stderr(capsys):
    pytest.importorskip("tqdm")
    t, ref = chain((400,) * 5, seed=25)
    budget = t.explain().peak_bytes // 4
    n = t.explain(max_bytes=budget).num_chunks
    assert n > 1
    assert_matches(t.compute(max_bytes=budget, progress=True), ref)
    err = capsys.readouterr().err
    final = [line for line in re.split(r"[\r\n]", err) if line.strip()][-1]
    assert f"{n}/{n}" in final and "100%" in final, err


def test_progress_without_tqdm_says_how_to_install(monkeypatch):
    t, _ = chain((100,) * 5, seed=26)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="pip install") as info:
        t.compute(max_bytes=10**4, progress=True)
    assert "tqdm" in str(info.value)


# -- 7. random expressions under random budgets ----------------------------------------------

_FRACTIONS = (0.0, 1e-3, 0.05, 0.25, 0.5, 0.9, 1.0, 2.0)
# Any expression, and longer ones made of the operations that contract (and so need memory).
_EXPRS = st.one_of(
    strategies.exprs(),
    strategies.exprs(min_ops=3, max_ops=7, ops=("einsum", "matmul", "elementwise", "kron",
                                                "reshape", "sum", "transpose", "scale", "stack")),
)


def _value_check(case, got):
    ref = case.ref
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, got.dtype)
    if case.rtol == 0:
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=case.rtol, atol=case.rtol * case.bound)


@settings(max_examples=300, **_SETTINGS)
@given(case=_EXPRS, fraction=st.sampled_from(_FRACTIONS), extra=st.integers(0, 64))
def test_random_budgets(case, fraction, extra):
    t = case.lazy
    budget = int(t.explain().peak_bytes * fraction) + extra
    try:
        plan = t.explain(max_bytes=budget)
    except le.MemoryBudgetError as e:
        assert e.required_bytes > budget, (e.required_bytes, budget)
        with pytest.raises(le.MemoryBudgetError):
            t.compute(max_bytes=budget)
        budget = e.required_bytes
        plan = t.explain(max_bytes=budget)
    assert plan.peak_bytes <= budget, (plan.peak_bytes, budget)
    got, working = traced_working_bytes(lambda: t.compute(max_bytes=budget))
    assert working <= budget + MiB, (working, budget)
    _value_check(case, got)


@settings(max_examples=150, **_SETTINGS)
@given(case=_EXPRS, fraction=st.sampled_from(_FRACTIONS[:4]))
def test_random_required_bytes_is_the_smallest(case, fraction):
    t = case.lazy
    budget = int(t.explain().peak_bytes * fraction)
    try:
        t.explain(max_bytes=budget)
    except le.MemoryBudgetError as e:
        required = e.required_bytes
    else:
        return
    with pytest.raises(le.MemoryBudgetError):
        t.explain(max_bytes=required - 1)


# -- 8. explain() ----------------------------------------------------------------------------

# Budgets under which a plan exists that does no more FLOPs than the unsliced one, counting
# memory as lazyein does (a chunk's product is a temporary added into the result):
# - (500,)*5, /3 and /30: rows of 'a' in chunks, each a chain of matrix products;
# - (2000, 64, ...) likewise (3% more, from the order the thin chunks take);
# - (100, 1000, 1000, 1000, 100) /3: the summed 'c' in chunks, /30: rows of 'a';
# - (1500, 200, 1500, 200, 1500) /3 (906,666 bytes): B @ C (200 x 200, 320,000 bytes) computed
#   once, then chunks of r rows of 'a', each holding A_r @ (B @ C) and its product with D,
#   13,600 * r bytes: r = 43 fits (35 chunks), no FLOP repeated.
SLICED_CHAINS = [
    ((500,) * 5, 3), ((500,) * 5, 30),
    ((2000, 64, 64, 64, 2000), 3), ((2000, 64, 64, 64, 2000), 30),
    ((100, 1000, 1000, 1000, 100), 3), ((100, 1000, 1000, 1000, 100), 30),
    ((1500, 200, 1500, 200, 1500), 3),
]


@pytest.mark.parametrize(("dims", "divisor"), SLICED_CHAINS)
def test_explain_sliced_chain(dims, divisor):
    t, _ = chain(dims, seed=27)
    whole = t.explain()
    budget = whole.peak_bytes // divisor
    plan = t.explain(max_bytes=budget)
    assert plan.peak_bytes <= budget < whole.peak_bytes
    assert plan.num_terms == whole.num_terms == 1
    assert plan.num_chunks > 1
    # work that does not depend on the sliced labels is hoisted: no recomputation per chunk
    assert plan.flops <= 1.05 * whole.flops, (plan.flops, whole.flops, str(plan))
    # ranges as large as the budget allows: chunks twice as large would not fit
    assert plan.peak_bytes > budget / 2.5, (plan.peak_bytes, budget, str(plan))
    text = str(plan)
    assert "sliced" in text and f"{plan.num_chunks} chunk" in text, text
    check_sliced_report(plan)


def test_explain_without_budget_is_not_sliced():
    t, _ = chain((300,) * 5, seed=28)
    plan = t.explain()
    assert plan.num_chunks == 1 and "sliced" not in str(plan)
    assert t.explain(max_bytes=plan.peak_bytes).num_chunks == 1  # a budget that fits
    generous = t.explain(max_bytes="1GB")
    assert (generous.flops, generous.peak_bytes, generous.num_chunks, str(generous)) == (
        plan.flops, plan.peak_bytes, plan.num_chunks, str(plan))


@pytest.mark.parametrize("make", [
    # the budget decides whether the sum is computed first (found by the review's soak)
    lambda r: le.dot(le.lazy(r.integers(-3, 4, (3, 2, 2)).astype(float))
                     + r.integers(-3, 4, (2, 1)).astype(float),
                     r.integers(-3, 4, (4, 2, 2)).astype(float)),
    # a term that fits alone, next to one that does not
    lambda r: (-le.lazy(r.standard_normal((3, 2)))).reshape(2, 3) * 3,
], ids=["sum-computed-first", "reshape-of-scaled"])
def test_required_bytes_works_when_the_budget_changes_the_plan(make):
    t = make(np.random.default_rng(0))
    with pytest.raises(le.MemoryBudgetError) as info:
        t.compute(max_bytes=1)
    need = info.value.required_bytes
    assert t.explain(max_bytes=need).peak_bytes <= need
    np.testing.assert_allclose(t.compute(max_bytes=need), t.compute())
