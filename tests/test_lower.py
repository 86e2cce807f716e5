"""Lowering to a sum of products: expansion, exact merging of equal terms, index arithmetic."""

from types import SimpleNamespace

import numpy as np
import pytest

import lazyein as le
from lazyein import lower, sop
from lazyein.lower import Lowering
from lazyein.ops.einsum import MANY_FACTORS, MAX_PRODUCTS

rng = np.random.default_rng(7)


def problem2(n=5, q=6):
    A, B = rng.normal(size=(n, n)), rng.normal(size=(q,))
    Y2, Z2 = rng.normal(size=(n,)), rng.normal(size=(q, n))
    C = le.lazy_einsum("i,jk->ijk", B, A)
    C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
    return C, C2, np.einsum("i,jk->ijk", B, A), np.einsum("j,ik->ijk", Y2, Z2)


def test_einsum_of_sums_expands_into_four_products():
    C, C2, c, c2 = problem2()
    E = le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)
    assert E.explain().num_terms == 4
    np.testing.assert_allclose(E.compute(), np.einsum("ijk,ikj->k", c + c2, c + c2))


def test_difference_of_equal_terms_is_exactly_zero_with_no_term_left():
    C, _, c, _ = problem2()
    assert Lowering().lower((C - C).node) == []
    assert (C - C).explain().num_terms == 0
    assert np.array_equal((C - C).compute(), np.zeros_like(c))


def test_adding_then_removing_a_term_gives_exactly_the_term():
    C, C2, c, _ = problem2()
    terms = Lowering().lower(((C + C2) - C2).node)
    assert len(terms) == 1 and terms[0].coeff == 1
    assert np.array_equal(((C + C2) - C2).compute(), c)  # bit-for-bit: nothing was subtracted


def test_terms_equal_up_to_label_names_and_factor_order_merge():
    a, b = le.lazy(rng.normal(size=(3, 4))), le.lazy(rng.normal(size=(4, 3)))
    left = le.einsum("ij,jk->ik", a, b)
    right = le.einsum("jk,ij->ik", b, a)  # same maths, factors swapped, labels renamed
    terms = Lowering().lower((left + right).node)
    assert len(terms) == 1 and terms[0].coeff == 2


def test_scaling_distributes_and_coefficients_collect():
    x = le.lazy(rng.normal(size=4))
    y = le.lazy(rng.normal(size=4))
    t = 3 * (x + y) - 2 * x - y
    terms = Lowering().lower(t.node)
    assert sorted(term.coeff for term in terms) == [1, 2]


def test_sum_shared_by_several_products_is_planned_from_one_lowering():
    C, C2, c, c2 = problem2()
    S = C + C2
    E1 = le.lazy_einsum("ijk,ikj->k", S, S)
    E2 = le.lazy_einsum("ijk->i", S)
    r1, r2 = le.compute(E1, E2)
    np.testing.assert_allclose(r1, np.einsum("ijk,ikj->k", c + c2, c + c2))
    np.testing.assert_allclose(r2, np.einsum("ijk->i", c + c2))


def test_work_common_to_several_terms_is_computed_once():
    a, b, c = (le.lazy(rng.normal(size=(4, 4))) for _ in range(3))
    ab = a @ b
    plan = (le.lazy_einsum("ij,jk->ik", ab, c) + le.lazy_einsum("ij,kj->ik", ab, c)).explain()
    contractions = [s for s in plan.steps if type(s).__name__ == "Contract"]
    # a @ b is one contraction shared by both terms; each term adds one more
    assert len(contractions) == 3


def test_an_einsum_of_sums_expands_only_where_that_costs_fewer_flops():
    # problem 2: computing C + C2 costs a q*n*n array and as many adds, while each of the
    # four products of the expansion is a few n*n operations: expanded
    n, q = 12, 11
    A, Z2 = le.lazy(rng.normal(size=(n, n))), le.lazy(rng.normal(size=(q, n)))
    B, Y2 = le.lazy(rng.normal(size=q)), le.lazy(rng.normal(size=n))
    S = le.lazy_einsum("i,jk->ijk", B, A) + le.lazy_einsum("j,ik->ijk", Y2, Z2)
    E = le.lazy_einsum("ijk,ikj->k", S, S)
    assert E.explain().num_terms == 4 and not E.explain().materialized
    # dense sums of dense arrays: adding first is cheaper than multiplying each pair
    xs = [sum((le.lazy(rng.normal(size=(3, 3))) for _ in range(3)), start=le.lazy(
        np.zeros((3, 3)))) for _ in range(4)]
    t = le.lazy_einsum("ab,bc,cd,de->ae", *xs)
    plan = t.explain()
    assert plan.num_terms < 4**4
    assert any("costs fewer FLOPs than expanding" in m for m in plan.materialized)
    want = np.linalg.multi_dot([np.asarray(x) for x in xs])
    np.testing.assert_allclose(t.compute(), want)


def test_expansion_is_capped():
    # eight structured sums, each cheapest expanded on its own: 2**11 products in all
    x = le.lazy(rng.normal(size=(3, 3)))
    xs = [x + le.eye(3, k=1) for _ in range(11)]
    t = le.lazy_einsum(",".join("ab" for _ in xs) + "->ab", *xs)
    assert t.explain().num_terms <= MAX_PRODUCTS
    want = np.prod([np.asarray(x) + np.eye(3, k=1) for _ in xs], axis=0)
    np.testing.assert_allclose(t.compute(), want)


