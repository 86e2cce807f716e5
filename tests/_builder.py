"""The program drawer behind tests/strategies.py: drawn nodes, their numpy values, and `Case`."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import lazyein as le
from lazyein.testing import LAYOUTS, _literal, relayout, tolerance

__all__ = ["Case"]

# Caps that keep every example cheap: hundreds of cases must run in seconds.
_MAX_SIZE = 1024  # elements of any node
_MAX_NDIM = 6
_LEAF_SIZE = 48  # elements of a leaf drawn freely
_MAX_LEAF_SIZE = 256  # elements of a leaf whose shape an operation dictates
# sampled_from shrinks towards the first entry, so the common choice comes first.
_DTYPES = ("float64",) * 17 + ("float32", "int64", "complex128")
_DIMS = (2, 3, 1, 4, 2, 3, 5)
_NDIMS = (2, 1, 3, 2, 0, 1, 3, 4)


@dataclass(eq=False)
class _Node:
    """One drawn node: its tokens in the lazy and reference code, and its numpy value."""

    idx: int
    lazy: str  # token in the lazy code, 't3'
    ref: str  # token in the reference code: 'x3' for an input leaf, 'r3' otherwise
    raw: str | None  # 'x3' for an input leaf, usable directly as an ndarray operand
    value: np.ndarray
    bound: np.ndarray  # the same computation on |inputs| and |constants|, subtraction as addition
    rtol: float  # tolerance of the least precise value numpy computed on the way (0: exact)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype


@dataclass(frozen=True, eq=False)
class Case:
    """A drawn expression: source building it lazily, and its eager numpy value.

    ``repr(case)`` is a self-contained script: input arrays, the lazyein calls, then the plain
    numpy calls that compute the reference, so a falsifying example is a reproducer.

    Attributes:
        inputs: name -> input array, shared by the lazy code and the reference (no copies);
            some are Fortran-ordered, reversed, strided or broadcast views.
        input_code: name -> Python source that rebuilds the input exactly.
        lazy_code: assignments building the lazy expression(s), one per line.
        ref_code: assignments computing the reference with numpy only, one per line.
        outputs: names, in ``lazy_code``, of the expressions under test.
        ref_names: names, in ``ref_code`` or ``inputs``, of their references.
        refs: the reference values (always ``np.ndarray``, 0-d included).
        bounds: per output, max |term| over the computation: the scale of rounding errors.
        rtols: per output, the relative tolerance of the least precise value numpy computed
            on the way (float32 intermediates of a float64 result give float32's), 0 if exact.
    """

    inputs: dict[str, np.ndarray]
    input_code: dict[str, str]
    lazy_code: tuple[str, ...]
    ref_code: tuple[str, ...]
    outputs: tuple[str, ...]
    ref_names: tuple[str, ...]
    refs: tuple[np.ndarray, ...]
    bounds: tuple[float, ...]
    rtols: tuple[float, ...]

    def build(self, inputs: dict | None = None) -> tuple:
        """Run ``lazy_code`` and return the output lazy tensors, in order.

        Args:
            inputs: arrays to use instead of some of ``self.inputs``, by name.

        Returns:
            A tuple of ``le.LazyTensor``, one per entry of ``outputs``.
        """
        ns = {"np": np, "le": le, **self.inputs, **(inputs or {})}
        exec("\n".join(self.lazy_code), ns)  # noqa: S102 - the code is ours, drawn above
        return tuple(ns[name] for name in self.outputs)

    @property
    def lazy(self):
        """A freshly built lazy tensor for the first output."""
        return self.build()[0]

    @property
    def ref(self) -> np.ndarray:
        """The numpy reference of the first output."""
        return self.refs[0]

    @property
    def bound(self) -> float:
        """The rounding scale of the first output."""
        return self.bounds[0]

    @property
    def rtol(self) -> float:
        """The relative tolerance of the first output."""
        return self.rtols[0]

    def __repr__(self) -> str:
        lines = ["import numpy as np", "import lazyein as le"]
        lines += [f"{name} = {self.input_code[name]}" for name in self.inputs]
        lines += self.lazy_code
        lines.append("# eager numpy reference")
        lines += self.ref_code
        for out, name, ref in zip(self.outputs, self.ref_names, self.refs):
            lines.append(
                f"# expect {out}.compute() == {name}: shape {ref.shape}, dtype {ref.dtype}"
            )
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):
        p.text(repr(self))


class _Reject(Exception):
    """The operation being drawn would need an input too big to draw: skip it."""


class _Builder:
    """Draws a program step by step, evaluating the numpy reference as it goes."""

    def __init__(self, draw, allow_zero: bool, dtypes=_DTYPES):
        self.draw = draw
        self.allow_zero = allow_zero
        self.dtypes = tuple(dtypes)
        self.nodes: list[_Node] = []
        self.inputs: dict[str, np.ndarray] = {}
        self.input_code: dict[str, str] = {}
        self.lazy_src: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.ref_src: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.ns_ref: dict = {"np": np}
        self.ns_abs: dict = {"np": np}

    # -- drawing helpers ------------------------------------------------------------------
    def chance(self, k: int) -> bool:
        """True with probability 1/k; shrinks to False."""
        return self.draw(st.integers(0, k - 1)) == k - 1

    def choice(self, seq):
        return self.draw(st.sampled_from(tuple(seq)))

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def perm(self, seq) -> list:
        return list(self.draw(st.permutations(list(seq))))

    def axis(self, ax: int, ndim: int) -> int:
        """``ax`` or its negative spelling."""
        return ax - ndim if self.chance(3) else ax

    def dim(self, zero: bool | None = None) -> int:
        zero = self.allow_zero if zero is None else zero
        return self.choice(_DIMS + ((0,) if zero else ()))

    def shape(
        self, min_ndim: int = 0, max_ndim: int = 3, max_size: int = _LEAF_SIZE
    ) -> tuple[int, ...]:
        ndim = self.choice([n for n in _NDIMS if min_ndim <= n <= max_ndim] or [min_ndim])
        dims = [self.dim() for _ in range(ndim)]
        while math.prod(dims) > max_size:
            dims[dims.index(max(dims))] -= 1
        return tuple(dims)

    def bcast_shape(self, s: tuple[int, ...]) -> tuple[int, ...]:
        """A shape that broadcasts against ``s`` (fewer, more, or size-1 dims)."""
        out = []
        for d in s[self.integer(0, len(s)) :]:
            if d == 1:
                out.append(self.choice((1, 2, 3)))
            else:
                out.append(1 if self.chance(4) else d)
        # extra leading dims only when no dim of s was dropped, or they would misalign
        extra = self.integer(0, 2) if len(out) == len(s) < 4 else 0
        return tuple(self.choice((1, 2, 3)) for _ in range(extra)) + tuple(out)

    # -- nodes --------------------------------------------------------------------------
    def leaf(self, shape=None, dtype=None) -> _Node:
        """A new input array wrapped by ``le.lazy``."""
        shape = self.shape() if shape is None else tuple(shape)
        dtype = self.choice(self.dtypes) if dtype is None else dtype
        n = math.prod(shape)
        if n > _MAX_LEAF_SIZE:
            raise _Reject(shape)
        ints = st.lists(st.integers(-3, 3), min_size=n, max_size=n)
        x = np.array(self.draw(ints), dtype=dtype).reshape(shape)
        if np.dtype(dtype).kind == "c":
            x = x + 1j * np.array(self.draw(ints), dtype=float).reshape(shape)
        layout = self.choice(("C",) * 7 + LAYOUTS[1:] + ("broadcast",))
        if layout == "broadcast" and x.ndim:  # read-only, zero strides along one axis
            small = x[(slice(None),) * self.integer(0, x.ndim - 1) + (slice(0, 1),)]
            x, code = (
                np.broadcast_to(small, shape),
                f"np.broadcast_to({_literal(small)}, {shape!r})",
            )
        else:
            x, code = relayout(x, layout)
        i = len(self.nodes)
        name = f"x{i}"
        self.inputs[name] = x
        self.input_code[name] = code
        self.ns_ref[name] = x
        self.ns_abs[name] = np.abs(x)
        src = f"le.lazy({name}, name={name!r})" if self.chance(4) else f"le.lazy({name})"
        self.lazy_src[f"t{i}"] = (src, (name,))
        node = _Node(i, f"t{i}", name, name, x, np.abs(x), 0.0)
        self.nodes.append(node)
        return node

    def eye(self, n: int | None = None) -> _Node:
        """A new ``le.eye`` leaf."""
        zero = self.allow_zero
        if n is not None:
            return self.node(f"le.eye({n})", f"np.eye({n})", [])
        n = self.choice((3, 2, 1, 4, 5) + ((0,) if zero else ()))
        m = self.choice((None, 3, 2, 1, 4, 5) + ((0,) if zero else ()))
        k = self.choice((0, 1, -1, 2, -2, 4))
        dtype = self.choice((None, None, None, "np.float32", "np.int64", "float", "complex"))
        args = [repr(n)]
        if m is not None or self.chance(3):
            args.append(f"M={m!r}" if self.chance(2) else repr(m))
        if k or self.chance(4):
            keyword = len(args) == 1 or "=" in args[-1] or self.chance(2)
            args.append(f"k={k}" if keyword else repr(k))
        if dtype is not None:
            args.append(f"dtype={dtype}")
        call = ", ".join(args)
        return self.node(f"le.eye({call})", f"np.eye({call})", [])

    def node(self, lazy_fmt: str, ref_fmt: str, uses, abs_fmt: str | None = None) -> _Node | None:
        """Add a node; ``{0}``, ``{1}``... in the formats are the operands of ``uses``.

        ``uses`` holds (node, raw) pairs; raw operands appear as the ndarray itself in the
        lazy code. Returns None when numpy rejects the call or the result is too big.
        """
        lazy_toks = tuple(n.raw if raw else n.lazy for n, raw in uses)
        ref_toks = tuple(n.ref for n, _ in uses)
        ref_src = ref_fmt.format(*ref_toks)
        abs_src = (abs_fmt or ref_fmt).format(*ref_toks)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                value = np.asarray(eval(ref_src, self.ns_ref))  # noqa: S307 - our own code
                bound = np.abs(eval(abs_src, self.ns_abs))  # noqa: S307 - real even for complex eye
        except (ValueError, TypeError, IndexError, Warning):
            return None
        if value.size > _MAX_SIZE or value.ndim > _MAX_NDIM:
            return None
        i = len(self.nodes)
        self.ns_ref[f"r{i}"] = value
        self.ns_abs[f"r{i}"] = bound
        self.lazy_src[f"t{i}"] = (lazy_fmt.format(*lazy_toks), lazy_toks)
        self.ref_src[f"r{i}"] = (ref_src, ref_toks)
        rtol = max([tolerance(value.dtype)] + [n.rtol for n, _ in uses])
        node = _Node(i, f"t{i}", f"r{i}", None, value, bound, rtol)
        self.nodes.append(node)
        return node

    def pick(
        self,
        pred: Callable[[_Node], bool] = lambda n: True,
        make: Callable[[], tuple] | None = None,
    ):
        """A node satisfying ``pred``, recent ones first; else a new leaf shaped ``make()``."""
        cands = [n for n in self.nodes if pred(n)]
        if cands:  # mostly the most recent candidate, so the DAG grows deep
            return cands[-1 - (self.integer(0, len(cands) - 1) if self.chance(4) else 0)]
        return self.leaf(make()) if make is not None else None

    def partner(self, a: _Node, pred, make) -> tuple[_Node, bool]:
        """A second operand for ``a``: a new leaf (sometimes raw), a drawn node, or ``a`` itself."""
        mode = self.integer(0, 2)
        if mode == 2 and pred(a):
            return a, False  # shared subexpression
        if mode == 1:
            n = self.pick(pred)
            if n is not None:
                return n, False
        return self.leaf(make()), self.chance(2)

    def depends(self, node: _Node) -> int:
        """How many nodes ``node`` is computed from, itself included."""
        seen, stack = set(), [node.lazy]
        while stack:
            tok = stack.pop()
            if tok not in seen:
                seen.add(tok)
                stack.extend(self.lazy_src.get(tok, ("", ()))[1])
        return len(seen)

    def case(self, roots: list[_Node]) -> Case:
        """Freeze the program into a Case, keeping only the code ``roots`` depend on."""

        def reach(toks, src):
            seen, stack = set(), list(toks)
            while stack:
                tok = stack.pop()
                if tok not in seen:
                    seen.add(tok)
                    stack.extend(src.get(tok, ("", ()))[1])
            return seen

        def order(tok):
            return int(tok[1:])

        lazy_need = reach([r.lazy for r in roots], self.lazy_src)
        ref_need = reach([r.ref for r in roots], self.ref_src)
        names = sorted((lazy_need | ref_need) & set(self.inputs), key=order)
        return Case(
            inputs={name: self.inputs[name] for name in names},
            input_code={name: self.input_code[name] for name in names},
            lazy_code=tuple(
                f"{t} = {self.lazy_src[t][0]}"
                for t in sorted(lazy_need & set(self.lazy_src), key=order)
            ),
            ref_code=tuple(
                f"{t} = {self.ref_src[t][0]}"
                for t in sorted(ref_need & set(self.ref_src), key=order)
            ),
            outputs=tuple(r.lazy for r in roots),
            ref_names=tuple(r.ref for r in roots),
            refs=tuple(r.value for r in roots),
            bounds=tuple(float(np.max(r.bound, initial=0.0)) for r in roots),
            rtols=tuple(r.rtol for r in roots),
        )

