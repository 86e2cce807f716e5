"""ELEMENTWISE: numpy's elementwise maps of one array that lazyein can express: ``conj``,
``.real``, ``.imag`` and ``astype``, distributed over the terms of their operand where that is
exact, else applied by the backend to the operand computed (or read) whole.

Why one op with a `fn` field: the four share their last resort, one backend step over a whole
array (`steps.Elementwise`), which the planner and the dask builder recognise in one place
(`lower.Lowering.mapped_whole`: a node whose terms view the node itself). Their lowerings differ:

- ``conj`` is a ring automorphism: conj(sum of c * prod of views) = sum of conj(c) * prod of
  views of conj(source). It distributes down to the complex sources; real sources and
  structure (eye, diag of reals, ones, pad zeros) are left as they are. A complex input's
  conjugate is the one thing computed: a copy of it (``np.conjugate``).
- ``real`` and ``imag`` are only real-linear: Re(c * R * g) = Re(c) R Re(g) - Im(c) R Im(g)
  for real factors R and one complex factor g. So a term with at most one complex factor
  distributes into views of Re(source) and Im(source), which numpy gives as *views* (the
  real dtype over the complex array's memory, strides unchanged: nothing is copied); a term
  with two or more complex factors needs the product first, so the operand is computed whole
  and its real (imaginary) part viewed.
- ``astype`` distributes only where the cast cannot change a term's maths: a safe cast of a
  single term that only places values (exact in the wider dtype: the term is promoted, no
  copy); a single constant term (its coefficient cast); a single term that only views one
  source, unscaled (the source cast instead). Anything else (a float32 product cast to
  float64, which numpy rounds in float32 first; float to int truncation of a sum; a boolean
  "or" counted as ints) is cast whole, after the operand is computed.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from ..ir import Node, Op
from ..sop import Factor, Term, axis_labels
from .base import Drawing, OpDef, register_op

__all__ = ["ElementwiseArgs", "ELEMENTWISE", "FNS", "real_dtype"]

FNS = ("conj", "real", "imag", "astype")


class ElementwiseArgs(NamedTuple):
    fn: str  # one of FNS
    dtype: np.dtype  # the result's


def real_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of a `dtype` array's ``.real``: complex64 -> float32, float32 -> itself."""
    dtype = np.dtype(dtype)
    return np.dtype(dtype.char.lower()) if dtype.kind == "c" else dtype


def abstract(src, arg: ElementwiseArgs):
    (a,) = src
    assert arg.fn in FNS, arg
    return a.shape, arg.dtype


def lower(session, node: Node) -> list[Term]:
    """The map distributed over the operand's terms where exact (see the module's text),
    else one view of the node itself: the planner applies the map to the whole operand."""
    (src,) = node.src
    terms = session.operand(src, node)
    rule = {"conj": _conj, "real": _part, "imag": _part, "astype": _astype}[node.arg.fn]
    mapped = rule(session, node, terms)
    if mapped is not None:
        return mapped
    if src.op is not Op.LEAF:
        session.ask(src)  # the planner computes `src` whole and maps it: it lowers it again
    session.why_dense.setdefault(node, _WHY[node.arg.fn])
    return session.dense(node)


_WHY = {"conj": "a conjugated copy of a complex array",
        "real": "the real part of a product of complex factors",
        "imag": "the imaginary part of a product of complex factors",
        "astype": "a cast that does not distribute over the terms"}


_WHY_SOURCE = {"conj": "a conjugated copy of a complex input",
               "real": "the real part of a complex input (a view where the backend has one)",
               "imag": "the imaginary part of a complex input (a view where the backend has one)",
               "astype": "a cast copy of an input"}


def _mapped(session, node: Node, source: Node, fn: str, dtype) -> Node:
    """`fn` of `source` as a node: `node` itself when `source` is its operand (then its
    terms view it, and the planner maps the operand whole), else a new node computed
    first, whose own lowering maps `source`'s terms."""
    mapped = Node(Op.ELEMENTWISE, (source,), ElementwiseArgs(fn, np.dtype(dtype)))
    if mapped is node and source.op is not Op.LEAF:
        session.ask(source)
    # what explain() says of it, as a factor computed on its own
    session.why_dense.setdefault(mapped, _WHY_SOURCE[fn] if source.op is Op.LEAF else _WHY[fn])
    return mapped