@pytest.mark.parametrize("make, reference", [
    (lambda A, x: le.eye(5) @ x, lambda A, x: x),
    (lambda A, x: le.lazy(A) @ le.eye(5), lambda A, x: A),
    (lambda A, x: le.eye(5, k=2) @ x, lambda A, x: np.eye(5, k=2) @ x),
    (lambda A, x: le.eye(7, 5, k=-1) @ x, lambda A, x: np.eye(7, 5, k=-1) @ x),
    (lambda A, x: le.kron(le.eye(3), A[:2, :]) @ le.lazy(rng.normal(size=15)),
     None),
    (lambda A, x: le.pad(A, ((1, 2), (3, 0))) @ le.lazy(np.ones(8)),
     lambda A, x: np.pad(A, ((1, 2), (3, 0))) @ np.ones(8)),
    (lambda A, x: le.stack([A, 2 * A]) @ x, lambda A, x: np.stack([A, 2 * A]) @ x),
    (lambda A, x: le.concatenate([A, A.T], axis=0) @ x,
     lambda A, x: np.concatenate([A, A.T], axis=0) @ x),
])
def test_structured_operands_are_views_not_arrays(make, reference):
    A = rng.normal(size=(5, 5))
    x = rng.normal(size=(5, 2))
    t = make(A, x)
    plan = t.explain()
    assert plan.materialized == ()
    if reference is not None:
        np.testing.assert_allclose(t.compute(), reference(A, x), atol=1e-12)


def test_kron_with_identity_is_the_expert_rewrite():
    W, data = rng.normal(size=(3, 8)), rng.normal(size=(4, 5 * 8))
    t = le.kron(le.eye(5), W) @ le.lazy(data).T
    plan = t.explain()
    assert plan.materialized == () and plan.num_terms == 1
    assert "split" in str(plan)
    np.testing.assert_allclose(t.compute(), np.kron(np.eye(5), W) @ data.T)
    # the FLOPs of the rewrite, not of the 15 x 40 kron matrix
    assert plan.flops <= 2 * 5 * 3 * 8 * 4


def test_reshape_without_a_view_is_materialized_and_said():
    a = le.lazy(rng.normal(size=(6, 4)))
    t = le.reshape(a, (4, 6)) @ le.lazy(np.ones(6))
    plan = t.explain()
    assert any("no split or merge of labels" in m for m in plan.materialized)
    np.testing.assert_allclose(t.compute(), np.asarray(a).reshape(4, 6) @ np.ones(6))


def test_eye_offset_past_the_edge_is_all_zeros_with_no_terms():
    t = le.eye(3, k=5)
    assert t.explain().num_terms == 0
    assert np.array_equal(t.compute(), np.eye(3, k=5))


def test_diagonal_of_an_offset_identity_is_exactly_zero():
    t = le.einsum("ii->i", le.eye(4, k=1))
    assert t.explain().num_terms == 0
    assert np.array_equal(t.compute(), np.zeros(4))


NUMPY_TWIN = SimpleNamespace(lazy=np.asarray, eye=np.eye, tensordot=np.tensordot,
                             lazy_einsum=np.einsum)


@pytest.mark.parametrize("make", [
    lambda ns, x, y, m: 2 * (ns.lazy(x) + y),
    lambda ns, x, y, m: (ns.tensordot(m, y, 2) * ns.tensordot(m, y, 2)).sum(0),
    lambda ns, x, y, m: (ns.lazy(x).T + ns.eye(3, dtype=bool)).sum(0),
    lambda ns, x, y, m: ns.lazy_einsum("ij,jk->ik", x, x) + np.ones((3, 3), np.int64),
    lambda ns, x, y, m: ns.lazy_einsum("ij,jk->ik", ns.lazy(x) + y, np.ones((3, 3), np.int8)),
])
def test_boolean_sums_are_logical_or_even_when_used_in_arithmetic(make):
    r = np.random.default_rng(5)
    x, y, m = r.random((3, 3)) < 0.6, r.random((3, 3)) < 0.6, r.random((4, 3, 3)) < 0.6
    want = np.asarray(make(NUMPY_TWIN, x, y, m))
    got = make(le, x, y, m).compute()
    assert got.dtype == want.dtype and np.array_equal(got, want), (got, want)


def test_a_left_deep_sum_is_merged_once_not_at_every_add(monkeypatch):
    merged = []

    def counting(terms):
        merged.append(len(terms))
        return sop.merge_terms(terms)

    monkeypatch.setattr(lower, "merge_terms", counting)
    xs = [le.lazy(rng.normal(size=3)) for _ in range(500)]
    t = xs[0]
    for k, x in enumerate(xs[1:]):
        t = t + x if k % 2 else t - 0.5 * x
    terms = Lowering(shared={t.node}).lower(t.node)
    assert len(terms) == 500
    assert merged == [500]  # the sums and scalings below the root are lowered with it


def test_a_long_product_is_computed_a_part_at_a_time_and_explained():
    ms = [rng.normal(size=(3, 3)) / 3 for _ in range(MANY_FACTORS + 2)]
    short, long_, want = le.lazy(ms[0]), le.lazy(ms[0]), ms[0]
    for m in ms[1:MANY_FACTORS]:
        short = short @ m
    for m in ms[1:]:
        long_, want = long_ @ m, want @ m
    assert short.explain().materialized == ()  # a short chain is one product, as it was
    plan = long_.explain()
    assert [m.split(":")[1] for m in plan.materialized] == [
        f" a product of {MANY_FACTORS} factors used by an einsum"]
    np.testing.assert_allclose(long_.compute(), want)

