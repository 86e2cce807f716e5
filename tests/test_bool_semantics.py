"""Booleans: a sum is a logical or, a product a logical and, until numpy promotes to numbers.

Random chains of operations over boolean inputs, with numbers mixed in the way numpy mixes
them (sums of booleans count, scaling makes integers), compared exactly with numpy.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyein as le

# (name, numpy version, lazyein version): binary operations on two 3x3 operands
BINARY = [
    ("add", np.add, le.add),
    ("multiply", np.multiply, le.multiply),
    ("matmul", np.matmul, le.matmul),
    ("einsum", lambda a, b: np.einsum("ij,kj->ik", a, b),
     lambda a, b: le.einsum("ij,kj->ik", a, b)),
    ("stack-sum", lambda a, b: np.stack([a, b]).sum(0), lambda a, b: le.stack([a, b]).sum(0)),
]
UNARY = [
    ("transpose", np.transpose, le.transpose),
    ("plus-eye", lambda a: a + np.eye(3, dtype=bool), lambda a: a + le.eye(3, dtype=bool)),
    ("times-2", lambda a: 2 * a, lambda a: 2 * a),
    ("column-counts", lambda a: a.sum(0) * a, lambda a: a.sum(0) * a),
    ("kron-trace", lambda a: np.einsum("ii->i", np.kron(np.eye(1, dtype=bool), a))[:, None]
     * np.ones((1, 3), bool), lambda a: le.einsum("ii->i", le.kron(le.eye(1, dtype=bool), a))
     .reshape(3, 1) * np.ones((1, 3), bool)),
]


@st.composite
def programs(draw):
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            steps.append(("binary", draw(st.integers(0, len(BINARY) - 1)),
                          draw(st.integers(0, 2)), draw(st.integers(0, 2))))
        else:
            steps.append(("unary", draw(st.integers(0, len(UNARY) - 1)),
                          draw(st.integers(0, 2)), None))
    return steps


def run(steps, inputs, which):
    values = list(inputs)
    for kind, op, i, j in steps:
        if kind == "binary":
            fn = BINARY[op][which]
            values.append(fn(values[-1 - i % len(values)], values[-1 - j % len(values)]))
        else:
            values.append(UNARY[op][which](values[-1 - i % len(values)]))
    return values[-1]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(steps=programs(), seed=st.integers(0, 2**16))
def test_boolean_chains_match_numpy_exactly(steps, seed):
    rng = np.random.default_rng(seed)
    inputs = [rng.random((3, 3)) < 0.5 for _ in range(3)]
    want = np.asarray(run(steps, inputs, 1))
    lazy = run(steps, [le.lazy(x) for x in inputs], 2)
    got = lazy.compute()
    assert lazy.dtype == want.dtype == got.dtype, (steps, lazy.dtype, want.dtype)
    assert np.array_equal(got, want), (steps, got, want)
