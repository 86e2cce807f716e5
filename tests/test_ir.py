"""The expression DAG: interning, immutability, shapes and dtypes known at build time."""

import dataclasses
import pickle

import numpy as np
import pytest

import lazyein as le
from lazyein.ir import Op, toposort


def test_structurally_equal_expressions_are_one_node():
    a, b = np.ones((3, 4)), np.ones((4, 5))
    x, y = le.lazy(a), le.lazy(b)
    assert (x @ y).node is (x @ y).node
    assert le.einsum("ij,jk->ik", x, y).node is le.einsum("ab,bc->ac", x, y).node
    assert (x + x).node is (x + x).node


def test_leaves_are_equal_by_identity_of_their_array():
    a = np.ones(3)
    assert le.lazy(a).node is le.lazy(a).node
    assert le.lazy(a).node is not le.lazy(a.copy()).node
    assert le.lazy(a, name="A").node is not le.lazy(a).node


def test_nodes_are_immutable():
    node = le.lazy(np.ones(2)).node
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.op = Op.ADD


def test_pickle_reinterns():
    t = le.eye(3) + le.eye(3, k=1)
    assert pickle.loads(pickle.dumps(t.node)) is t.node


def test_toposort_puts_sources_first_and_shared_nodes_once():
    a = le.lazy(np.ones((2, 2)))
    s = a + a.T
    e = le.einsum("ij,ij->", s, s)
    order = toposort(e.node)
    assert order[-1] is e.node
    assert len(order) == len(set(order))
    for k, node in enumerate(order):
        assert all(order.index(src) < k for src in node.src)


@pytest.mark.parametrize("make, shape, dtype", [
    (lambda: le.lazy(np.ones((2, 3), np.float32)) * 2, (2, 3), np.float32),
    (lambda: le.lazy(np.ones((2, 3), np.float32)) * np.float64(2), (2, 3), np.float64),
    (lambda: le.lazy(np.ones(3, np.int8)) + 1, (3,), np.int8),
    (lambda: le.lazy(np.ones(3, np.int64)) / 2, (3,), np.float64),
    (lambda: le.lazy(np.ones(3, bool)).sum(), (), np.int64),
    (lambda: le.lazy(np.ones(3, np.uint8)) - le.lazy(np.ones(3, np.uint8)), (3,), np.uint8),
    (lambda: le.kron(np.ones((2, 3)), np.ones((4,))), (2, 12), np.float64),
    (lambda: le.pad(np.ones((2, 3), np.int32), 1, constant_values=7.5), (4, 5), np.int32),
    (lambda: le.eye(3, 5, k=2, dtype=np.complex64), (3, 5), np.complex64),
    (lambda: le.stack([np.ones(3, np.float32), np.ones(3, np.int64)], axis=1), (3, 2),
     np.float64),
])
def test_shape_and_dtype_are_numpys_before_compute(make, shape, dtype):
    t = make()
    assert t.shape == shape and t.dtype == np.dtype(dtype)
    assert t.ndim == len(shape) and t.size == int(np.prod(shape))
    assert t.nbytes == t.size * np.dtype(dtype).itemsize
    result = t.compute()
    assert result.shape == shape and result.dtype == np.dtype(dtype)


def test_repr_is_short_and_shows_no_data():
    t = le.lazy(np.arange(1e6), name="big") * 2
    text = repr(t)
    assert "shape=(1000000,)" in text and "float64" in text and "scale" in text
    assert len(text) < 100


def test_node_repr_is_a_jaxpr_style_listing_with_shared_nodes_once():
    a = le.lazy(np.ones((3, 4)), name="A")
    b = le.lazy(np.ones((4, 5)), name="B")
    s = a @ b
    text = repr((s + s).node)
    assert text.count("einsum[ab,bc->ac] A B") == 1
    assert text.splitlines()[0] == "{ lambda A:float64[3,4] B:float64[4,5] ."
