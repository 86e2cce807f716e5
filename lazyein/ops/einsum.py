"""EINSUM: a contraction of its operands over labels (small ints), size-1 axes broadcast."""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from ..ir import Node, Op, promotable
from ..paths import contraction_path
from ..printing import letters
from ..product import NeedsDense, combine
from ..sop import Term
from .base import Drawing, OpDef, register_op

__all__ = ["EinsumArgs", "EINSUM", "MAX_PRODUCTS", "MANY_FACTORS", "MAX_FACTORS"]

# Expanding an einsum of sums multiplies their term counts. Which sums are computed first
# instead is chosen by FLOPs (`_computed_first`); past this many products the plan itself
# (a contraction order per product) would cost more to make than it could save.
MAX_PRODUCTS = 1024

# An einsum operand that is one product of this many factors or more (a chain of products,
# ``t = t @ M``) is computed first where that costs no more FLOPs than expanding the einsum
# over its factors, and past MAX_FACTORS always (`_long_products`): expanded whole, each
# product of a chain renames and checks every factor before it, n**2 / 2 for n products.
# opt_einsum orders so many factors greedily, which takes a chain from the left whatever it
# ends in (a vector too): computing its start first loses nothing.
MANY_FACTORS = 32
MAX_FACTORS = 64


class EinsumArgs(NamedTuple):
    inputs: tuple[tuple[int, ...], ...]  # each operand's labels, numbered by first appearance
    output: tuple[int, ...]


def abstract(src, arg: EinsumArgs):
    inputs, output = arg.inputs, arg.output
    if len(src) == 1 and len(inputs[0]) == len(src[0].shape) == len(output) \
            and sorted(inputs[0]) == sorted(output) == list(range(len(output))):
        return tuple(src[0].shape[inputs[0].index(ix)] for ix in output), src[0].dtype
    sizes = {}
    for node, labels in zip(src, inputs):
        assert len(labels) == len(node.shape), (labels, node.shape)
        for ix, d in zip(labels, node.shape):
            if sizes.get(ix, 1) == 1:
                sizes[ix] = d
            assert d in (1, sizes[ix]), f"label {ix} sizes {d} and {sizes[ix]}"
    if len(src) == 1:  # a transposition, a trace, a sum: the operand's own dtype
        dtype = src[0].dtype
    elif all(s.dtype == src[0].dtype and not _weak(s) for s in src):
        dtype = src[0].dtype  # the common case, without numpy's promotion machinery
    else:
        dtype = np.result_type(*(promotable(s) for s in src)) if src else np.float64
    return tuple(sizes[ix] for ix in output), dtype


def _weak(node: Node) -> bool:
    return node.op is Op.LEAF and node.arg.weak


def _equation(arg: EinsumArgs) -> str:
    return f"{','.join(letters(ix) for ix in arg.inputs)}->{letters(arg.output)}"


def describe(node: Node) -> str:
    return f"einsum[{_equation(node.arg)}]"


def draw(node: Node) -> Drawing:
    """Titled with the equation; each edge in with its operand's subscripts."""
    subscripts = [letters(labels) for labels in node.arg.inputs]
    if len(node.src) > 1:
        subscripts = [f"{k}: {s}" for k, s in enumerate(subscripts)]
    return Drawing(f"einsum {_equation(node.arg)}", operands=tuple(subscripts))


# -- lowering ---------------------------------------------------------------------------------

def lower(session, node: Node) -> list[Term]:
    """einsum(.., a + b, ..) = einsum(.., a, ..) + einsum(.., b, ..), with each operand's
    placement (offsets, diagonals, split axes) tied to the einsum's labels"""
    term_lists = [session.operand(s, node) for s in node.src]
    (labels, *more), output = node.arg.inputs, node.arg.output
    if not more and len(set(labels)) == len(labels) == len(output):
        # a transposition moves the output axes of each term, and ties nothing
        order = [labels.index(ix) for ix in output]
        return [t._replace(out=tuple(t.out[k] for k in order)) for t in term_lists[0]]
    dense = _computed_first(session, node, term_lists)
    dense |= _long_products(session, node, term_lists, dense)
    while True:
        lists = [session.dense(s) if i in dense else term_lists[i]
                 for i, s in enumerate(node.src)]
        try:
            return [t for combo in itertools.product(*lists)
                    if (t := _combine(session, node, combo)) is not None]
        except NeedsDense as e:
            assert e.operand not in dense, node
            session.why_dense.setdefault(
                node.src[e.operand], f"as operand {e.operand} of {len(node.src)}, its "
                "placement (sliced or merged axes) has no strided view against the others")
            dense.add(e.operand)


