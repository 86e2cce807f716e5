"""Evaluation: compute, np.asarray, le.compute, out=, max_bytes, progress, operator dispatch."""

import numpy as np
import pytest

import lazyein as le
from lazyein.api import clear_plan_cache, parse_bytes
from lazyein.caches import PLAN_CACHE
from lazyein.testing import traced_working_bytes

rng = np.random.default_rng(3)


def test_ndarray_on_the_left_gives_a_lazy_tensor():
    A, x = rng.normal(size=(3, 3)), le.lazy(rng.normal(size=3))
    for t, want in [(A @ x, A @ np.asarray(x)), (np.ones(3) + x, 1 + np.asarray(x)),
                    (np.float64(2) * x, 2 * np.asarray(x)), (np.ones(3) - x, 1 - np.asarray(x)),
                    (np.ones(3) * x, np.asarray(x))]:
        assert isinstance(t, le.LazyTensor)
        np.testing.assert_allclose(t.compute(), want)


def test_asarray_and_array_compute():
    x = le.lazy(rng.normal(size=(2, 2)))
    t = x @ x
    np.testing.assert_allclose(np.asarray(t), t.compute())
    np.testing.assert_allclose(np.array(t), t.compute())
    assert np.asarray(t, dtype=np.float32).dtype == np.float32


def test_compute_returns_a_new_array_never_an_input():
    a = rng.normal(size=(3,))
    out = le.lazy(a).compute()
    assert out is not a and not np.shares_memory(out, a)
    np.testing.assert_array_equal(out, a)


def test_inputs_are_never_modified():
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    a0, b0 = a.copy(), b.copy()
    t = le.lazy_einsum("ij,jk->ik", le.pad(le.lazy(a) + b, ((0, 0), (1, 1))),
                       le.pad(b, ((1, 1), (0, 0)))) - a
    t.compute()
    le.compute(t, le.kron(a, b), le.stack([a, b]))
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


def test_compute_many_shares_work_and_matches_single_computes():
    a, b = le.lazy(rng.normal(size=(5, 5))), le.lazy(rng.normal(size=(5, 5)))
    ab = a @ b
    r1, r2, r3 = le.compute(ab, ab + a, ab.T)
    np.testing.assert_allclose(r1, ab.compute())
    np.testing.assert_allclose(r2, (ab + a).compute())
    np.testing.assert_allclose(r3, ab.compute().T)
    plan_steps = [type(s).__name__ for s in le.runtime.plan_for((ab.node, (ab + a).node))[0].steps]
    assert plan_steps.count("Contract") == 1


def test_plans_are_cached_by_structure_not_by_data():
    clear_plan_cache()
    for _ in range(3):
        arrays = [rng.normal(size=(10, 10)) for _ in range(3)]
        got = le.lazy_einsum("ij,jk,kl->il", *arrays).compute()
        np.testing.assert_allclose(got, np.linalg.multi_dot(arrays))
    assert len(PLAN_CACHE) == 1
    le.lazy_einsum("ij,jk,kl->il", *[np.ones((10, 11)), np.ones((11, 10)), np.ones((10, 10))])\
        .compute()
    assert len(PLAN_CACHE) == 2


def test_an_expression_computed_again_is_not_walked_again(monkeypatch):
    a = le.lazy(rng.normal(size=(4, 4)))
    t = (a @ a + a).T
    first = t.compute()
    monkeypatch.setattr(le.runtime, "_structure", None)  # any walk of the graph would fail
    np.testing.assert_array_equal(t.compute(), first)
    assert t.explain() is t.explain()


def test_the_cache_holds_no_user_arrays():
    import gc
    import weakref

    a = rng.normal(size=(50, 50))
    ref = weakref.ref(a)
    (le.lazy(a) @ le.lazy(a)).compute()
    del a
    gc.collect()
    assert ref() is None


def test_out_receives_the_result_and_is_returned():
    a = rng.normal(size=(3, 4))
    out = np.empty((4, 3))
    got = le.lazy(a).T.compute(out=out)
    assert got is out
    np.testing.assert_array_equal(out, a.T)


def test_out_may_have_a_wider_dtype_or_be_a_memmap(tmp_path):
    a = rng.normal(size=(3, 3)).astype(np.float32)
    out = np.zeros((3, 3), np.float64)
    le.lazy(a).compute(out=out)
    np.testing.assert_array_equal(out, a.astype(np.float64))
    mm = np.memmap(tmp_path / "r.dat", dtype=np.float64, mode="w+", shape=(3, 3))
    assert le.lazy(a).T.compute(out=mm) is mm
    np.testing.assert_array_equal(np.asarray(mm), a.T.astype(np.float64))


def test_out_is_untouched_when_compute_fails():
    a = le.lazy(rng.normal(size=(30, 30)))
    out = np.full((30, 30), 7.0)
    with pytest.raises(le.MemoryBudgetError):
        (a @ a @ a).compute(max_bytes=10, out=out)
    assert np.all(out == 7.0)
    narrow = np.full((30, 30), 7, np.int32)
    with pytest.raises(TypeError, match="cast"):
        (a @ a).compute(out=narrow)
    assert np.all(narrow == 7)