def _conj(session, node: Node, terms: list[Term]) -> list[Term]:
    """conj distributes over sums and products: conjugated coefficients and sources."""
    def factor(f: Factor) -> Factor:
        if f.source.dtype.kind != "c":
            return f  # a real source is its own conjugate
        return Factor(_mapped(session, node, f.source, "conj", f.source.dtype), f.axes)

    return [t._replace(coeff=t.coeff.conjugate(), factors=tuple(map(factor, t.factors)))
            for t in terms]


def _part(session, node: Node, terms: list[Term]) -> list[Term] | None:
    """Re or Im of each term with at most one complex factor, from views of that factor's
    real and imaginary parts; None if a term multiplies two complex factors."""
    imag = node.arg.fn == "imag"
    out = []
    for t in terms:
        complex_at = [i for i, f in enumerate(t.factors) if f.source.dtype.kind == "c"]
        if len(complex_at) > 1:
            return None
        c = complex(t.coeff)
        dtype = real_dtype(t.dtype)
        if not complex_at:  # a real product: c's part scales it
            parts = [(c.imag if imag else c.real, t.factors)]
        else:
            i = complex_at[0]
            g = t.factors[i]
            # Re(c g) = Re c Re g - Im c Im g;  Im(c g) = Im c Re g + Re c Im g
            weights = ((c.imag, c.real) if imag else (c.real, -c.imag))
            parts = []
            for fn, w in zip(("real", "imag"), weights):
                if w != 0:
                    part = _mapped(session, node, g.source, fn, real_dtype(g.source.dtype))
                    parts.append((w, (*t.factors[:i], Factor(part, g.axes), *t.factors[i + 1:])))
        out.extend(Term(w, factors, t.out, t.sizes, dtype) for w, factors in parts if w != 0)
    return out


def _astype(session, node: Node, terms: list[Term]) -> list[Term] | None:
    """The cast distributed where it cannot change a term's maths; None otherwise."""
    (src,) = node.src
    dtype = node.arg.dtype
    if len(terms) != 1:
        return None  # numpy adds the terms in the operand's dtype, then casts
    (t,) = terms
    if np.can_cast(src.dtype, dtype, "safe") and t.coeff == 1 and len(t.factors) <= 1 \
            and _only_views(t):
        # values placed, no arithmetic: exact in the wider dtype, which the session promotes
        # the term to (where there is arithmetic, numpy rounds it in the narrow dtype first)
        return terms
    if not t.factors:  # a constant: its coefficient cast, as numpy casts each entry
        return [t._replace(coeff=cast_scalar(t.coeff, dtype), dtype=dtype)]
    if len(t.factors) == 1 and t.coeff == 1 and _only_views(t):
        (f,) = t.factors
        return [t._replace(factors=(Factor(_mapped(session, node, f.source, "astype", dtype),
                                           f.axes),), coeff=1, dtype=dtype)]
    return None


def _only_views(term: Term) -> bool:
    """Does `term` only place values of its factor (no label summed over)?"""
    kept = set(axis_labels(term.out))
    return all(ix in kept for f in term.factors for ix in axis_labels(f.axes))


def cast_scalar(value, dtype):
    """`value` cast to `dtype` as ``astype`` casts (unsafe allowed), as a Python scalar."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        return np.array(value).astype(dtype).item()


def describe(node: Node) -> str:
    fn = node.arg.fn
    return f"astype[{node.arg.dtype.name}]" if fn == "astype" else fn


def draw(node: Node) -> Drawing:
    fn = node.arg.fn
    return Drawing(f"astype {node.arg.dtype.name}" if fn == "astype" else fn)


ELEMENTWISE = register_op(OpDef(Op.ELEMENTWISE, ElementwiseArgs, abstract, lower, describe,
                                draw))
