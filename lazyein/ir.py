"""The expression DAG: the Op enum and one interned, immutable node type (each op's rules are
in lazyein/ops/)."""

from __future__ import annotations

import enum
import math
import weakref
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from .signature import signature_of

__all__ = ["Op", "Node", "Leaf", "toposort", "promotable", "definition", "common_library",
           "NUMPY_LIBRARIES"]


class Op(enum.Enum):
    """The primitives; each is defined (arguments, rules) in its module of lazyein/ops/."""

    LEAF = "leaf"        # ops/leaf.py, arg: Leaf
    EYE = "eye"          # ops/eye.py, arg: EyeArgs(n, m, k, dtype)
    EINSUM = "einsum"    # ops/einsum.py, arg: EinsumArgs(inputs, output)
    ADD = "add"          # ops/add.py, arg: AddArgs(), numpy broadcasting
    SCALE = "scale"      # ops/scale.py, arg: ScaleArgs(coeff, dtype)
    RESHAPE = "reshape"  # ops/reshape.py, arg: ReshapeArgs(shape)
    PAD = "pad"          # ops/pad.py, arg: PadArgs(widths, constants)
    CONCAT = "concat"    # ops/concat.py, arg: ConcatArgs(axis)
    FULL = "full"        # ops/full.py, arg: FullArgs(shape, value, dtype)
    DIAG = "diag"        # ops/diag.py, arg: DiagArgs(k)
    ELEMENTWISE = "elementwise"  # ops/elementwise.py, arg: ElementwiseArgs(fn, dtype)
    INDEX = "index"      # ops/index.py, arg: IndexArgs(index), numpy's basic indexing

    # members are singletons: hashed by identity, in C (Enum's own hash is Python code, and
    # every node built hashes its op)
    __hash__ = object.__hash__


class Leaf:
    """An input array, compared by identity: two leaves are equal when they hold the same object.

    A dask array stays lazy: `array` is then a stand-in with its shape, dtype and C-order
    strides (never read), and `dask` the array itself (its `library` is "dask", which mixes
    with numpy's). So does an array of another array-API
    library (`native`, from `library`): the plan runs in that library.

    `library` names where the array lives, for the rule that one expression's arrays come
    from one library: "numpy" (dask arrays hold numpy chunks), another library's name, or
    None for what mixes with any (Python scalars, 0-d constants)."""

    __slots__ = ("array", "name", "weak", "dask", "native", "library", "placeholder",
                 "__weakref__")

    def __init__(self, array: np.ndarray, name: str | None = None, weak: bool = False,
                 dask=None, native=None, library: str | None = None, placeholder=False):
        self.array = array
        # a placeholder (le.placeholder) has no array until a le.function of it is called:
        # `array` is a stand-in with its shape, dtype and C strides, never read
        self.placeholder = placeholder
        self.name = name
        # A Python scalar keeps numpy's "weak" promotion (NEP 50): 2 * float32 stays float32.
        self.weak = weak
        self.dask = dask
        self.native = native
        if library is None and native is None and not weak and array.ndim:
            library = "numpy"
        self.library = library

    def __eq__(self, other):
        if not isinstance(other, Leaf) or (self.name, self.weak) != (other.name, other.weak):
            return False
        if self.dask is not None or other.dask is not None:
            # the same object: a persisted copy keeps the name, but not the graph
            return self.dask is other.dask
        if self.native is not None or other.native is not None:
            return self.native is other.native
        if self.weak:  # Python scalars are values, not data: equal values are one leaf
            return self.array.dtype == other.array.dtype and self.array == other.array
        return self.array is other.array

    def __hash__(self):
        if self.dask is not None or self.native is not None:
            return hash((id(self.dask), id(self.native), self.name))
        key = self.array.item() if self.weak else id(self.array)
        return hash((key, self.name, self.weak))

    def __repr__(self):
        return self.name or f"array{list(self.array.shape)}"


class _Interned(type):
    # key -> a weak reference to the node that drops its entry when the node dies: a plain
    # dict of `_Ref`s, as a WeakValueDictionary's Python-level get and set were a third of
    # building a DAG of 46,000 nodes
    _cache: dict = {}

    def __call__(cls, op, src=(), arg=None):
        # children are interned, so hashing src hashes their ids; args are NamedTuples,
        # equal to plain tuples of their fields, so the op (in the key) tells them apart
        key = (op, src, arg)
        ref = cls._cache.get(key)
        if ref is None or (hit := ref()) is None:
            hit = super().__call__(op, src, arg)
            ref = cls._cache[key] = _Ref(hit, _forget)
            ref.key = key
        return hit


