"""numpy's vocabulary around the core API: structured constants (zeros, ones, full, diag),
complex parts and casts (conj, real, imag, astype), and shape helpers and products (squeeze,
expand_dims, broadcast_to, outer, inner, vdot); all user-input validation for them."""

from __future__ import annotations

import numpy as np

from .api import LazyTensor, _einsum_node, _node, diagonal, multiply, reshape, tensordot
from .errors import ShapeError
from .ir import Node, Op
from .ops import AddArgs, DiagArgs, ElementwiseArgs, FullArgs, ScaleArgs
from .ops.elementwise import cast_scalar, real_dtype
from .validate import SCALARS, as_axis, as_count, as_int, check_numeric, int_sequence

__all__ = ["zeros", "ones", "full", "diag", "conj", "real", "imag", "astype", "squeeze",
           "expand_dims", "broadcast_to", "outer", "inner", "vdot"]


# -- structured constants -------------------------------------------------------------------

def _shape(shape, where) -> tuple[int, ...]:
    return tuple(as_count(d, f"{where} shape") for d in int_sequence(shape, "shape"))


def _constant(shape, value, dtype) -> LazyTensor:
    return LazyTensor(Node(Op.FULL, arg=FullArgs(shape, cast_scalar(value, dtype), dtype)))


def zeros(shape, dtype=float) -> LazyTensor:
    """``np.zeros``, never built: a node with no terms, so nothing it meets is multiplied.

    >>> import numpy as np, lazyein as le
    >>> x = np.array([[np.inf, 1.0]])
    >>> (le.zeros((2, 1)) @ x).compute()
    array([[0., 0.],
           [0., 0.]])
    """
    dtype = np.dtype(dtype)
    check_numeric(dtype)
    return _constant(_shape(shape, "zeros"), 0, dtype)


def ones(shape, dtype=float) -> LazyTensor:
    """``np.ones``, never built: one term with no factors, broadcast over the shape.

    >>> import numpy as np, lazyein as le
    >>> n = 3
    >>> centered = (le.eye(n) - le.ones((n, n)) / n) @ np.arange(3.0)
    >>> centered.compute()
    array([-1.,  0.,  1.])
    """
    dtype = np.dtype(dtype)
    check_numeric(dtype)
    return _constant(_shape(shape, "ones"), 1, dtype)


def full(shape, fill_value, dtype=None) -> LazyTensor:
    """``np.full``: a scaled ``ones`` for a scalar `fill_value` (its numpy dtype unless
    `dtype` is given, cast unsafely as numpy casts it); an array `fill_value` is broadcast.

    >>> import lazyein as le
    >>> le.full((2,), 7).compute()
    array([7, 7])
    """
    shape = _shape(shape, "full")
    if isinstance(fill_value, SCALARS) or (np.ndim(fill_value) == 0
                                           and not isinstance(fill_value, LazyTensor)):
        dtype = np.asarray(fill_value).dtype if dtype is None else np.dtype(dtype)
        check_numeric(dtype)
        if isinstance(fill_value, int) and not isinstance(fill_value, bool):
            np.array(fill_value, dtype)  # out of range raises OverflowError, as np.full does
        return _constant(shape, np.asarray(fill_value).item(), dtype)
    filled = broadcast_to(fill_value, shape)
    return filled if dtype is None else astype(filled, dtype)


def diag(v, k=0) -> LazyTensor:
    """``np.diag``: a 1-D `v` on diagonal `k` of a square matrix (never built: `v`'s label on
    both axes, as eye's); the diagonal `k` of a 2-D `v`, a view.

    Raises:
        ShapeError: `v` is neither 1-D nor 2-D.

    >>> import numpy as np, lazyein as le
    >>> le.diag(np.array([1, 2]), k=1).compute()
    array([[0, 1, 0],
           [0, 0, 2],
           [0, 0, 0]])
    """
    x = _node(v, weak=False)
    k = as_int(k, "k")
    if len(x.shape) == 2:
        return diagonal(LazyTensor(x), offset=k)
    if len(x.shape) != 1:
        raise ShapeError(f"diag: input must be 1-d or 2-d, got shape {x.shape}")
    return LazyTensor(Node(Op.DIAG, (x,), DiagArgs(k)))


# -- complex parts and casts --------------------------------------------------------------

def conj(a) -> LazyTensor:
    """``np.conj``: distributed down to the complex inputs (each conjugated once, a copy);
    an operand of a real dtype is its own conjugate, returned as it is.

    >>> import numpy as np, lazyein as le
    >>> le.conj(le.lazy(np.array([1 + 2j])) * 1j).compute()
    array([-2.-1.j])
    """
    x = _node(a)
    if x.dtype == bool:  # the ufunc has no boolean loop: numpy's np.conj gives int8
        return astype(LazyTensor(x), np.int8)
    if x.dtype.kind != "c":
        return LazyTensor(x)
    return LazyTensor(Node(Op.ELEMENTWISE, (x,), ElementwiseArgs("conj", x.dtype)))


def real(a) -> LazyTensor:
    """``np.real``: of the real dtype; a view of complex inputs (numpy's ``.real``)."""
    x = _node(a)
    if x.dtype.kind != "c":
        return LazyTensor(x)
    return LazyTensor(Node(Op.ELEMENTWISE, (x,), ElementwiseArgs("real", real_dtype(x.dtype))))