@pytest.mark.parametrize("text, value", [
    ("64MB", 64 * 10**6), ("1.5GiB", int(1.5 * 2**30)), ("512", 512), ("2 kib", 2048),
    (" 10 B ", 10), (4096, 4096), (".5KB", 500),
])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


def test_budget_too_small_raises_before_work_and_names_a_budget_that_works():
    a = le.lazy(rng.normal(size=(200, 200)))
    t = le.lazy_einsum("ij,jk,kl->il", a, a, a)
    with pytest.raises(le.MemoryBudgetError) as info:
        t.compute(max_bytes=1000)
    assert isinstance(info.value, MemoryError)
    need = info.value.required_bytes
    assert f"{need:,}" in str(info.value)
    got, working = traced_working_bytes(lambda: t.compute(max_bytes=need))
    np.testing.assert_allclose(got, np.linalg.multi_dot([np.asarray(a)] * 3))
    assert working <= need + 2**20


def test_peak_estimate_bounds_the_measured_working_memory():
    cases = [
        lambda: le.lazy_einsum("ij,jk,kl->il", *(rng.normal(size=(300, 300)) for _ in range(3))),
        lambda: le.lazy(rng.normal(size=(300, 300))) @ le.lazy(rng.normal(size=(300, 300))).T,
        lambda: le.kron(le.eye(10), rng.normal(size=(20, 30))) @ le.lazy(
            rng.normal(size=(300, 40))),
        lambda: le.lazy_einsum("ij,ij->i", *(rng.normal(size=(500, 400)) for _ in range(2))),
        lambda: le.lazy_einsum("ijk,jkl->il", rng.normal(size=(40, 50, 60)),
                               rng.normal(size=(30, 60, 50)).transpose(2, 1, 0)),
        lambda: 3 * le.lazy(rng.normal(size=(400, 300))) @ le.lazy(rng.normal(size=(300, 500))),
        lambda: le.lazy(rng.normal(size=(600, 500)).astype(np.float32)) @ le.lazy(
            rng.normal(size=(500, 400))),
    ]
    for make in cases:
        t = make()
        estimate = t.explain().peak_bytes
        _, measured = traced_working_bytes(t.compute)
        assert measured <= estimate + 2**20, (t, measured, estimate)
        assert estimate <= 1.5 * measured + 2**20, (t, measured, estimate)  # honest, not padded


def test_progress_bar_reports_steps(capsys):
    pytest.importorskip("tqdm")
    t = le.lazy(rng.normal(size=(4, 4))) @ le.lazy(rng.normal(size=(4, 4)))
    np.testing.assert_allclose(t.compute(progress=True), np.asarray(t))
    assert "lazyein" in capsys.readouterr().err


def test_explain_reports_terms_order_flops_and_memory():
    a, b = le.lazy(rng.normal(size=(4, 5)), name="A"), le.lazy(rng.normal(size=(5, 6)), name="B")
    plan = (a @ b + a @ b.T.T).explain()
    text = str(plan)
    assert plan.num_terms == 1 and plan.num_chunks == 1
    assert plan.flops == 2 * 4 * 5 * 6  # a multiply and an add per term of the sum
    assert plan.peak_bytes >= 0
    for word in ("1 term", "FLOPs", "A [4, 5]", "B [5, 6]", "2 * einsum('ab,bc->ac')"):
        assert word in text, text


def test_asarray_without_copy_is_refused():
    with pytest.raises(ValueError, match="computing"):
        np.asarray(le.lazy(np.ones(2)) * 2, copy=False)


def test_progress_without_tqdm_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    t = le.lazy(np.ones((2, 2))) @ le.lazy(np.ones((2, 2)))
    with pytest.raises(ImportError, match=r"pip install 'lazyein\[progress\]'"):
        t.compute(progress=True)


A8 = np.arange(12, dtype=np.int8).reshape(3, 4)


@pytest.mark.parametrize("make", [
    lambda ns: ns.add(A8, 1000),
    lambda ns: ns.subtract(A8, 1000),
    lambda ns: ns.pad(A8, 1, constant_values=300),
    lambda ns: ns.transpose(np.ones((2, 3, 4)), ()),
])
def test_numpy_errors_are_raised_at_build_time_too(make):
    with pytest.raises(Exception) as numpy_error:
        make(np)
    with pytest.raises(type(numpy_error.value)):
        make(le)


@pytest.mark.parametrize("make", [
    lambda ns, a: (ns.asarray(a) if ns is np else le.lazy(a)) / np.array(2.0),
    lambda ns, a: ns.stack(a),
    lambda ns, a: ns.concatenate(a, axis=None),
    lambda ns, a: ns.einsum("ij,kj->ik", a, a, optimize=True),
    lambda ns, a: ns.pad(A8, 1, constant_values=0.5),
])
def test_numpy_argument_forms(make):
    a = np.arange(12.0).reshape(3, 4)
    want = np.asarray(make(np, a))
    got = make(le, a).compute()
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_max_bytes_may_be_a_float():
    assert parse_bytes(1e6) == 10**6
    with pytest.raises(ValueError):
        parse_bytes(float("nan"))