class _Ref(weakref.ref):
    """A weak reference that knows its key in the table of interned nodes."""

    __slots__ = ("key",)


def _forget(ref: _Ref):
    """Drop `ref`'s entry, if the table still holds it (a node freed late, by the cycle
    collector, may have been built anew under its key by then)."""
    if _Interned._cache.get(ref.key) is ref:
        del _Interned._cache[ref.key]


@dataclass(frozen=True, eq=False, slots=True, weakref_slot=True)
class Node(metaclass=_Interned):
    """One operation of the DAG; structurally equal nodes are the same object."""

    op: Op
    src: tuple[Node, ...] = ()
    arg: Hashable = None
    shape: tuple[int, ...] = field(init=False)
    dtype: np.dtype = field(init=False)
    # the array library the node's inputs come from (None: only constants), see `Leaf`
    library: str | None = field(init=False)
    # the number of its structure up to its inputs, and its inputs (`signature`)
    structure: int | None = field(init=False, repr=False)
    inputs: tuple | None = field(init=False, repr=False)
    # what later stages derive from the node and keep with it (`caches.memo`): its terms
    memo: dict | None = field(init=False, default=None, repr=False)

    def __post_init__(self):  # a badly shaped node cannot exist
        op, src, arg = self.op, self.src, self.arg
        rules = _DEFINITIONS.get(op) or definition(op)
        assert isinstance(arg, rules.args), \
            f"{op} takes a {rules.args.__name__} as its arg, not {arg!r}"
        shape, dtype = rules.abstract(src, arg)
        setattr_ = object.__setattr__
        setattr_(self, "shape", shape)
        setattr_(self, "dtype", dtype if isinstance(dtype, np.dtype) else np.dtype(dtype))
        if op is Op.LEAF:
            library = arg.library
        elif len(src) == 1:
            library = src[0].library
        else:
            library = common_library(src)
        setattr_(self, "library", library)
        structure, inputs = signature_of(self)
        setattr_(self, "structure", structure)
        setattr_(self, "inputs", inputs)
        setattr_(self, "memo", None)

    def __reduce__(self):  # unpickling re-interns
        return Node, (self.op, self.src, self.arg)

    def replace(self, **changes) -> Node:
        fields = {"op": self.op, "src": self.src, "arg": self.arg} | changes
        return Node(fields["op"], fields["src"], fields["arg"])

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __repr__(self):
        from .printing import pformat

        return pformat(self)


def common_library(src) -> str | None:
    """The one library that `src`'s arrays come from; two raise the user's TypeError here,
    where every operation that joins operands passes, as the expression is built."""
    found = None
    for s in src:
        library = s.library
        if library is None or library == found:
            continue
        if found is None or {found, library} == _DASK_AND_NUMPY:
            found = "dask" if found is not None else library  # dask holds numpy chunks
            continue
        raise TypeError(f"an expression mixes arrays of two libraries, {found} and "
                        f"{library}: lazyein runs each expression in one library; convert "
                        f"one side (for example with np.asarray or xp.asarray) first")
    return found


# dask arrays hold numpy chunks: an expression of both reads dask arrays (runs on dask)
_DASK_AND_NUMPY = frozenset({"dask", "numpy"})
# the libraries whose expressions numpy plans run (dask's in its tasks)
NUMPY_LIBRARIES = _DASK_AND_NUMPY | {None}


def promotable(node: Node):
    """What numpy's promotion should see for `node`: a weak Python scalar, or a dtype."""
    if node.op is Op.LEAF and node.arg.weak:
        return node.arg.array.item()
    return node.dtype


_get_op = None  # lazyein.ops.get_op, found when first needed: the op modules import this one
_DEFINITIONS: dict = {}  # lazyein.ops.DEFINITIONS, likewise: looked up first, quickly


def definition(op):
    """`op`'s definition (an `ops.OpDef`): its argument type, shape and dtype rule, lowering
    rule, and how it prints and draws."""
    global _get_op, _DEFINITIONS
    if _get_op is None:
        from .ops import DEFINITIONS, get_op

        _get_op, _DEFINITIONS = get_op, DEFINITIONS
    return _get_op(op)


def toposort(*roots: Node) -> list[Node]:
    """Every node reachable from `roots`, each after all of its sources."""
    order, seen, stack = [], set(), [(r, False) for r in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((s, False) for s in reversed(node.src) if s not in seen)
    return order
