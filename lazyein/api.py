"""The user-facing API: LazyTensor and the functions that build expressions; all validation."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import caches, runtime
from .backends.numpy import template
from .errors import ShapeError, SubscriptError
from .inputs import as_array, is_array_api, leaf_of, to_numpy
from .ir import Leaf, Node, Op
from .ops import (
    AddArgs,
    ConcatArgs,
    EinsumArgs,
    EyeArgs,
    IndexArgs,
    PadArgs,
    ReshapeArgs,
    ScaleArgs,
)
from .paths import optimizer
from .plan import Plan
from .printing import describe_op
from .subscripts import parse_einsum, split_interleaved
from .validate import (
    PYTHON_SCALARS,
    SCALARS,
    as_axis,
    as_count,
    as_int,
    basic_index,
    broadcast,
    check_libraries,
    check_numeric,
    check_on_dask,
    check_out,
    check_out_of_library,
    int_sequence,
    normalize_axes,
    parse_bytes,
    per_axis_pairs,
    scaled_dtype,
)

__all__ = [
    "LazyTensor", "lazy", "placeholder", "eye", "lazy_einsum", "einsum", "add", "subtract",
    "multiply", "matmul", "dot", "tensordot", "transpose", "moveaxis", "swapaxes", "reshape",
    "kron", "pad", "stack", "concatenate", "trace", "diagonal", "compute", "parse_bytes",
]


class LazyTensor:
    """A lazy expression: its shape and dtype are known, its value is computed on request.

    >>> import numpy as np, lazyein as le
    >>> t = le.lazy(np.ones((2, 3))) @ le.lazy(np.ones((3, 4)))
    >>> t.shape, t.dtype.name
    ((2, 4), 'float64')
    >>> t.compute()[0, 0]
    np.float64(3.0)
    """

    __slots__ = ("node",)
    __array_ufunc__ = None  # ndarray @ t, x + t and friends defer to us instead of computing

    def __init__(self, node: Node):
        self.node = node

    shape = property(lambda self: self.node.shape, doc="The result's shape.")
    dtype = property(lambda self: self.node.dtype, doc="The result's dtype (numpy's rules).")
    ndim = property(lambda self: len(self.node.shape), doc="The result's number of axes.")
    size = property(lambda self: self.node.size, doc="The result's number of elements.")
    nbytes = property(lambda self: self.node.size * self.node.dtype.itemsize,
                      doc="The result's bytes.")

    def __repr__(self):
        return (f"<LazyTensor shape={self.shape} dtype={self.dtype.name} "
                f"op={describe_op(self.node)}>")

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d LazyTensor")
        return self.shape[0]

    def __getitem__(self, key):
        """numpy's basic indexing (ints, slices of any step, None, ...), computing nothing:
        a compute does the work of the entries selected only."""
        index = basic_index(key, self.shape)
        if all(item == (0, n, 1) for item, n in zip(index, self.shape)) and None not in index:
            return self
        # a map of each entry (a cast, conj, real, imag) commutes with choosing entries:
        # chosen first, a cast of a 3 GB product costs the entries asked for
        maps, node = [], self.node
        while node.op is Op.ELEMENTWISE:
            maps.append(node.arg)
            node = node.src[0]
        node = Node(Op.INDEX, (node,), IndexArgs(index))
        for arg in reversed(maps):
            node = Node(Op.ELEMENTWISE, (node,), arg)
        return LazyTensor(node)

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("a LazyTensor becomes an array only by computing a new one; "
                             "np.asarray(t, copy=False) cannot avoid that")
        result = to_numpy(self.compute())
        return result if dtype is None else result.astype(dtype, copy=False)

    def compute(self, max_bytes=None, out=None, progress=False, scheduler=None,
                optimize="auto"):
        """Evaluate the expression.

        Args:
            max_bytes: bound on working memory (bytes, or a string such as ``"64MB"``); on
                dask, on each task's.
            out: an array of the result's shape and a dtype the result casts to safely (of
                the inputs' library).
            progress: show a progress bar over the evaluation's steps (dask's, on dask).
            scheduler: run on dask with this scheduler (``"threads"``, ``"sync"``, a
                ``distributed.Client``, ...), as ``to_dask(max_bytes).compute(scheduler=)``.
                An expression with dask inputs always runs on dask, by default on dask's
                current scheduler.
            optimize: what orders each term's contraction: a name opt_einsum knows
                (``"auto"``, ``"greedy"``, ``"optimal"``, ``"dp"``, ``"branch-2"``, ...) or a
                path optimizer object (opt_einsum's ``RandomGreedy()``, cotengra's
                ``HyperOptimizer()``, ...), copied for each contraction it is asked about
                unless it is made to be reused. Plans are kept per optimizer (an object by
                identity: pass the same one to reuse its plans).

        Returns:
            The result as a new array of the inputs' library (a numpy.ndarray for numpy or
            dask inputs; a torch tensor for torch's, ...), or `out`.

        Raises:
            MemoryBudgetError: no plan fits in `max_bytes`.
            ValueError: `optimize` is neither a name opt_einsum knows nor a path optimizer.
        """
        return _compute((self,), max_bytes, out, progress, scheduler, optimize)[0]

    def to_dask(self, max_bytes=None, optimize="auto"):
        """A ``dask.array.Array`` computing this expression by the same terms, orders and
        views as `compute`, in tasks each within `max_bytes` (its reads of input chunks,
        what it allocates and the block it returns).

        Raises:
            MemoryBudgetError: some task cannot be cut to fit in `max_bytes`.
            ImportError: dask is not installed.
            TypeError: the expression's arrays are another library's (torch, cupy, ...):
                dask runs numpy chunks.
        """
        roots = (self.node,)
        check_on_dask(roots)
        return runtime.to_dask(roots, parse_bytes(max_bytes), optimizer(optimize))[0]

    def explain(self, max_bytes=None, optimize="auto") -> Plan:
        """The plan `compute` would run within `max_bytes`, with `optimize` (as `compute`
        takes it): terms, contraction orders and what found them, FLOPs, peak working
        bytes, and how the work is chunked."""
        roots = (self.node,)
        setting = optimizer(optimize)
        return runtime.plan_for(roots, parse_bytes(max_bytes),
                                backend=runtime.backend_of(roots), optimize=setting)[0]

    def to_dot(self, planned: bool = False) -> str:
        """DOT source of the expression DAG; with `planned`, of the schedule `compute` runs."""
        from . import viz

        return viz.plan_dot(self.explain()) if planned else viz.expression_dot(self.node)

    def visualize(self, filename=None, format: str = "svg", planned: bool = False):
        """Render `to_dot(planned)` with Graphviz; write it to `filename` when given."""
        from . import viz

        return viz.visualize(self.to_dot(planned), filename=filename, format=format)

    def _repr_mimebundle_(self, include=None, exclude=None):
        # notebooks show the graph (as SVG when Graphviz is installed) under the text repr;
        # without pydot, the text alone: a repr must not raise
        from . import viz

        try:
            source = self.to_dot()
        except ImportError:
            return {"text/plain": repr(self)}
        return viz.mimebundle(source, repr(self))

    # -- operators ------------------------------------------------------------------------
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return subtract(self, other)

    def __rsub__(self, other):
        return subtract(other, self)

    def __neg__(self):
        return LazyTensor(_negate(self.node))

    def __pos__(self):
        return self

    def __mul__(self, other):
        return multiply(self, other)

    def __rmul__(self, other):
        return multiply(other, self)

    def __truediv__(self, other):
        if isinstance(other, np.ndarray) and other.ndim == 0:
            other = other[()]  # a 0-d array divides as the (strong) numpy scalar it holds
        if not isinstance(other, SCALARS) or isinstance(other, LazyTensor):
            raise TypeError(f"a LazyTensor can only be divided by a scalar, not by "
                            f"{type(other).__name__}: elementwise division is not multilinear")
        return LazyTensor(_scale(self.node, other, np.true_divide))

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    @property
    def T(self):
        return transpose(self)

    def transpose(self, *axes):
        if not axes:
            return transpose(self)  # t.transpose() reverses the axes
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], numbers.Integral)):
            axes = axes[0]  # t.transpose((1, 0)) and t.transpose(None), as well as varargs
        return transpose(self, axes)

    def reshape(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = shape[0]
        return reshape(self, shape)

    # numpy's complex parts and casts: lazyein.api_numpy (imported here, as it imports this)
    def conj(self):  # (ndarray.conj keeps a boolean array as it is; np.conj does not)
        return self if self.dtype.kind != "c" else _numpy_api().conj(self)

    real = property(lambda self: _numpy_api().real(self), doc="The real part (``np.real``).")
    imag = property(lambda self: _numpy_api().imag(self), doc="The imaginary part.")

    def astype(self, dtype):
        return _numpy_api().astype(self, dtype)

    def sum(self, axis=None, keepdims=False):
        """Sum over `axis` (an int, a tuple of ints, or None for all), as ``np.sum``."""
        axes = normalize_axes(axis, self.ndim, "sum")
        kept = [i for i in range(self.ndim) if i not in axes]
        node = _einsum_node(_cast_for_sum(self.node), [list(range(self.ndim))], kept)
        if keepdims:
            node = Node(Op.RESHAPE, (node,), ReshapeArgs(tuple(1 if i in axes else d
                                                               for i, d in enumerate(self.shape))))
        return LazyTensor(node)


def _numpy_api():
    from . import api_numpy
    return api_numpy


# -- leaves -------------------------------------------------------------------------------

def lazy(x, name: str | None = None) -> LazyTensor:
    """Wrap an array (anything ``np.asarray`` accepts) as a lazy leaf, without copying.

    >>> import numpy as np, lazyein as le
    >>> le.lazy(np.zeros((2, 3)), name="A")
    <LazyTensor shape=(2, 3) dtype=float64 op=input 'A'>
    """
    if isinstance(x, LazyTensor):
        if name is None:
            return x
        raise TypeError("lazy() wraps arrays; to name a LazyTensor, wrap its input")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    return LazyTensor(Node(Op.LEAF, arg=leaf_of(x, name)))


def placeholder(shape, dtype=float, name: str | None = None) -> LazyTensor:
    """A leaf whose array is given later, when a `le.function` of it is called; it builds
    into expressions like an array of `shape` and `dtype` (numpy only: it mixes with numpy
    arrays and constants, not with dask or other libraries' arrays).

    >>> import numpy as np, lazyein as le
    >>> x = le.placeholder((3,), name="x")
    >>> f = le.function(x, 2 * x + 1)
    >>> f(np.arange(3.0))
    array([1., 3., 5.])
    """
    shape = tuple(as_count(d, "placeholder shape") for d in int_sequence(shape, "shape"))
    dtype = np.dtype(dtype)
    check_numeric(dtype)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    # a stand-in over one element, never read: each placeholder is a leaf of its own
    leaf = Leaf(template(shape, dtype), name, library="numpy", placeholder=True)
    return LazyTensor(Node(Op.LEAF, arg=leaf))


def eye(N, M=None, k=0, dtype=float) -> LazyTensor:
    """The identity (or offset diagonal) with ``np.eye`` semantics, never materialized.

    >>> import lazyein as le
    >>> le.eye(2, 3, k=1).compute()
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    n = as_count(N, "N")
    m = n if M is None else as_count(M, "M")
    k = as_int(k, "k")
    dtype = np.dtype(dtype)
    check_numeric(dtype)
    return LazyTensor(Node(Op.EYE, arg=EyeArgs(n, m, k, dtype)))


# -- einsum -------------------------------------------------------------------------------

def lazy_einsum(*args, optimize=True) -> LazyTensor:
    """``np.einsum``'s whole grammar, lazily: explicit or implicit output, ``...``,
    repeated labels, size-1 broadcasting, and the interleaved sublist form. Past numpy's 52
    labels: any letter in the string form (non-ASCII ones too, as opt_einsum takes), any
    non-negative ints in the interleaved form, as many distinct ones as a network has.

    ``optimize`` is accepted for numpy compatibility and ignored: each term's contraction
    order is chosen when it is computed (``compute(optimize=...)``).

    Raises:
        SubscriptError: malformed subscripts or a wrong number of operands.
        ShapeError: a label given sizes that do not broadcast.

    >>> import numpy as np, lazyein as le
    >>> le.lazy_einsum("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4))).shape
    (2, 4)
    """
    if not args:
        raise SubscriptError("einsum needs subscripts and operands")
    if isinstance(args[0], str):
        subscripts, operands = args[0], list(args[1:])
    else:
        subscripts, operands = split_interleaved(args)
    nodes = [_node(x, weak=False) for x in operands]
    inputs, output, _ = parse_einsum(subscripts, tuple(n.shape for n in nodes))
    return LazyTensor(_einsum_node(nodes, inputs, output))


einsum = lazy_einsum


def _einsum_node(nodes, inputs, output) -> Node:
    """An EINSUM node with labels renumbered by first appearance, so equal maths interns."""
    if isinstance(nodes, Node):
        nodes = [nodes]
        if tuple(inputs[0]) == tuple(range(len(inputs[0]))):  # numbered already
            return Node(Op.EINSUM, (nodes[0],), EinsumArgs((tuple(inputs[0]),), tuple(output)))
    names: dict[int, int] = {}
    inputs = tuple(tuple(names.setdefault(ix, len(names)) for ix in labels) for labels in inputs)
    output = tuple(names[ix] for ix in output)
    return Node(Op.EINSUM, tuple(nodes), EinsumArgs(inputs, output))


# -- elementwise ----------------------------------------------------------------------------

def add(a, b) -> LazyTensor:
    """``a + b`` with numpy broadcasting."""
    x, y = _node(a), _node(b)
    if x.shape != y.shape or (x.op is Op.LEAF and x.arg.weak) or \
            (y.op is Op.LEAF and y.arg.weak) or x.dtype != y.dtype:  # else none can fail
        broadcast("add", x.shape, y.shape)
        _probe(np.add, x, y)
    return LazyTensor(Node(Op.ADD, (x, y), _ADD))


def subtract(a, b) -> LazyTensor:
    """``a - b`` with numpy broadcasting."""
    x, y = _node(a), _node(b)
    if x.dtype == bool and y.dtype == bool:
        raise TypeError("numpy boolean subtract, the `-` operator, is not supported; "
                        "use logical operations on computed results instead")
    if x.shape == y.shape and x.dtype == y.dtype and not (_weak(x) or _weak(y)):
        dtype = x.dtype  # nothing can fail, and numpy keeps the one (non-bool) dtype
    else:
        broadcast("subtract", x.shape, y.shape)
        # -y in the difference's own dtype: uint8 - True stays uint8, float32 - 2 float32
        dtype = _probe(np.subtract, x, y)
    return LazyTensor(Node(Op.ADD, (x, Node(Op.SCALE, (y,), ScaleArgs(-1, dtype))), _ADD))


def multiply(a, b) -> LazyTensor:
    """``a * b``: scaling by a scalar, or the elementwise product with numpy broadcasting."""
    if _is_scalar(b) and not _is_scalar(a):
        return LazyTensor(_scale(_node(a), b, np.multiply))
    if _is_scalar(a) and not _is_scalar(b):
        return LazyTensor(_scale(_node(b), a, np.multiply, scalar_first=True))
    x, y = _node(a), _node(b)
    shape = broadcast("multiply", x.shape, y.shape)
    n = len(shape)
    return LazyTensor(_einsum_node([x, y], [tuple(range(n - len(x.shape), n)),
                                            tuple(range(n - len(y.shape), n))], range(n)))


def _probe(ufunc, x: Node, y: Node) -> np.dtype:
    """The dtype numpy's `ufunc` gives `x` and `y`, and its errors: int8 + 1000 overflows."""
    def stand_in(node):
        return node.arg.array.item() if node.op is Op.LEAF and node.arg.weak else \
            np.zeros((), node.dtype)

    with np.errstate(all="ignore"):
        return ufunc(stand_in(x), stand_in(y)).dtype


def _negate(node: Node) -> Node:
    if node.dtype == bool:
        raise TypeError("the numpy boolean negative, the `-` operator, is not supported")
    # -x keeps x's dtype, unsigned included
    return Node(Op.SCALE, (node,), ScaleArgs(-1, node.dtype))


def _scale(node: Node, scalar, ufunc, scalar_first=False) -> Node:
    """`node` times (or divided by) a scalar, with the dtype numpy's `ufunc` would give."""
    if isinstance(scalar, (str, bytes)) or not _is_scalar(scalar):
        raise TypeError(f"expected a numeric scalar, got {type(scalar).__name__}")
    dtype = scaled_dtype(node, scalar, ufunc, scalar_first)
    value = scalar.item() if isinstance(scalar, np.generic) else scalar
    if ufunc is np.multiply:
        coeff = value
    else:
        with np.errstate(all="ignore"):
            coeff = np.true_divide(1.0, value).item()
    if isinstance(coeff, bool):
        coeff = int(coeff)
    return Node(Op.SCALE, (node,), ScaleArgs(coeff, dtype))


def _is_scalar(x) -> bool:
    """Is `x` a scalar the API takes (`validate.SCALARS`)? Python's numbers told quickly."""
    return type(x) in PYTHON_SCALARS or (type(x) is not LazyTensor and isinstance(x, SCALARS))


def _weak(node: Node) -> bool:
    """Is `node` a Python scalar, which promotes "weakly" (NEP 50)?"""
    return node.op is Op.LEAF and node.arg.weak


_ADD = AddArgs()


# -- products -----------------------------------------------------------------------------

def matmul(a, b) -> LazyTensor:
    """``a @ b`` with ``np.matmul`` semantics (1-D promotion, broadcast batch axes)."""
    x, y = _node(a, weak=False), _node(b, weak=False)
    if x.shape == () or y.shape == ():
        raise ShapeError(f"matmul: operand {0 if x.shape == () else 1} is 0-d; matmul needs "
                         "at least 1 dimension (use * to scale)")
    i, j, k = 0, 1, 2
    xl = (j,) if len(x.shape) == 1 else (i, j)
    yl = (j,) if len(y.shape) == 1 else (j, k)
    nx, ny = x.shape[-1], y.shape[-2] if len(y.shape) > 1 else y.shape[0]
    if nx != ny:
        which = "only" if len(y.shape) == 1 else "second-to-last"
        raise ShapeError(f"matmul: the last axis of the first operand (size {nx}, shape "
                         f"{x.shape}) must match the {which} axis of the second (size {ny}, "
                         f"shape {y.shape})")
    bx, by = x.shape[:-2], y.shape[:-2]
    batch = broadcast("matmul batch axes of", bx, by) if bx or by else ()
    nb = len(batch)
    labels_b = tuple(range(3, 3 + nb))
    out = labels_b + tuple(ix for ix in (i if len(x.shape) > 1 else None,
                                         k if len(y.shape) > 1 else None) if ix is not None)
    return LazyTensor(_einsum_node([x, y], [labels_b[nb - len(bx):] + xl,
                                            labels_b[nb - len(by):] + yl], out))


def dot(a, b) -> LazyTensor:
    """``np.dot``: products of scalars, inner products, matmul, and the N-D sum-product over
    the last axis of `a` and the second-to-last of `b`."""
    x, y = _node(a, weak=False), _node(b, weak=False)
    if x.shape == () or y.shape == ():
        return multiply(LazyTensor(x), LazyTensor(y))
    yc = 0 if len(y.shape) == 1 else len(y.shape) - 2
    if x.shape[-1] != y.shape[yc]:
        raise ShapeError(f"dot: shapes {x.shape} and {y.shape} not aligned: axis "
                         f"{len(x.shape) - 1} of the first (size {x.shape[-1]}) != axis {yc} "
                         f"of the second (size {y.shape[yc]})")
    return tensordot(LazyTensor(x), LazyTensor(y), axes=([-1], [yc]))


def tensordot(a, b, axes=2) -> LazyTensor:
    """``np.tensordot``: sum products over `axes` (an int N, or a pair of axis lists)."""
    x, y = _node(a, weak=False), _node(b, weak=False)
    nx, ny = len(x.shape), len(y.shape)
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0 or n > min(nx, ny):
            raise ShapeError(f"tensordot: axes={n} must be between 0 and the smaller number of "
                             f"dimensions ({nx}, {ny})")
        ax, ay = list(range(nx - n, nx)), list(range(n))
    else:
        try:
            ax, ay = axes
        except (TypeError, ValueError):
            raise ShapeError(f"tensordot: axes must be an int or a pair of axis sequences, "
                             f"got {axes!r}") from None
        ax = [ax] if isinstance(ax, numbers.Integral) else list(ax)
        ay = [ay] if isinstance(ay, numbers.Integral) else list(ay)
        if len(ax) != len(ay):
            raise ShapeError(f"tensordot: {len(ax)} axes of the first operand paired with "
                             f"{len(ay)} of the second")
        ax = [as_axis(i, nx, "tensordot") for i in ax]
        ay = [as_axis(i, ny, "tensordot") for i in ay]
    for i, j in zip(ax, ay):
        if x.shape[i] != y.shape[j]:
            raise ShapeError(f"tensordot: axis {i} of the first operand (size {x.shape[i]}) "
                             f"does not match axis {j} of the second (size {y.shape[j]})")
    if len(set(ax)) != len(ax) or len(set(ay)) != len(ay):
        raise ShapeError("tensordot: an axis is repeated in axes")
    xl = list(range(nx))
    yl = list(range(nx, nx + ny))
    for i, j in zip(ax, ay):
        yl[j] = xl[i]
    out = [xl[i] for i in range(nx) if i not in ax] + [yl[j] for j in range(ny) if j not in ay]
    return LazyTensor(_einsum_node([x, y], [xl, yl], out))


def kron(a, b) -> LazyTensor:
    """``np.kron`` for any numbers of dimensions, as an einsum whose axes are then merged."""
    x, y = _node(a, weak=False), _node(b, weak=False)
    n = max(len(x.shape), len(y.shape))
    x = _prepend_ones(x, n)
    y = _prepend_ones(y, n)
    xl, yl = tuple(range(n)), tuple(range(n, 2 * n))
    product = _einsum_node([x, y], [xl, yl], [ix for pair in zip(xl, yl) for ix in pair])
    return LazyTensor(Node(Op.RESHAPE, (product,),
                           ReshapeArgs(tuple(p * q for p, q in zip(x.shape, y.shape)))))


# -- structure ----------------------------------------------------------------------------

def transpose(a, axes=None) -> LazyTensor:
    """``np.transpose``: reverse the axes, or permute them by `axes`."""
    x = _node(a)
    n = len(x.shape)
    if axes is None:
        perm = list(range(n))[::-1]
    else:
        perm = [as_axis(i, n, "transpose") for i in int_sequence(axes, "transpose axes")]
        if sorted(perm) != list(range(n)):
            raise ShapeError(f"transpose: axes {tuple(axes)} are not a permutation of "
                             f"{tuple(range(n))}")
    return LazyTensor(_einsum_node(x, [tuple(range(n))], perm))


def moveaxis(a, source, destination) -> LazyTensor:
    """``np.moveaxis``."""
    x = _node(a)
    n = len(x.shape)
    src = [as_axis(i, n, "moveaxis source") for i in int_sequence(source, "source")]
    dst = [as_axis(i, n, "moveaxis destination") for i in int_sequence(destination,
                                                                        "destination")]
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: {len(src)} source axes but {len(dst)} destinations")
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ShapeError(f"moveaxis: repeated axis in source {source!r} or destination "
                         f"{destination!r}")
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return LazyTensor(_einsum_node(x, [tuple(range(n))], order))  # a valid permutation


def swapaxes(a, axis1, axis2) -> LazyTensor:
    """``np.swapaxes``."""
    x = _node(a)
    n = len(x.shape)
    i, j = as_axis(axis1, n, "swapaxes"), as_axis(axis2, n, "swapaxes")
    perm = list(range(n))
    perm[i], perm[j] = j, i
    return transpose(LazyTensor(x), perm)


def reshape(a, shape) -> LazyTensor:
    """``np.reshape`` in C order; one dimension may be -1."""
    x = _node(a)
    dims = [as_int(d, "reshape dimension") for d in int_sequence(shape, "shape")]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        raise ShapeError(f"reshape: invalid shape {tuple(dims)}: sizes are >= 0 with at most "
                         "one -1")
    known = math.prod(d for d in dims if d != -1)
    if -1 in dims:
        if known == 0 or x.size % known:
            raise ShapeError(f"cannot reshape array of size {x.size} into shape {tuple(dims)}")
        dims[dims.index(-1)] = x.size // known
    if math.prod(dims) != x.size:
        raise ShapeError(f"cannot reshape array of size {x.size} (shape {x.shape}) into shape "
                         f"{tuple(dims)}")
    dims = tuple(dims)
    return LazyTensor(x if dims == x.shape else Node(Op.RESHAPE, (x,), ReshapeArgs(dims)))


def pad(a, pad_width, mode="constant", constant_values=0) -> LazyTensor:
    """``np.pad`` in constant mode: `a` placed in a frame of `constant_values`."""
    if mode != "constant":
        raise NotImplementedError(f"pad mode {mode!r} is not supported: lazyein pads only with "
                                  "mode='constant' (a multilinear placement)")
    x = _node(a, weak=False)
    n = len(x.shape)
    widths = per_axis_pairs(pad_width, n, "pad_width", integer=True)
    if any(w < 0 for pair in widths for w in pair):
        raise ShapeError(f"pad: widths must be >= 0, got {pad_width!r}")
    if type(constant_values) is int and constant_values == 0:  # the usual zeros, quickly
        if (zero := _ZEROS.get(x.dtype)) is None:
            zero = _ZEROS[x.dtype] = _cast_constant(0, x.dtype)
        constants = ((zero, zero),) * n
    else:
        values = per_axis_pairs(constant_values, n, "constant_values", integer=False)
        with np.errstate(all="ignore"):  # cast as np.pad casts: 0.5 pads an int array with 0
            constants = tuple(tuple(_cast_constant(v, x.dtype) for v in pair) for pair in values)
    return LazyTensor(Node(Op.PAD, (x,), PadArgs(widths, constants)))


def concatenate(arrays, axis=0) -> LazyTensor:
    """``np.concatenate``; ``axis=None`` flattens first."""
    nodes = _node_list(arrays, "concatenate")
    if axis is None:
        nodes = [n if len(n.shape) == 1 else Node(Op.RESHAPE, (n,), ReshapeArgs((n.size,)))
                 for n in nodes]
        axis = 0
    first = nodes[0].shape
    if not first:
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated")
    axis = as_axis(axis, len(first), "concatenate")
    for i, n in enumerate(nodes[1:], 1):
        if len(n.shape) != len(first) or any(p != q for k, (p, q) in
                                              enumerate(zip(n.shape, first)) if k != axis):
            raise ShapeError(f"concatenate: array {i} has shape {n.shape}, which does not "
                             f"match array 0's {first} outside axis {axis}")
    if len(nodes) == 1:
        return LazyTensor(nodes[0])
    return LazyTensor(Node(Op.CONCAT, tuple(nodes), ConcatArgs(axis)))


def stack(arrays, axis=0) -> LazyTensor:
    """``np.stack``: join equal-shaped arrays along a new axis."""
    nodes = _node_list(arrays, "stack")
    shape = nodes[0].shape
    for i, n in enumerate(nodes[1:], 1):
        if n.shape != shape:
            raise ShapeError(f"stack: all input arrays must have the same shape; array 0 has "
                             f"{shape}, array {i} has {n.shape}")
    axis = as_axis(axis, len(shape) + 1, "stack")
    expanded = shape[:axis] + (1,) + shape[axis:]
    return concatenate([LazyTensor(Node(Op.RESHAPE, (n,), ReshapeArgs(expanded)))
                        for n in nodes], axis)


def diagonal(a, offset=0, axis1=0, axis2=1) -> LazyTensor:
    """``np.diagonal``: the diagonal moves to the last axis."""
    x = _node(a)
    n = len(x.shape)
    if n < 2:
        raise ShapeError(f"diagonal: needs at least 2 dimensions, got shape {x.shape}")
    i, j = as_axis(axis1, n, "diagonal"), as_axis(axis2, n, "diagonal")
    if i == j:
        raise ShapeError(f"diagonal: axis1 ({axis1}) and axis2 ({axis2}) name the same axis "
                         f"of the {n}-d operand")
    offset = as_int(offset, "offset")
    rest = [k for k in range(n) if k not in (i, j)]
    if offset == 0 and x.shape[i] == x.shape[j]:
        labels = list(range(n))
        labels[j] = labels[i]
        return LazyTensor(_einsum_node(x, [labels], rest + [i]))
    # an offset diagonal selects through two offset identities: free index arithmetic
    ni, nj = x.shape[i], x.shape[j]
    length = max(0, min(ni, nj - offset) if offset >= 0 else min(ni + offset, nj))
    d = n
    select_i = eye(length, ni, k=max(0, -offset), dtype=x.dtype).node
    select_j = eye(length, nj, k=max(0, offset), dtype=x.dtype).node
    return LazyTensor(_einsum_node([x, select_i, select_j],
                                   [tuple(range(n)), (d, i), (d, j)], rest + [d]))


def trace(a, offset=0, axis1=0, axis2=1) -> LazyTensor:
    """``np.trace``: the sum of a diagonal."""
    diag = diagonal(a, offset, axis1, axis2)
    return diag.sum(axis=-1)


# -- evaluation ---------------------------------------------------------------------------

def compute(*tensors, max_bytes=None, scheduler=None, optimize="auto") -> tuple:
    """Evaluate several expressions at once, computing work common to them once (on dask
    with `scheduler`, or when they have dask inputs; `optimize` orders each term's
    contraction: see `LazyTensor.compute`).

    >>> import numpy as np, lazyein as le
    >>> a = le.lazy(np.arange(3.0))
    >>> le.compute(a + a, a.sum())
    (array([0., 2., 4.]), array(3.))
    """
    return _compute(tuple(tensors), max_bytes, None, False, scheduler, optimize)


def _compute(tensors, max_bytes, out, progress, scheduler=None, optimize="auto"):
    """`runtime.compute` on `tensors`, once the arguments are checked."""
    roots = tuple(_node(t, weak=False) for t in tensors)
    budget = parse_bytes(max_bytes)
    setting = optimizer(optimize)
    if len(roots) > 1:
        check_libraries(roots)  # le.compute(t, u) of two libraries: an error, as building is
    backend = runtime.backend_of(roots)
    if scheduler is not None:
        check_on_dask(roots)
    if out is not None:
        (root,) = roots
        if backend.name == "numpy":
            check_out(out, root.shape, root.dtype)
        else:
            check_out_of_library(out, root, is_array_api(out))
    return runtime.compute(roots, budget, out, progress, scheduler, backend, setting)


def clear_plan_cache():
    """Forget every plan made so far (the next compute of anything plans afresh)."""
    caches.clear()


# -- input helpers ------------------------------------------------------------------------

def _node(x, weak: bool = True) -> Node:
    """The node for an operand: a LazyTensor's own, or a new leaf (Python scalars weak)."""
    if isinstance(x, LazyTensor):
        return x.node
    if type(x) is np.ndarray:  # the common case, quickly (what `leaf_of` checks first too)
        check_numeric(x.dtype)
        return Node(Op.LEAF, arg=Leaf(x))
    if weak and type(x) in (bool, int, float, complex):  # np.float64 is a float, but strong
        return Node(Op.LEAF, arg=Leaf(as_array(x), weak=True))
    return Node(Op.LEAF, arg=leaf_of(x))


# interned constants, not caches (so `caches.clear` leaves them): each dtype's zero, cast once
_ZEROS: dict[np.dtype, object] = {}


def _cast_constant(value, dtype):
    if isinstance(value, int) and not isinstance(value, bool):
        return np.array(value, dtype=dtype).item()  # out of range raises, as np.pad does
    return np.asarray(value).astype(dtype).item()


def _node_list(arrays, where) -> list[Node]:
    if isinstance(arrays, LazyTensor):
        raise TypeError(f"{where}: expected a sequence of arrays, got one LazyTensor (lazy "
                        "tensors cannot be iterated); pass a list")
    nodes = [_node(a, weak=False) for a in arrays]
    if not nodes:
        raise ShapeError(f"{where}: need at least one array")
    return nodes


def _prepend_ones(node: Node, n: int) -> Node:
    if len(node.shape) == n:
        return node
    return Node(Op.RESHAPE, (node,), ReshapeArgs((1,) * (n - len(node.shape)) + node.shape))


def _cast_for_sum(node: Node) -> list[Node]:
    """The operands that make an einsum sum with ``np.sum``'s dtype: small ints and bools
    accumulate in the platform integer, so they meet a one of that dtype."""
    dtype = np.zeros(1, node.dtype).sum().dtype
    if dtype == node.dtype:
        return [node]
    if dtype not in _ONES:  # one shared leaf per dtype, so equal sums intern as one node
        _ONES[dtype] = Node(Op.LEAF, arg=Leaf(np.ones((), dtype)))
    return [node, _ONES[dtype]]


# not a cache either (so `caches.clear` leaves it): the one leaf per dtype that makes equal
# sums intern as one node; a fresh leaf would make a new sum differ from an equal older one
_ONES: dict[np.dtype, Node] = {}
