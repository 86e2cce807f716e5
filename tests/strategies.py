"""Hypothesis strategies drawing random lazy expression DAGs paired with their numpy values."""

from __future__ import annotations

import math
import string
from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st

from _builder import _DTYPES, _MAX_NDIM, _MAX_SIZE, Case, _Builder, _Node, _Reject
from _vocab_ops import _op_astype, _op_complex, _op_constant, _op_diag, _op_products, _op_shape

__all__ = ["Case", "OPERATIONS", "deterministic", "exprs", "problem_cases"]

_MAX_EINSUM_WORK = 20_000  # product of all label sizes of one einsum (np.einsum loops over them)
_MUL_SCALARS = (
    2,
    -1,
    0.5,
    3,
    -2.5,
    1.5,
    0.1,
    0,
    np.float64(2.0),
    np.float32(0.5),
    np.int64(3),
    1j,
    (1 - 2j),
)
_DIV_SCALARS = (2, -4, 0.5, 3, 1.5, np.float64(4.0), np.float32(2.0), np.int64(2), 2j)
_ADD_SCALARS = (1, -2, 0.5, 2.0, np.float64(1.5), np.float32(2.0), np.int64(-1), 1j)
_LETTERS = string.ascii_letters


def deterministic(shrink: bool = True) -> dict:
    """Hypothesis settings for CI: the same examples on every run, no example database, no
    deadline; without `shrink`, no shrinking (slow here; a falsifying `Case` prints as a
    runnable script anyway)."""
    found = dict(derandomize=True, database=None, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    if not shrink:
        found["phases"] = (Phase.explicit, Phase.reuse, Phase.generate)
    return found


# -- shape rules, for finding compatible operands among drawn nodes ---------------------------
def _bshape(*shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        return None


def _matmul_shape(sa, sb):
    if not sa or not sb:
        return None
    a = (1,) + sa if len(sa) == 1 else sa
    b = sb + (1,) if len(sb) == 1 else sb
    batch = _bshape(a[:-2], b[:-2])
    if a[-1] != b[-2] or batch is None:
        return None
    return batch + a[-2:-1] * (len(sa) > 1) + b[-1:] * (len(sb) > 1)


def _dot_shape(sa, sb):
    if not sa or not sb:
        return None
    if len(sb) == 1:
        return sa[:-1] if sa[-1] == sb[0] else None
    return sa[:-1] + sb[:-2] + sb[-1:] if sa[-1] == sb[-2] else None


def _fits(shape) -> bool:
    return shape is not None and math.prod(shape) <= _MAX_SIZE and len(shape) <= _MAX_NDIM


# -- operations: each draws one new node from the pool; None if it cannot apply -------------------
def _op_einsum(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.einsum, le.lazy_einsum: random subscripts, repeated labels, '...', implicit, sublists."""
    ops = _einsum_operands(b, b.pick() if a is None else a, share)
    terms, sizes, ell_shapes = _einsum_labels(b, ops)
    ell = _bshape(*ell_shapes) if ell_shapes else ()
    work = math.prod(max(ds) for ds in sizes.values()) * math.prod(ell)
    if work > _MAX_EINSUM_WORK:
        return None
    return _einsum_call(b, ops, terms, sizes, ell_shapes, ell)


def _einsum_operands(b: _Builder, a: _Node, share: bool) -> list[tuple[_Node, bool]]:
    """1-3 (node, raw) operands in a drawn order: ``a``, drawn nodes, ``a`` again, new leaves."""
    ops = [(a, False)]
    k = b.integer(1, 3)
    if share:
        ops.append((a, False))
    while len(ops) < k:
        mode = b.integer(0, 2)
        if mode == 2:
            ops.append((b.choice([n for n, _ in ops]), False))
        elif mode == 1:
            ops.append((b.pick(), False))
        else:  # a new leaf whose dims mostly repeat dims already present, so labels can meet
            dims = sorted({d for n, _ in ops for d in n.shape})
            ndim = b.choice((2, 1, 3, 0))
            shape = tuple(
                b.choice(dims) if dims and not b.chance(4) else b.dim() for _ in range(ndim)
            )
            ops.append((b.leaf(shape), b.chance(3)))
    order = b.perm(range(len(ops)))
    return [ops[i] for i in order]


def _einsum_labels(b: _Builder, ops):
    """Labels per operand (with where its '...' goes), label -> sizes, and the '...' shapes."""
    use_ell, bcast = b.chance(3), b.chance(6)
    sizes: dict[str, list[int]] = {}
    ell_shapes: list[tuple[int, ...]] = []
    terms: list[tuple[list[str], int | None]] = []
    for node, _ in ops:
        s, n = node.shape, node.ndim
        p = q = None
        if use_ell and b.draw(st.booleans()):
            p = b.integer(0, n)
            q = b.integer(0, n - p)
            if _bshape(*ell_shapes, s[p : p + q]) is None:
                q = 0
            ell_shapes.append(s[p : p + q])
        labels: list[str] = []
        mine: dict[str, int] = {}
        for ax, d in enumerate(s):
            if p is not None and p <= ax < p + q:
                continue
            cands = [
                lab
                for lab, ds in sizes.items()
                if (
                    mine[lab] == d
                    if lab in mine
                    else (set(ds) == {d} or (bcast and len(set(ds + [d]) - {1}) <= 1))
                )
            ]
            if cands and not b.chance(4):
                lab = b.choice(cands)
            else:
                lab = b.choice([c for c in _LETTERS if c not in sizes])
            labels.append(lab)
            mine[lab] = d
            sizes.setdefault(lab, []).append(d)
        terms.append((labels, p))
    return terms, sizes, ell_shapes


def _einsum_call(b: _Builder, ops, terms, sizes, ell_shapes, ell) -> _Node | None:
    """The einsum node: explicit, implicit or interleaved spelling of the drawn labels."""
    mode = b.choice(("explicit", "explicit", "implicit", "interleaved"))
    out = None
    if mode != "implicit" and not (mode == "interleaved" and b.chance(3)):
        out = b.perm(sizes)[: len(sizes) - b.integer(0, len(sizes))]
        if ell_shapes and (ell or b.draw(st.booleans())):
            out.insert(b.integer(0, len(out)), "...")
    fn = b.choice(("le.einsum", "le.lazy_einsum"))
    places = [f"{{{i}}}" for i in range(len(ops))]
    if mode == "interleaved":

        def sub(labels, p):
            ix = [_LETTERS.index(lab) if lab != "..." else Ellipsis for lab in labels]
            if p is not None:
                ix.insert(p, Ellipsis)
            return repr(ix)

        args = [x for pl, (labels, p) in zip(places, terms) for x in (pl, sub(labels, p))]
        if out is not None:
            args.append(sub(out, None))
        call = ", ".join(args)
        return b.node(f"{fn}({call})", f"np.einsum({call})", ops)
    eq = ",".join(
        "".join(labels[:p] + ["..."] + labels[p:]) if p is not None else "".join(labels)
        for labels, p in terms
    )
    if out is not None:
        eq += "->" + "".join(out)
    call = ", ".join([repr(eq)] + places)
    return b.node(f"{fn}({call})", f"np.einsum({call})", ops)


def _op_elementwise(b: _Builder, a: _Node | None = None, share: bool = False):
    """a + b, a - b, a * b (and le.add/subtract/multiply) with broadcasting, or with a scalar."""
    a = b.pick() if a is None else a
    kind = b.choice(("add", "sub", "mul", "scalar"))
    if kind == "scalar" and not share:
        c = b.choice(_ADD_SCALARS)
        form = b.choice(
            (
                "{0} + C",
                "C + {0}",
                "{0} - C",
                "C - {0}",
                "le.add({0}, C)",
                "le.subtract(C, {0})",
                "le.multiply({0}, C)",
            )
        )
        lazy = form.replace("C", repr(c))
        ref = (
            form.replace("le.add", "np.add")
            .replace("le.subtract", "np.subtract")
            .replace("le.multiply", "np.multiply")
        )
        absf = "{0} * C" if "multiply" in form else "{0} + C"
        return b.node(
            lazy, ref.replace("C", repr(c)), [(a, False)], absf.replace("C", repr(abs(c)))
        )
    if share:
        other, raw = a, False
    else:
        other, raw = b.partner(
            a, lambda n: _fits(_bshape(a.shape, n.shape)), lambda: b.bcast_shape(a.shape)
        )
    uses = [(a, False), (other, raw)]
    if b.draw(st.booleans()):
        uses.reverse()
    sym, fn = {
        "add": ("+", "le.add"),
        "sub": ("-", "le.subtract"),
        "mul": ("*", "le.multiply"),
    }.get(kind, ("+", "le.add"))
    lazy = f"{fn}({{0}}, {{1}})" if b.chance(3) else f"{{0}} {sym} {{1}}"
    return b.node(lazy, f"{{0}} {sym} {{1}}", uses, "{0} * {1}" if sym == "*" else "{0} + {1}")


def _op_negate(b: _Builder, a: _Node | None = None, share: bool = False):
    """Unary minus."""
    a = b.pick() if a is None else a
    return b.node("-{0}", "-{0}", [(a, False)], "{0}")


def _op_scale(b: _Builder, a: _Node | None = None, share: bool = False):
    """c * a, a * c, a / c for Python and numpy scalars c (NEP 50 promotion)."""
    a = b.pick() if a is None else a
    form = b.choice(("C * {0}", "{0} * C", "{0} / C"))
    c = b.choice(_DIV_SCALARS if "/" in form else _MUL_SCALARS)
    return b.node(
        form.replace("C", repr(c)),
        form.replace("C", repr(c)),
        [(a, False)],
        form.replace("C", repr(abs(c))),
    )


def _op_matmul(b: _Builder, a: _Node | None = None, share: bool = False):
    """a @ b, le.matmul, le.dot, le.tensordot with an int or with axis lists."""
    kind = b.choice(("@", "matmul", "dot", "tensordot", "tensordot_axes"))
    if a is None:
        a = b.pick(lambda n: n.ndim >= 1 or kind == "tensordot", lambda: b.shape(min_ndim=1))
    if a.ndim == 0 and kind != "tensordot":
        return None
    if kind in ("@", "matmul"):
        return _matmul(b, a, share, kind)
    if kind == "dot":
        return _dot(b, a, share)
    if kind == "tensordot":
        return _tensordot(b, a, share)
    return _tensordot_axes(b, a, share)


def _matmul(b: _Builder, a: _Node, share: bool, kind: str):
    """a @ b or le.matmul, the partner on either side, batch dims broadcasting."""
    sa = a.shape
    left = b.draw(st.booleans())  # the partner goes on the left

    def make():
        n = sa[0] if left and len(sa) == 1 else sa[-2] if left else sa[-1]
        if b.chance(3):
            return (n,)
        batch = (
            b.bcast_shape(sa[:-2])
            if len(sa) > 2
            else tuple(b.dim() for _ in range(b.integer(0, 1)))
        )
        return batch + ((b.dim(), n) if left else (n, b.dim()))

    def ok(n):
        return _fits(_matmul_shape(n.shape, sa) if left else _matmul_shape(sa, n.shape))

    other, raw = (a, False) if share else b.partner(a, ok, make)
    uses = [(other, raw), (a, False)] if left else [(a, False), (other, raw)]
    return b.node(
        "{0} @ {1}" if kind == "@" else "le.matmul({0}, {1})", "np.matmul({0}, {1})", uses
    )


def _dot(b: _Builder, a: _Node, share: bool):
    """le.dot with a vector or a (batched) matrix."""
    sa = a.shape

    def make():
        if b.chance(2):
            return (sa[-1],)
        return tuple(b.dim() for _ in range(b.integer(0, 1))) + (sa[-1], b.dim())

    other, raw = (
        (a, False) if share else b.partner(a, lambda n: _fits(_dot_shape(sa, n.shape)), make)
    )
    return b.node("le.dot({0}, {1})", "np.dot({0}, {1})", [(a, False), (other, raw)])


def _tensordot(b: _Builder, a: _Node, share: bool):
    """le.tensordot over an int number of axes, given positionally, by keyword or by default."""
    sa = a.shape
    k = b.integer(0, min(a.ndim, 3))
    tail = sa[a.ndim - k :]

    def make():
        return tail + tuple(b.dim() for _ in range(b.integer(0, 2)))

    def ok(n):
        return n.shape[:k] == tail and _fits(sa[: a.ndim - k] + n.shape[k:])

    other, raw = (a, False) if share and ok(a) else b.partner(a, ok, make)
    form = b.choice(
        ("le.tensordot({0}, {1}, K)", "le.tensordot({0}, {1}, axes=K)")
        + (("le.tensordot({0}, {1})",) if k == 2 else ())
    )
    return b.node(
        form.replace("K", str(k)),
        f"np.tensordot({{0}}, {{1}}, axes={k})",
        [(a, False), (other, raw)],
    )


def _tensordot_axes(b: _Builder, a: _Node, share: bool):
    """le.tensordot with explicit axis lists, negative axes at times."""
    sa = a.shape
    k = b.integer(1, min(a.ndim, 3))
    a_axes = b.perm(range(a.ndim))[:k]
    if share:
        other, raw, b_axes = a, False, list(a_axes)
    else:
        nb = k + b.integer(0, 2)
        b_axes = b.perm(range(nb))[:k]
        shape = [b.dim() for _ in range(nb)]
        for ia, ib in zip(a_axes, b_axes):
            shape[ib] = sa[ia]
        other, raw = b.leaf(shape), b.chance(3)
    a_ax = [b.axis(x, a.ndim) for x in a_axes]
    b_ax = [b.axis(x, other.ndim) for x in b_axes]
    axes = f"({a_ax[0]}, {b_ax[0]})" if k == 1 and b.chance(2) else f"({a_ax}, {b_ax})"
    call = f"{{0}}, {{1}}, axes={axes}"
    return b.node(f"le.tensordot({call})", f"np.tensordot({call})", [(a, False), (other, raw)])


def _op_transpose(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.transpose, .T, .transpose(...), le.moveaxis, le.swapaxes."""
    a = b.pick() if a is None else a
    n = a.ndim
    kind = b.choice(("transpose", "T", "method", "moveaxis", "swapaxes"))
    if n == 0 and kind in ("moveaxis", "swapaxes"):
        kind = "T"
    if kind == "T":
        return b.node("{0}.T", "{0}.T", [(a, False)])
    if kind == "swapaxes":
        i, j = b.integer(-n, n - 1), b.integer(-n, n - 1)
        return b.node(
            f"le.swapaxes({{0}}, {i}, {j})", f"np.swapaxes({{0}}, {i}, {j})", [(a, False)]
        )
    if kind == "moveaxis":
        k = b.integer(1, n)
        src = [b.axis(x, n) for x in b.perm(range(n))[:k]]
        dst = [b.axis(x, n) for x in b.perm(range(n))[:k]]
        args = f"{src[0]}, {dst[0]}" if k == 1 and b.chance(2) else f"{src}, {dst}"
        return b.node(f"le.moveaxis({{0}}, {args})", f"np.moveaxis({{0}}, {args})", [(a, False)])
    perm = None if b.chance(4) else tuple(b.axis(x, n) for x in b.perm(range(n)))
    ref = "np.transpose({0})" if perm is None else f"np.transpose({{0}}, {perm})"
    if kind == "transpose":
        lazy = (
            "le.transpose({0})"
            if perm is None
            else f"le.transpose({{0}}, {'axes=' if b.chance(2) else ''}{perm})"
        )
    elif perm is None:
        lazy = "{0}.transpose()"
    else:
        lazy = (
            f"{{0}}.transpose({', '.join(map(str, perm))})"
            if n and b.chance(2)
            else f"{{0}}.transpose({perm})"
        )
    return b.node(lazy, ref, [(a, False)])


def _op_reshape(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.reshape / .reshape to a random C-order factorization, sometimes with -1."""
    a = b.pick() if a is None else a
    size = math.prod(a.shape)
    if size == 0:
        shape = [b.choice((2, 1, 3, 0)) for _ in range(b.integer(1, 4))]
        shape[b.integer(0, len(shape) - 1)] = 0
    else:
        primes, m, p = [], size, 2
        while m > 1:
            while m % p == 0:
                primes.append(p)
                m //= p
            p += 1
        shape = [1] * b.integer(1 if primes else 0, 4)
        for f in primes:
            shape[b.integer(0, len(shape) - 1)] *= f
        if shape and b.chance(3):
            shape[b.integer(0, len(shape) - 1)] = -1
    shape = tuple(shape)
    form = b.choice(
        ("le.reshape({0}, S)", "{0}.reshape(S)") + (("{0}.reshape(*S)",) if shape else ())
    )
    spelled = str(shape[0]) if len(shape) == 1 and b.chance(2) else repr(shape)
    lazy = form.replace("*S", ", ".join(map(str, shape))).replace("S", spelled)
    return b.node(lazy, f"np.reshape({{0}}, {shape!r})", [(a, False)])


def _op_kron(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.kron of operands of any (also different) numbers of dimensions."""
    a = b.pick() if a is None else a
    if share:
        other, raw = a, False
    else:
        other, raw = b.partner(
            a, lambda n: n.value.size * a.value.size <= _MAX_SIZE, lambda: b.shape(max_size=16)
        )
    uses = [(a, False), (other, raw)]
    if b.draw(st.booleans()):
        uses.reverse()
    return b.node("le.kron({0}, {1})", "np.kron({0}, {1})", uses)


def _op_pad(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.pad in constant mode: int, pair, per-axis widths; zero, scalar or per-axis constants."""
    if a is None:
        a = b.pick(lambda n: n.ndim >= 1, lambda: b.shape(min_ndim=1))
    n = a.ndim
    if n == 0:
        return None

    def w():
        return b.choice((1, 0, 2))

    form = b.choice(("pairs", "int", "pair", "single", "lists"))
    pw = {
        "int": lambda: w(),
        "pair": lambda: (w(), w()),
        "single": lambda: ((w(), w()),),
        "pairs": lambda: tuple((w(), w()) for _ in range(n)),
        "lists": lambda: [[w(), w()] for _ in range(n)],
    }[form]()
    mode = b.choice(("", ", mode='constant'", ", 'constant'"))
    kind = b.choice(("zero", "scalar", "scalar", "axes"))
    if kind == "zero":
        cv = cv_abs = None
    elif kind == "scalar":
        c = b.choice((1, -2, 3, 2.0) + (() if a.dtype.kind in "iu" else (0.5, -1.5)))
        cv, cv_abs = repr(c), repr(abs(c))
    else:
        cs = [(b.integer(-2, 2), b.integer(-2, 2)) for _ in range(n)]
        cv, cv_abs = repr(tuple(cs)), repr(tuple((abs(x), abs(y)) for x, y in cs))
    tail = "" if cv is None and b.chance(2) else f", constant_values={0 if cv is None else cv}"
    tail_abs = "" if cv is None else f", constant_values={cv_abs}"
    return b.node(
        f"le.pad({{0}}, {pw!r}{mode}{tail})",
        f"np.pad({{0}}, {pw!r}, mode='constant'{tail})",
        [(a, False)],
        f"np.pad({{0}}, {pw!r}, mode='constant'{tail_abs})",
    )


def _op_stack(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.stack / le.concatenate of 1-3 operands, repeats included, any valid axis."""
    kind = b.choice(("stack", "concatenate"))
    if a is None:
        a = b.pick(lambda n: n.ndim >= 1 or kind == "stack", lambda: b.shape(min_ndim=1))
    n = a.ndim
    if kind == "concatenate" and n == 0:
        kind = "stack"
    axis = b.integer(-n - 1, n) if kind == "stack" else b.integer(-n, n - 1)
    m = max(b.integer(1, 3), 2 if share else 1)
    items = [(a, False)]
    for _ in range(m - 1):
        if share:
            items.append((a, False))
        elif kind == "stack":
            items.append(b.partner(a, lambda x: x.shape == a.shape, lambda: a.shape))
        else:

            def ok(x):
                return x.ndim == n and all(
                    d == e for i, (d, e) in enumerate(zip(x.shape, a.shape)) if i != axis % n
                )

            def make():
                s = list(a.shape)
                s[axis] = b.dim()
                return tuple(s)

            items.append(b.partner(a, ok, make))
    items = [items[i] for i in b.perm(range(m))]
    seq = ", ".join(f"{{{i}}}" for i in range(m))
    seq = f"({seq},)" if b.chance(4) else f"[{seq}]"
    ax = b.choice(("axis=A", "A") + (("",) if axis == 0 else ())).replace("A", str(axis))
    fn = f"{kind}({seq}{', ' + ax if ax else ''})"
    return b.node("le." + fn, "np." + fn, items)


def _op_sum(b: _Builder, a: _Node | None = None, share: bool = False):
    """.sum() over all, one, or several axes."""
    a = b.pick() if a is None else a
    n = a.ndim
    kind = (
        b.choice(("one", "many", "one", "positional", "all", "none"))
        if n
        else b.choice(("all", "none"))
    )
    if kind == "all":
        return b.node("{0}.sum()", "np.sum({0})", [(a, False)])
    if kind == "none":
        return b.node("{0}.sum(axis=None)", "np.sum({0}, axis=None)", [(a, False)])
    if kind == "many":
        axes = tuple(b.axis(x, n) for x in b.perm(range(n))[: b.integer(0, n)])
        return b.node(f"{{0}}.sum(axis={axes!r})", f"np.sum({{0}}, axis={axes!r})", [(a, False)])
    ax = b.axis(b.integer(0, n - 1), n)
    lazy = f"{{0}}.sum({ax})" if kind == "positional" else f"{{0}}.sum(axis={ax})"
    return b.node(lazy, f"np.sum({{0}}, axis={ax})", [(a, False)])


def _op_trace(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.trace over the first two axes."""
    if a is None:
        a = b.pick(lambda n: n.ndim >= 2, lambda: b.shape(min_ndim=2))
    return b.node("le.trace({0})", "np.trace({0})", [(a, False)]) if a.ndim >= 2 else None


def _op_diagonal(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.diagonal, with offsets inside and outside the array."""
    if a is None:
        a = b.pick(lambda n: n.ndim >= 2, lambda: b.shape(min_ndim=2))
    if a.ndim < 2:
        return None
    k = b.choice((0, 1, -1, 2, -2, 3, -5))
    lazy = b.choice(
        ("le.diagonal({0})",) * (k == 0) + ("le.diagonal({0}, offset=K)", "le.diagonal({0}, K)")
    )
    return b.node(lazy.replace("K", str(k)), f"np.diagonal({{0}}, offset={k})", [(a, False)])


def _op_eye(b: _Builder, a: _Node | None = None, share: bool = False):
    """A new le.eye leaf joins the pool."""
    return b.eye()


def _index_text(b: _Builder, shape) -> str:
    """A random basic index of an array of `shape`: ints (negative too), slices of any step,
    None and an Ellipsis."""
    items, ellipsis = [], False
    for d in shape[: b.integer(0, len(shape))]:
        if b.chance(6):
            items.append("None")
        if d and b.chance(3):
            items.append(str(b.integer(-d, d - 1)))
            continue
        start, stop = (b.choice((None, None, 0, 1, 2, -1, -3, 5)) for _ in range(2))
        step = b.choice((None, None, 1, -1, 2, -2, 3))
        items.append(":".join("" if v is None else str(v) for v in (start, stop, step)))
    if b.chance(3):
        items.insert(b.integer(0, len(items)), "...")
        ellipsis = True
    if b.chance(6) or not items:
        items.append("None" if ellipsis or b.chance(2) else "...")
    return ", ".join(items)


def _op_index(b: _Builder, a: _Node | None = None, share: bool = False):
    """a[index]: numpy's basic indexing."""
    a = b.pick() if a is None else a
    index = _index_text(b, a.shape)
    return b.node(f"{{0}}[{index}]", f"{{0}}[{index}]", [(a, False)])


def _op_flip(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.flip along all axes, one, or several."""
    a = b.pick() if a is None else a
    n = a.ndim
    if n and b.chance(2):
        axis = b.axis(b.integer(0, n - 1), n)
    elif n and b.chance(2):
        axis = tuple(b.axis(x, n) for x in b.perm(range(n))[: b.integer(1, n)])
    else:
        axis = None
    tail = "" if axis is None and b.chance(2) else f", axis={axis!r}"
    return b.node(f"le.flip({{0}}{tail})", f"np.flip({{0}}{tail})", [(a, False)])


def _op_roll(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.roll of the flattened array, along one axis, or several (shifts per axis)."""
    a = b.pick() if a is None else a
    n, shift = a.ndim, b.integer(-4, 6)
    if n and b.chance(2):
        tail = f", axis={b.axis(b.integer(0, n - 1), n)}"
    elif n and b.chance(2):
        axes = tuple(b.axis(x, n) for x in b.perm(range(n))[: b.integer(1, n)])
        shift = tuple(b.integer(-4, 6) for _ in axes)
        tail = f", axis={axes!r}"
    else:
        tail = ""
    return b.node(f"le.roll({{0}}, {shift!r}{tail})", f"np.roll({{0}}, {shift!r}{tail})",
                  [(a, False)])


OPERATIONS: dict[str, Callable] = {
    "einsum": _op_einsum,
    "elementwise": _op_elementwise,
    "negate": _op_negate,
    "scale": _op_scale,
    "matmul": _op_matmul,
    "transpose": _op_transpose,
    "reshape": _op_reshape,
    "kron": _op_kron,
    "pad": _op_pad,
    "stack": _op_stack,
    "sum": _op_sum,
    "trace": _op_trace,
    "diagonal": _op_diagonal,
    "eye": _op_eye,
    "constant": _op_constant,
    "diag": _op_diag,
    "complex": _op_complex,
    "astype": _op_astype,
    "shape": _op_shape,
    "products": _op_products,
    "index": _op_index,
    "flip": _op_flip,
    "roll": _op_roll,
}
"""Name -> operation drawer; the keys are the families ``exprs(ops=...)`` accepts."""

# Operations that can take the same node twice, used to force a shared subexpression.
_SHARING = (_op_einsum, _op_elementwise, _op_kron, _op_stack, _op_matmul, _op_products)


@st.composite
def exprs(
    draw,
    min_ops: int = 1,
    max_ops: int = 5,
    max_leaves: int = 3,
    outputs: int = 1,
    ops=None,
    share: bool = False,
    dtypes=None,
) -> Case:
    """Draw a random expression DAG over all public lazyein operations, with its numpy value.

    Leaves are small integer-valued arrays (mostly float64; float32, int64, complex128 now
    and then; zero-size dims in some cases) and ``le.eye`` matrices. Each step applies one
    operation to nodes drawn earlier (recent ones first, the same node twice at times), so
    shared subexpressions are common.

    Args:
        draw: supplied by ``hypothesis.strategies.composite``.
        min_ops: fewest operations applied after the leaves (some may be rejected as too big).
        max_ops: most operations applied after the leaves.
        max_leaves: most leaves drawn before the operations (operations add more).
        outputs: number of expressions in the case (the last node, then earlier ones).
        ops: names from ``OPERATIONS`` to restrict the operations to; all when None.
        share: end with an operation that takes the last node twice, e.g. ``S * S``.
        dtypes: dtype names the input arrays are drawn from, uniformly; by default
            float64 with float32, int64 and complex128 at 5% each.

    Returns:
        A ``Case``: build the lazy expression(s) with ``case.build()``; ``case.refs`` are
        numpy's values.
    """
    b = _Builder(draw, allow_zero=draw(st.integers(0, 5)) == 5, dtypes=dtypes or _DTYPES)
    for _ in range(draw(st.integers(1, max_leaves))):
        b.eye() if b.chance(8) else b.leaf()
    names = tuple(OPERATIONS) if ops is None else tuple(ops)
    made = []
    for _ in range(draw(st.integers(min_ops, max_ops))):
        try:
            node = OPERATIONS[b.choice(names)](b)
        except _Reject:
            node = None
        if node is not None:
            made.append(node)
    if not made:  # every drawn operation was rejected (too big): keep the case useful
        made.append(_op_negate(b))
    if share:
        try:
            node = b.choice(_SHARING)(b, made[-1], True)
        except _Reject:
            node = None
        made.append(
            node if node is not None else b.node("{0} + {0}", "{0} + {0}", [(made[-1], False)])
        )
    roots = [max(reversed(made), key=b.depends)]  # the node over the largest sub-DAG
    while len(roots) < outputs:  # other drawn nodes, distinct while there are any
        roots.append(b.pick(lambda n: n not in roots and n.raw is None) or b.pick())
    return b.case(roots)


@st.composite
def problem_cases(draw) -> Case:
    """Draw a small instance of one of the scenarios of PROBLEMS.md.

    The scenarios are: ``kron(eye, W) @ x`` (with an ndarray on the left at times), the
    einsum over the shared sum ``C + C2``, and the convolution operator built from
    ``le.pad`` and ``le.stack`` contracted with ``le.tensordot``.

    Args:
        draw: supplied by ``hypothesis.strategies.composite``.

    Returns:
        A ``Case`` with one output.
    """
    b = _Builder(draw, allow_zero=False)
    which = b.choice(("sums", "kron", "conv"))
    draw_problem = {"kron": _kron_problem, "sums": _sums_problem, "conv": _conv_problem}[which]
    return b.case([draw_problem(b, "float64")])


def _kron_problem(b: _Builder, dt: str) -> _Node | None:
    """Problem 1: ``kron(eye, W) @ x``, or ``data @ kron(eye, W).T`` with data an ndarray."""
    n, p, q = b.integer(1, 4), b.integer(1, 3), b.integer(1, 4)
    e, w = b.eye(n), b.leaf((p, q), dt)
    if b.draw(st.booleans()):
        x = b.leaf((n * q,) if b.chance(2) else (n * q, b.integer(1, 3)), dt)
        form = b.choice(("le.kron({0}, {1}) @ {2}", "le.dot(le.kron({0}, {1}), {2})"))
        return b.node(form, "np.kron({0}, {1}) @ {2}", [(e, False), (w, False), (x, False)])
    data = b.leaf((b.integer(1, 4), n * q), b.choice(("float64", "float32")))
    return b.node(
        "{0} @ le.kron({1}, {2}).T",
        "{0} @ np.kron({1}, {2}).T",
        [(data, True), (e, False), (w, False)],
    )


def _sums_problem(b: _Builder, dt: str) -> _Node | None:
    """Problem 2: ``einsum('ijk,ikj->k', C + C2, C + C2)``, the sum shared or spelled twice."""
    n, q = b.integer(1, 4), b.integer(1, 4)
    A, B, Y2, Z2 = b.leaf((n, n), dt), b.leaf((q,), dt), b.leaf((n,), dt), b.leaf((q, n), dt)
    c = b.node(
        "le.lazy_einsum('i,jk->ijk', {0}, {1})",
        "np.einsum('i,jk->ijk', {0}, {1})",
        [(B, False), (A, False)],
    )
    c2 = b.node(
        "le.lazy_einsum('j,ik->ijk', {0}, {1})",
        "np.einsum('j,ik->ijk', {0}, {1})",
        [(Y2, False), (Z2, False)],
    )
    if b.draw(st.booleans()):  # C + C2 spelled twice: interning must merge them
        e = "le.lazy_einsum('ijk,ikj->k', {0} + {1}, {0} + {1})"
        return b.node(
            e,
            "np.einsum('ijk,ikj->k', {0} + {1}, {0} + {1})",
            [(c, False), (c2, False)],
        )
    s = b.node("{0} + {1}", "{0} + {1}", [(c, False), (c2, False)])
    return b.node(
        "le.lazy_einsum('ijk,ikj->k', {0}, {0})",
        "np.einsum('ijk,ikj->k', {0}, {0})",
        [(s, False)],
    )


def _conv_problem(b: _Builder, dt: str) -> _Node | None:
    """Problem 4: the convolution operator stacked from shifted pads, tensordot with an image."""
    k1, k2, nch, nf = b.integer(1, 3), b.integer(1, 3), b.integer(1, 2), b.integer(1, 2)
    m1, m2 = k1 + b.integer(0, 2), k2 + b.integer(0, 2)
    w1, w2 = m1 - k1 + 1, m2 - k2 + 1
    kern, img = b.leaf((k1, k2, nch, nf), dt), b.leaf((m1, m2, nch), dt)
    widths = f"((i, {m1} - i - {k1}), (j, {m2} - j - {k2}), (0, 0), (0, 0))"
    inner = f"NS.moveaxis(NS.pad({{0}}, {widths}), 3, 0)"
    wk = f"NS.stack([NS.stack([{inner} for j in range({w2})]) for i in range({w1})])"
    op = b.node(wk.replace("NS", "le"), wk.replace("NS", "np"), [(kern, False)])
    return b.node(
        "le.tensordot({0}, {1}, 3)",
        "np.tensordot({0}, {1}, 3)",
        [(op, False), (img, False)],
    )