def imag(a) -> LazyTensor:
    """``np.imag``: of the real dtype; zeros (never built) for a real operand.

    >>> import numpy as np, lazyein as le
    >>> le.imag(le.lazy(np.array([1 + 2j, 3]))).compute()
    array([2., 0.])
    """
    x = _node(a)
    if x.dtype.kind != "c":  # x times an exact 0: no terms, in x's library and on its device
        return LazyTensor(Node(Op.SCALE, (x,), ScaleArgs(0, x.dtype)))
    return LazyTensor(Node(Op.ELEMENTWISE, (x,), ElementwiseArgs("imag", real_dtype(x.dtype))))


def astype(a, dtype) -> LazyTensor:
    """``a.astype(dtype)``: numpy's casts, unsafe ones included (complex to real warns, as
    numpy does, when built); a safe cast of a float or complex expression distributes.

    >>> import numpy as np, lazyein as le
    >>> le.astype(le.lazy(np.array([1.7, -1.7])), np.int32).compute()
    array([ 1, -1], dtype=int32)
    """
    x = _node(a, weak=False)
    dtype = np.dtype(dtype)
    check_numeric(dtype)
    if dtype == x.dtype:
        return LazyTensor(x)
    np.zeros((), x.dtype).astype(dtype)  # numpy's warning (complex to real), now
    return LazyTensor(Node(Op.ELEMENTWISE, (x,), ElementwiseArgs("astype", dtype)))


# -- shapes ---------------------------------------------------------------------------------

def squeeze(a, axis=None) -> LazyTensor:
    """``np.squeeze``: drop length-1 axes (all, or those of `axis`), a reshape.

    Raises:
        ShapeError: an axis of `axis` is not of length 1.
    """
    x = _node(a)
    n = len(x.shape)
    if axis is None:
        axes = {i for i, d in enumerate(x.shape) if d == 1}
    else:
        axes = {as_axis(i, n, "squeeze") for i in int_sequence(axis, "squeeze axis")}
        for i in sorted(axes):
            if x.shape[i] != 1:
                raise ShapeError(f"squeeze: cannot select axis {i} of shape {x.shape} to "
                                 f"squeeze out: its size is {x.shape[i]}, not 1")
    return reshape(LazyTensor(x), tuple(d for i, d in enumerate(x.shape) if i not in axes))


def expand_dims(a, axis) -> LazyTensor:
    """``np.expand_dims``: new length-1 axes at the positions `axis` has in the result."""
    x = _node(a)
    wanted = int_sequence(axis, "expand_dims axis")
    n = len(x.shape) + len(wanted)
    axes = [as_axis(i, n, "expand_dims") for i in wanted]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"expand_dims: repeated axis in {axis!r}")
    dims = iter(x.shape)
    return reshape(LazyTensor(x), tuple(1 if i in axes else next(dims) for i in range(n)))


def broadcast_to(a, shape) -> LazyTensor:
    """``np.broadcast_to``: `a` broadcast (a sum with zeros of `shape` that keeps `a`'s
    dtype: the sum's rule broadcasts `a`'s terms, nothing is copied until the result).

    Raises:
        ShapeError: `a`'s shape does not broadcast to `shape`.
    """
    x = _node(a, weak=False)
    shape = _shape(shape, "broadcast_to")
    lead = len(shape) - len(x.shape)
    if lead < 0 or any(d not in (1, n) for d, n in zip(x.shape, shape[lead:])):
        raise ShapeError(f"broadcast_to: an array of shape {x.shape} cannot be broadcast "
                         f"to shape {shape}")
    if shape == x.shape:
        return LazyTensor(x)
    nothing = Node(Op.FULL, arg=FullArgs(shape, False, np.dtype(bool)))
    return LazyTensor(Node(Op.ADD, (x, nothing), AddArgs()))


# -- products -----------------------------------------------------------------------------

def _flat(node: Node) -> Node:
    return node if len(node.shape) == 1 else reshape(LazyTensor(node), (node.size,)).node


def outer(a, b) -> LazyTensor:
    """``np.outer``: both operands flattened, as numpy does."""
    x, y = _flat(_node(a, weak=False)), _flat(_node(b, weak=False))
    return LazyTensor(_einsum_node([x, y], [(0,), (1,)], (0, 1)))


def inner(a, b) -> LazyTensor:
    """``np.inner``: the sum over the last axes (a product where one operand is 0-d).

    Raises:
        ShapeError: the last axes differ in length.
    """
    x, y = _node(a, weak=False), _node(b, weak=False)
    if not x.shape or not y.shape:
        return multiply(LazyTensor(x), LazyTensor(y))
    if x.shape[-1] != y.shape[-1]:
        raise ShapeError(f"inner: the last axes of shapes {x.shape} and {y.shape} differ "
                         f"({x.shape[-1]} != {y.shape[-1]})")
    return tensordot(LazyTensor(x), LazyTensor(y), axes=([-1], [-1]))


def vdot(a, b) -> LazyTensor:
    """``np.vdot``: the dot product of the flattened operands, the first conjugated.

    Raises:
        ShapeError: the operands differ in size.

    >>> import numpy as np, lazyein as le
    >>> le.vdot(np.array([1j, 2]), np.array([1j, 1])).compute()
    array(3.+0.j)
    """
    x, y = _node(a, weak=False), _node(b, weak=False)
    if x.size != y.size:
        raise ShapeError(f"vdot: the operands have {x.size} and {y.size} elements (shapes "
                         f"{x.shape} and {y.shape}); they must have as many")
    first = _flat(x)
    if x.dtype.kind == "c":  # (vdot's own conjugation leaves booleans boolean)
        first = conj(LazyTensor(first)).node
    return LazyTensor(_einsum_node([first, _flat(y)], [(0,), (0,)], ()))