def _computed_first(session, node: Node, term_lists) -> set[int]:
    """The operands (sums) to compute on their own before the einsum, rather than expand
    the einsum over their terms: the choice with the fewest FLOPs, counting for expansion
    one contraction per product and an add of each into the result, and for a computed
    operand its terms and their adds. A computed operand must fit in the memory budget."""
    sums = [i for i, ts in enumerate(term_lists) if len(ts) > 1]
    if not sums:
        return set()

    def computed(i):
        return sum(_term_flops(t) for t in term_lists[i]) + len(term_lists[i]) * node.src[i].size

    # each product is priced as the one of the heaviest terms: an upper bound, which
    # leans towards computing sums first, the choice whose cost does not multiply
    heaviest = [max(ts, key=_term_flops, default=None) for ts in term_lists]

    def expanded(dense):
        products = math.prod(len(term_lists[i]) for i in sums if i not in dense)
        if products > MAX_PRODUCTS:
            return math.inf
        sample = [[heaviest[i]] if heaviest[i] else [] for i in range(len(node.src))]
        return products * _product_flops(session, node, sample, dense, added=True)

    if len(sums) <= 8:
        choices = [set(c) for r in range(len(sums) + 1) for c in itertools.combinations(sums, r)]
    else:  # too many to try all: compute the largest sums first
        by_size = sorted(sums, key=lambda i: -len(term_lists[i]))
        choices = [set(by_size[:r]) for r in range(len(sums) + 1)]
    fits = [c for c in choices if sum(node.src[i].size * node.src[i].dtype.itemsize
                                      for i in c) <= session.budget]
    best = min(fits or choices, key=lambda c: (expanded(c) + sum(computed(i) for i in c), len(c)))
    for i in best:
        session.why_dense.setdefault(
            node.src[i], f"a sum of {len(term_lists[i])} terms used by an einsum: "
            "computing it first costs fewer FLOPs than expanding the einsum over it")
    return best


def _product_flops(session, node: Node, sample, dense, added: bool = False) -> float:
    """FLOPs of one product of the einsum: of the first term of each list of `sample`,
    operands in `dense` computed first; 0 if an operand is zero (no products at all), inf
    if the product needs some operand computed anyway. With `added`, plus the entries it
    adds into the result: those its labels place, not the whole result (a product of a
    shifted identity and an identity places a diagonal: n of them, not n**2)."""
    sample = [session.dense(s) if i in dense else ts for i, (s, ts) in
              enumerate(zip(node.src, sample))]
    if not all(sample):
        return 0
    try:
        term = _combine(session, node, [ts[0] for ts in sample])
    except NeedsDense:
        return math.inf
    if term is None:
        return 0
    placed = {s.label for ax in term.out for s in ax.subs}
    return _term_flops(term) + (math.prod(term.sizes[ix] for ix in placed) if added else 0)


def _long_products(session, node: Node, term_lists, dense: set[int]) -> set[int]:
    """The operands that are one product of many factors (a chain of products) to compute
    first, rather than expand into the einsum's product: where that costs no more FLOPs (the
    chain's own order is as good as any), and past MAX_FACTORS always, so that products do
    not grow with the chain. A computed operand must fit in the budget."""
    chosen = set()
    for i, (src, ts) in enumerate(zip(node.src, term_lists)):
        if i in dense or len(ts) != 1 or len(ts[0].factors) < MANY_FACTORS \
                or src.size * src.dtype.itemsize > session.budget:
            continue
        count = len(ts[0].factors)
        if count >= MAX_FACTORS:
            why = f"past {MAX_FACTORS} factors, a product is computed first, not grown"
        elif _term_flops(ts[0]) + _product_flops(session, node, term_lists, dense | chosen | {i}) \
                <= _product_flops(session, node, term_lists, dense | chosen):
            why = "computing it first costs no more FLOPs than expanding the einsum over it"
        else:
            continue
        chosen.add(i)
        session.why_dense.setdefault(src, f"a product of {count} factors used by an einsum: "
                                     f"{why}")
    return chosen


def _combine(session, node: Node, combo) -> Term | None:
    """The single term of the einsum `node` over one term per operand (`combo`), or None
    when it is zero (see `product.combine`). The terms are renamed so that no two share a
    label, all but the one of most factors (a chain's product so far): the others' fresh
    labels cannot meet its own."""
    keep = max(range(len(combo)), key=lambda i: len(combo[i].factors), default=None)
    return combine(node, [t if i == keep else session.renamed(t) for i, t in enumerate(combo)],
                   session.fresh)


def _term_flops(term: Term) -> int:
    """opt_einsum's FLOP count for contracting `term`'s factors in its best order. Always
    opt_einsum's "auto", whatever ``optimize=`` the compute was given: the lowering asks
    this for every choice between expanding a sum and computing it first, where a quick
    estimate is what is wanted (an expensive optimizer is spent on the terms' own orders)."""
    out = [s.label for ax in term.out for s in ax.subs]
    inputs = [list(dict.fromkeys(s.label for ax in f.axes for s in ax.subs))
              for f in term.factors]
    used = {ix for labels in inputs for ix in labels}
    if len(inputs) <= 1:
        return math.prod(term.sizes[ix] for ix in (used if inputs else set(out)))
    return contraction_path(inputs, [ix for ix in dict.fromkeys(out) if ix in used],
                            term.sizes)[1]


EINSUM = register_op(OpDef(Op.EINSUM, EinsumArgs, abstract, lower, describe, draw))
