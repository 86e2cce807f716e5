"""The four problems of PROBLEMS.md, checked against numpy, with memory measured."""

import numpy as np

import lazyein as le
from lazyein.testing import traced_working_bytes

rng = np.random.default_rng(11)


def test_problem1_kron_with_identity_runs_as_the_expert_rewrite():
    W0 = rng.normal(size=(30, 784))
    data = rng.normal(size=(200, 30 * 784))
    data[rng.random(data.shape) > 0.2] = 0
    t = le.kron(le.eye(30), W0) @ le.lazy(data).T
    expert = data.reshape(-1, 784).dot(W0.T).reshape(-1, 900).T
    result, working = traced_working_bytes(t.compute)
    np.testing.assert_allclose(result, expert, atol=1e-10)
    # the kron matrix alone would be 900 * 23520 * 8 = 169 MB; the products land straight in
    # the result (a batched matmul over the identity's axis), with no permuted copy of it
    assert working < result.nbytes / 4, working
    for other in (le.matmul(le.kron(le.eye(30), W0), data.T),
                  le.lazy_einsum("ij,kj->ik", le.kron(le.eye(30), W0), data)):
        np.testing.assert_allclose(other.compute(), expert, atol=1e-10)


def test_problem2_full_size_in_megabytes():
    n = q = 1000
    A, B = rng.normal(size=(n, n)), rng.normal(size=(q,))
    Y2, Z2 = rng.normal(size=(n,)), rng.normal(size=(q, n))
    C = le.lazy_einsum("i,jk->ijk", B, A)
    C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
    E = le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)
    assert E.explain().num_terms == 4
    result, working = traced_working_bytes(E.compute)
    hand = (np.einsum("i,jk,i,kj->k", B, A, B, A, optimize="optimal")
            + np.einsum("j,ik,k,ij->k", Y2, Z2, Y2, Z2, optimize="optimal")
            + np.einsum("i,jk,k,ij->k", B, A, Y2, Z2, optimize="optimal")
            + np.einsum("j,ik,i,kj->k", Y2, Z2, B, A, optimize="optimal"))
    np.testing.assert_allclose(result, hand, rtol=1e-10, atol=1e-8)
    assert working < 50 * 10**6, working  # eager numpy: 8 GB for each 3-D array
    budget = E.explain().peak_bytes
    result, working = traced_working_bytes(lambda: E.compute(max_bytes=budget))
    assert working <= budget + 2**20


def test_problem2_small_against_eager_numpy():
    n, q = 20, 22
    A, B = rng.normal(size=(n, n)), rng.normal(size=(q,))
    Y2, Z2 = rng.normal(size=(n,)), rng.normal(size=(q, n))
    C, C2 = np.einsum("i,jk->ijk", B, A), np.einsum("j,ik->ijk", Y2, Z2)
    lazy_C = le.lazy_einsum("i,jk->ijk", B, A)
    lazy_C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
    E = le.lazy_einsum("ijk,ikj->k", lazy_C + lazy_C2, lazy_C + lazy_C2)
    np.testing.assert_allclose(E.compute(), np.einsum("ijk,ikj->k", C + C2, C + C2))


def test_problem3_attention_and_the_grammar_tour():
    Q = rng.normal(size=(2, 3, 5, 4)).astype(np.float32)
    K = rng.normal(size=(2, 3, 6, 4)).astype(np.float32)
    got = le.einsum("bimd,bind->bimn", Q, K).compute()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.einsum("bimd,bind->bimn", Q, K), rtol=1e-5, atol=1e-5)
    M = rng.normal(size=(4, 4))
    for spec in ("ij->ji", "ij->", "ij->i", "ii", "ii->i", "ij,jk", "i,j->ij", "ij,ij->ij"):
        ops = (M,) * (spec.split("->")[0].count(",") + 1)
        if spec in ("i,j->ij",):
            ops = (M[0], M[1])
        np.testing.assert_allclose(le.einsum(spec, *ops).compute(), np.einsum(spec, *ops))


def conv_operator(K, m1, m2):
    """W_K built lazily with pad and stack, exactly the loop of PROBLEMS.md."""
    k1, k2, _, _ = K.shape
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    rows = []
    for i in range(w1):
        row = []
        for j in range(w2):
            padded = le.pad(K, ((i, m1 - i - k1), (j, m2 - j - k2), (0, 0), (0, 0)))
            row.append(le.moveaxis(padded, 3, 0))
        rows.append(le.stack(row))
    return le.stack(rows)


def test_problem4_convolution_operator_never_built():
    m1, m2, nch, k1, k2, nf = 9, 8, 3, 3, 2, 4
    K = rng.normal(size=(k1, k2, nch, nf))
    A = rng.normal(size=(m1, m2, nch))
    W_K = conv_operator(K, m1, m2)
    assert W_K.shape == (m1 - k1 + 1, m2 - k2 + 1, nf, m1, m2, nch)
    B = le.tensordot(W_K, A, 3)
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    shift_and_add = sum(A[a:a + w1, b:b + w2, :] @ K[a, b] for a in range(k1) for b in range(k2))
    np.testing.assert_allclose(B.compute(), shift_and_add, atol=1e-12)
    assert B.explain().materialized == ()
