"""Lowering (docs/architecture.md, stage 2): an expression DAG becomes a sum of products of views.

Every rule below is index arithmetic. Sums distribute over einsums; eye ties two labels;
pad, stack and concatenate move a term's output region, and concatenated copies that shift
uniformly become one term over a window axis (``x = u + a``: a convolution operator); reshape
and kron split or merge labels. A factor that no strided view can express is left as a node
to compute on its own (the planner materializes it and says so).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import opt_einsum

from .ir import Node, Op
from .product import NeedsDense, combine
from .regroup import NoView, reshaped
from .sop import Axis, Factor, Sub, Term, full_axis, map_term, merge_terms, window

# Making a value that reads values computed first nests calls (the planner's `evaluate`, the
# dask graph's `value`); this deep, what it reads is made first, in `Lowering.dependencies`'
# order, so that a chain of 10,000 computed nodes needs no recursion
NESTING = 32

__all__ = ["NESTING", "Lowering", "MAX_PRODUCTS", "MANY_FACTORS", "MAX_FACTORS"]

# Expanding an einsum of sums multiplies their term counts. Which sums are computed first
# instead is chosen by FLOPs (`Lowering._computed_first`); past this many products the plan
# itself (a contraction order per product) would cost more to make than it could save.
MAX_PRODUCTS = 1024

# An einsum operand that is one product of this many factors or more (a chain of products,
# ``t = t @ M``) is computed first where that costs no more FLOPs than expanding the einsum
# over its factors, and past MAX_FACTORS always (`Lowering._long_products`): expanded whole,
# each product of a chain renames and checks every factor before it, n**2 / 2 for n products.
# opt_einsum orders so many factors greedily, which takes a chain from the left whatever it
# ends in (a vector too): computing its start first loses nothing.
MANY_FACTORS = 32
MAX_FACTORS = 64


class Lowering:
    """One lowering session: fresh labels and the terms of the nodes lowered so far that
    are kept (see `lower`)."""

    def __init__(self, budget: int | None = None, shared=None):
        # bytes a sum computed first may take; compared with the whole budget, as the
        # budget search tries this lowering with the budget, with none and with 0
        self.budget = math.inf if budget is None else budget
        # the nodes whose terms are kept once lowered (None: all): a node with one user is
        # lowered once, and its terms (thousands of pads fused into a window) need not stay
        self.shared = shared
        self._labels = itertools.count()
        self._memo: dict[Node, list[Term]] = {}  # kept terms, for later calls
        self._live: dict[Node, list[Term]] = {}  # this call's terms not read yet
        self._read: list[tuple[Node, list[Term]]] = []  # what the rule running has read
        self._absorbed: set[Node] = set()  # this call's sums lowered in the sum above them
        self._asked: set[Node] = set()  # nodes the planner computes (and lowers) on their own
        self.why_dense: dict[Node, str] = {}  # nodes left as factors to compute, and why

    def lower(self, node: Node) -> list[Term]:
        """The terms whose sum is `node`'s value.

        The nodes below `node` whose terms are not kept are lowered first, one after the
        other, each after its sources, in a depth-first walk (a sum may be 100,000 nodes
        deep: nothing recurses). A rule reads its sources' terms through `operand`, and
        the terms of a node that is not kept are dropped once read: `shared` must hold
        every node read more than once. Kept are the terms of shared nodes, and of nodes
        computed on their own (the planner lowers them again).
        """
        stack = [(node, False)]
        try:
            while stack:
                n, expanded = stack.pop()
                if not expanded:
                    if n not in self._live and n not in self._memo:  # not reached before
                        stack.append((n, True))
                        stack.extend((s, False) for s in reversed(n.src)
                                     if s not in self._live and s not in self._memo)
                        self._absorb(n)
                elif n not in self._absorbed:
                    self._store(n, self._lowered(n))
            return self._memo[node] if node in self._memo else self._live.pop(node)
        finally:
            self._live.clear()
            self._read.clear()
            self._absorbed.clear()

    def _absorb(self, node: Node):
        """Mark the sources of a sum (or scaling) that are sums read by it alone, in its
        dtype, as lowered with it (see `_sum`): a left-deep sum of n terms then merges its
        terms once, not at each of its n adds."""
        if node.op in _SUMS:
            self._absorbed.update(s for s in node.src if s.op in _SUMS and s.dtype == node.dtype
                                  and not self._kept(s))

    def _store(self, node: Node, terms: list[Term]):
        """Keep `node`'s terms till read, or for later calls; drop those its rule read that
        are not kept."""
        (self._memo if self._kept(node) else self._live)[node] = terms
        for s, read in self._read:
            if self._kept(s):  # asked for by now (a sum computed first): the planner lowers it
                self._memo.setdefault(s, read)
        self._read.clear()

    def _kept(self, node: Node) -> bool:
        return self.shared is None or node in self.shared or node in self.why_dense or \
            node in self._asked

    def _lowered(self, node: Node) -> list[Term]:
        """`node`'s terms by its rule, in its dtype, equal terms merged."""
        if node.op is Op.LEAF:
            return self.dense(node)  # one factor viewing all of it: nothing to merge or check
        terms = merge_terms([_promoted(t, node.dtype) for t in _RULES[node.op](self, node)])
        assert all(_well_placed(t, node.shape) for t in terms), (node, terms)
        return terms

    def operand(self, src: Node, node: Node) -> list[Term]:
        """The terms of `src` (lowered before `node`) as `node` uses them. A boolean sum is
        a logical or, which arithmetic does not distribute over: where `node` computes in
        numbers, such a `src` is computed as booleans first rather than expanded."""
        if (terms := self._memo.get(src)) is None:
            assert src in self._live, f"{src} is read twice but not in `shared`"
            terms = self._live.pop(src)
            self._read.append((src, terms))
        if src.dtype == bool and node.dtype != bool and not _exact_in_numbers(terms):
            self.why_dense.setdefault(src, "a boolean sum (a logical or) used in arithmetic")
            return self.dense(src)
        return terms

    def fresh(self) -> int:
        return next(self._labels)

    def dense(self, node: Node) -> list[Term]:
        """`node` as one factor, viewed whole."""
        if 0 in node.shape:
            return []
        axes = tuple(full_axis(self.fresh(), n) for n in node.shape)
        sizes = {s.label: s.dim for ax in axes for s in ax.subs}
        return [Term(1, (Factor(node, axes),), axes, sizes, node.dtype)]

    def renamed(self, term: Term) -> Term:
        """`term` with every label replaced by a fresh one."""
        mapping = defaultdict(self.fresh)
        renamed = map_term(term, lambda s: (s._replace(label=mapping[s.label]),))
        return renamed._replace(sizes={mapping[ix]: d for ix, d in term.sizes.items()})

    # -- what a node's value reads -----------------------------------------------------------

    def reshaped_whole(self, node: Node, terms: list[Term]) -> bool:
        """Is `node` a reshape that no split or merge of labels expresses (its terms view the
        node itself), so that the array it reshapes is reshaped as a whole?"""
        return node.op is Op.RESHAPE and any(f.source is node for t in terms for f in t.factors)

    def sources(self, node: Node) -> list[tuple[Node, bool]]:
        """The computed nodes (no leaves) whose values `node`'s value reads, each with
        whether it is read as a factor: its terms' factors are, what a reshape that labels
        cannot express reshapes is not."""
        terms = self.lower(node)
        if self.reshaped_whole(node, terms):
            return [] if node.src[0].op is Op.LEAF else [(node.src[0], False)]
        return [(n, True) for n in dict.fromkeys(f.source for t in terms for f in t.factors
                                                 if f.source.op is not Op.LEAF)]

    def dependencies(self, node: Node, known) -> list[tuple[Node, bool]]:
        """The computed nodes that making `node`'s value makes (not `node`, nor any for which
        ``known(n)`` holds), each after those it reads and with how it is read (see
        `sources`), found without recursion: a chain of 10,000 nodes each computed first is
        made in this order, not by 10,000 nested calls."""
        order, seen, stack = [], {node}, [(node, True, False)]
        while stack:
            n, factor, expanded = stack.pop()
            if expanded:
                order.append((n, factor))
                continue
            stack.append((n, factor, True))
            for s, as_factor in reversed(self.sources(n)):
                if s not in seen and not known(s):
                    seen.add(s)
                    stack.append((s, as_factor, False))
        return order[:-1]

    # -- rules ---------------------------------------------------------------------------

    def _eye(self, node: Node) -> list[Term]:
        """eye(N, M, k)[i, j] = 1 where j - i = k: one label on both axes, offset by k."""
        n, m, k, _ = node.arg
        length = min(n, m - k) if k >= 0 else min(n + k, m)
        if length <= 0:
            return []
        d = self.fresh()
        rows, cols = Axis(0, (Sub(d, n, max(0, -k)),)), Axis(0, (Sub(d, m, max(0, k)),))
        return [Term(1, (), (rows, cols), {d: length})]

    def _sum(self, node: Node) -> list[Term]:
        """terms(c * (a + b)) = c * terms(a) + c * terms(b), each broadcast to the sum's
        shape; through the whole tree of sums and scalings absorbed into `node` (see
        `_absorb`) at once, its operands' terms in order, each scaled by the product of the
        scalings above it (taken top down: the 100,000 terms of a sum are one tree)."""
        if 0 in node.shape:
            return []
        terms, stack = [], [(node, None, None)]
        while stack:
            n, user, coeff = stack.pop()
            if n is node or n in self._absorbed:
                if n.op is Op.SCALE:
                    coeff = n.arg[0] if coeff is None else coeff * n.arg[0]
                stack.extend((s, n, coeff) for s in reversed(n.src))
                continue
            for t in self.operand(n, user):
                if n.shape != node.shape:
                    t = self._broadcast(t, n.shape, node.shape)
                terms.append(t if coeff is None else t._replace(coeff=t.coeff * coeff))
        return terms

    def _broadcast(self, term: Term, shape, target) -> Term:
        """`term`, of an array of `shape`, broadcast to `target`: each new leading axis, and
        each length-1 axis stretched, indexed by a fresh label that no factor reads."""
        sizes = dict(term.sizes)
        lead = len(target) - len(shape)

        def new_axis(n):
            ix = self.fresh()
            sizes[ix] = n
            return full_axis(ix, n)

        out = [new_axis(n) for n in target[:lead]]
        out += [new_axis(n) if d == 1 and n != 1 else ax
                for ax, d, n in zip(term.out, shape, target[lead:])]
        return term._replace(out=tuple(out), sizes=sizes)

    def _pad(self, node: Node) -> list[Term]:
        """pad(a, w, c) = a placed at offset w, plus c on each slab of the frame around it"""
        widths, constants = node.arg
        (src,) = node.src
        terms = [t._replace(out=tuple(ax._replace(start=ax.start + lo)
                                      for ax, (lo, _) in zip(t.out, widths)))
                 for t in self.operand(src, node)]
        # The frame is split into disjoint boxes: along axis k, outside the inner range, with
        # the axes before k whole and the axes after k inside it. Disjoint, so exact; a corner
        # takes the constant of its last axis, as np.pad, which pads axis after axis.
        inner = [(lo, lo + n) for (lo, _), n in zip(widths, src.shape)]
        for k, n in enumerate(node.shape):
            for (lo, hi), constant in zip(((0, inner[k][0]), (inner[k][1], n)), constants[k]):
                box = [*((0, m) for m in node.shape[:k]), (lo, hi), *inner[k + 1:]]
                if constant != 0 and all(b > a for a, b in box):
                    terms.append(self._box(constant, box))
        return terms

    def _box(self, coeff, box) -> Term:
        """The constant `coeff` on the box ``[(lo, hi), ...]`` and zero elsewhere."""
        out, sizes = [], {}
        for lo, hi in box:
            if hi - lo == 1:
                out.append(Axis(lo, ()))
                continue
            ix = self.fresh()
            sizes[ix] = hi - lo
            out.append(Axis(lo, (Sub(ix, hi - lo, 0),)))
        return Term(coeff, (), tuple(out), sizes)

    def _concat(self, node: Node) -> list[Term]:
        """concatenate(a, b) = a at offset 0 plus b at offset len(a) along the axis; and
        concatenated copies of one term that shift uniformly (a convolution operator's rows)
        are one term over a new label that indexes the copies."""
        axis, offset, parts = node.arg, 0, []
        for src in node.src:
            placed = []
            for t in self.operand(src, node):
                out = list(t.out)
                out[axis] = out[axis]._replace(start=out[axis].start + offset)
                placed.append(t._replace(out=tuple(out)))
            parts.append(placed)
            offset += src.shape[axis]
        return self._fuse_shifted(parts) or [t for placed in parts for t in placed]

    def _fuse_shifted(self, parts: list[list[Term]]) -> list[Term] | None:
        """If the k-th part's terms are the first part's moved by k times a fixed shift
        (of where they sit in the output and of what they view), the terms over a new label
        `u` that counts the parts, whose step moves every axis the shift moves: windows
        where another label already moves that axis. None where the parts do not line up."""
        if len(parts) < 2 or any(len(p) != len(parts[0]) for p in parts) or not parts[0]:
            return None
        fused = []
        for copies in zip(*parts):
            shapes = [_shift_form(t) for t in copies]
            key, first = shapes[0][0], shapes[0][1]
            if any(k != key for k, _ in shapes):
                return None
            delta = [b - a for a, b in zip(first, shapes[1][1])]
            if any(p[1] != tuple(a + j * d for a, d in zip(first, delta))
                   for j, p in enumerate(shapes)):
                return None
            term = self._with_copies(copies[0], len(copies), iter(delta))
            if term is None:
                return None
            fused.append(term)
        return fused

    def _with_copies(self, term: Term, count: int, delta) -> Term | None:
        """The `count` copies of `term` side by side as one term, the k-th moved by k times
        `delta` (in the
        order `_shift_form` lists starts and offsets)."""
        u = self.fresh()

        def moved(ax: Axis) -> Axis | None:
            start_step = next(delta)
            offset_steps = [next(delta) for _ in ax.subs]
            step = start_step + sum(d * st for d, st in zip(offset_steps, ax.strides))
            if step == 0:
                return ax if not any(offset_steps) else None
            if step < 0:
                return None
            steps = (step, *ax.strides)
            plain = window(ax.start, (Sub(u, count, 0), *ax.subs), steps)
            if plain.steps is None:
                return plain  # copies side by side: a split of the axis
            # a window bounds each label's range by its sub's dim: make the bounds tight
            subs = tuple(s._replace(dim=s.offset + term.sizes[s.label]) for s in ax.subs)
            return Axis(ax.start, (Sub(u, count, 0), *subs), steps)

        out = [moved(ax) for ax in term.out]
        factors = [Factor(f.source, tuple(moved(ax) for ax in f.axes)) for f in term.factors]
        if any(ax is None for ax in out) or any(ax is None for f in factors for ax in f.axes):
            return None
        if not any(s.label == u for ax in out for s in ax.subs):
            return None  # the copies would overlap in the output: not a concatenation
        return term._replace(out=tuple(out), factors=tuple(factors),
                             sizes={**term.sizes, u: count})

    def _reshape(self, node: Node) -> list[Term]:
        """reshape splits and merges axes: labels split into parts, axes gather labels"""
        (src,) = node.src
        try:
            return [reshaped(t, src.shape, node.shape, self.fresh)
                    for t in self.operand(src, node)]
        except NoView:
            self.why_dense[node] = "no split or merge of labels expresses this reshape"
            self._asked.add(src)  # numpy reshapes `src` computed: the planner lowers it again
            return self.dense(node)

    def _einsum(self, node: Node) -> list[Term]:
        """einsum(.., a + b, ..) = einsum(.., a, ..) + einsum(.., b, ..), with each operand's
        placement (offsets, diagonals, split axes) tied to the einsum's labels"""
        term_lists = [self.operand(s, node) for s in node.src]
        (labels, *more), output = node.arg
        if not more and len(set(labels)) == len(labels) == len(output):
            # a transposition moves the output axes of each term, and ties nothing
            order = [labels.index(ix) for ix in output]
            return [t._replace(out=tuple(t.out[k] for k in order)) for t in term_lists[0]]
        dense = self._computed_first(node, term_lists)
        dense |= self._long_products(node, term_lists, dense)
        while True:
            lists = [self.dense(s) if i in dense else term_lists[i]
                     for i, s in enumerate(node.src)]
            try:
                return [t for combo in itertools.product(*lists)
                        if (t := self._combine(node, combo)) is not None]
            except NeedsDense as e:
                assert e.operand not in dense, node
                self.why_dense.setdefault(
                    node.src[e.operand], f"as operand {e.operand} of {len(node.src)}, its "
                    "placement (sliced or merged axes) has no strided view against the others")
                dense.add(e.operand)

    def _computed_first(self, node: Node, term_lists) -> set[int]:
        """The operands (sums) to compute on their own before the einsum, rather than
        expand the einsum over their terms: the choice with the fewest FLOPs, counting for
        expansion one contraction per product and
        an add of each into the result, and for a computed operand its terms and their adds.
        A computed operand must fit in the memory budget."""
        sums = [i for i, ts in enumerate(term_lists) if len(ts) > 1]
        if not sums:
            return set()

        def computed(i):
            return sum(_term_flops(t) for t in term_lists[i]) + \
                len(term_lists[i]) * node.src[i].size

        # each product is priced as the one of the heaviest terms: an upper bound, which
        # leans towards computing sums first, the choice whose cost does not multiply
        heaviest = [max(ts, key=_term_flops, default=None) for ts in term_lists]

        def expanded(dense):
            products = math.prod(len(term_lists[i]) for i in sums if i not in dense)
            if products > MAX_PRODUCTS:
                return math.inf
            sample = [[heaviest[i]] if heaviest[i] else [] for i in range(len(node.src))]
            return products * (self._product_flops(node, sample, dense) + node.size)

        if len(sums) <= 8:
            choices = [set(c) for r in range(len(sums) + 1)
                       for c in itertools.combinations(sums, r)]
        else:  # too many to try all: compute the largest sums first
            by_size = sorted(sums, key=lambda i: -len(term_lists[i]))
            choices = [set(by_size[:r]) for r in range(len(sums) + 1)]
        fits = [c for c in choices if sum(node.src[i].size * node.src[i].dtype.itemsize
                                          for i in c) <= self.budget]
        best = min(fits or choices,
                   key=lambda c: (expanded(c) + sum(computed(i) for i in c), len(c)))
        for i in best:
            self.why_dense.setdefault(
                node.src[i], f"a sum of {len(term_lists[i])} terms used by an einsum: "
                "computing it first costs fewer FLOPs than expanding the einsum over it")
        return best

    def _product_flops(self, node: Node, sample, dense) -> float:
        """FLOPs of one product of the einsum: of the first term of each list of `sample`,
        operands in `dense` computed first; 0 if an operand is zero (no products at all), inf
        if the product needs some operand computed anyway."""
        sample = [self.dense(s) if i in dense else ts for i, (s, ts) in
                  enumerate(zip(node.src, sample))]
        if not all(sample):
            return 0
        try:
            term = self._combine(node, [ts[0] for ts in sample])
        except NeedsDense:
            return math.inf
        return _term_flops(term) if term is not None else 0

    def _long_products(self, node: Node, term_lists, dense: set[int]) -> set[int]:
        """The operands that are one product of many factors (a chain of products) to
        compute first, rather than expand into the einsum's product: where that costs no
        more FLOPs (the chain's own order is as good as any), and past MAX_FACTORS always, so
        that products do not grow with the chain. A computed operand must fit in the budget.
        """
        chosen = set()
        for i, (src, ts) in enumerate(zip(node.src, term_lists)):
            if i in dense or len(ts) != 1 or len(ts[0].factors) < MANY_FACTORS \
                    or src.size * src.dtype.itemsize > self.budget:
                continue
            count = len(ts[0].factors)
            if count >= MAX_FACTORS:
                why = f"past {MAX_FACTORS} factors, a product is computed first, not grown"
            elif _term_flops(ts[0]) + self._product_flops(node, term_lists, dense | chosen | {i}) \
                    <= self._product_flops(node, term_lists, dense | chosen):
                why = "computing it first costs no more FLOPs than expanding the einsum over it"
            else:
                continue
            chosen.add(i)
            self.why_dense.setdefault(src, f"a product of {count} factors used by an "
                                      f"einsum: {why}")
        return chosen

    def _combine(self, node: Node, combo) -> Term | None:
        """The single term of the einsum `node` over one term per operand (`combo`), or
        None when it is zero (see `product.combine`). The terms are renamed so that no two
        share a label, all but the one of most factors (a chain's product so far): the
        others' fresh labels cannot meet its own."""
        keep = max(range(len(combo)), key=lambda i: len(combo[i].factors), default=None)
        return combine(node, [t if i == keep else self.renamed(t) for i, t in enumerate(combo)],
                       self.fresh)


def _promoted(term: Term, dtype) -> Term:
    """`term` computed in numpy's promotion of its dtype and `dtype`."""
    promoted = np.promote_types(term.dtype, dtype)
    return term if promoted == term.dtype else term._replace(dtype=promoted)


def _shift_form(term: Term) -> tuple[tuple, tuple[int, ...]]:
    """`term` split into what copies moved along their axes share (labels numbered by first
    appearance, sizes, sources, coefficient) and what moves: every axis start and sub offset,
    out axes first, then each factor's."""
    names: dict[int, int] = {}
    key, moving = [term.coeff, str(term.dtype)], []
    for axes, source in [(term.out, None), *((f.axes, id(f.source)) for f in term.factors)]:
        key.append(source)
        for ax in axes:
            key.append((ax.steps, tuple((names.setdefault(s.label, len(names)), s.dim,
                                         term.sizes[s.label]) for s in ax.subs)))
            moving += [ax.start, *(s.offset for s in ax.subs)]
    return tuple(key), tuple(moving)


def _well_placed(term: Term, shape) -> bool:
    """The lowering's postcondition: every view of `term` lies inside what it views, and
    every label has one size."""
    sizes = term.sizes

    def inside(axes, dims) -> bool:
        if len(axes) != len(dims):
            return False
        for ax, n in zip(axes, dims):
            low, high = _span(ax, sizes)
            if low < 0 or high > n or any(s.offset < 0 or s.offset + sizes[s.label] > s.dim
                                          for s in ax.subs):
                return False
        return True

    return inside(term.out, shape) and all(inside(f.axes, f.source.shape)
                                           for f in term.factors)


def _span(ax: Axis, sizes) -> tuple[int, int]:
    """The indices `ax` reaches: a plain axis's whole length (sliced, then split), a
    window's first to last (its start alone may be negative: its offsets move it in)."""
    if ax.steps is None:
        return ax.start, ax.start + ax.length
    low = ax.start + sum(s.offset * st for s, st in zip(ax.subs, ax.steps))
    return low, low + 1 + sum((sizes[s.label] - 1) * st for s, st in zip(ax.subs, ax.steps))


def _exact_in_numbers(terms: list[Term]) -> bool:
    """Is this sum of boolean terms the same in integers: at most one product, counted once,
    summing over nothing?"""
    if len(terms) > 1:
        return False
    for t in terms:
        kept = {s.label for ax in t.out for s in ax.subs}
        if t.coeff != 1 or any(s.label not in kept for f in t.factors for ax in f.axes
                               for s in ax.subs):
            return False
    return True


_SUMS = (Op.ADD, Op.SCALE)  # the ops `Lowering._sum` lowers

_RULES = {Op.LEAF: Lowering.dense, Op.EYE: Lowering._eye, Op.EINSUM: Lowering._einsum,
          Op.ADD: Lowering._sum, Op.SCALE: Lowering._sum, Op.RESHAPE: Lowering._reshape,
          Op.PAD: Lowering._pad, Op.CONCAT: Lowering._concat}


def _term_flops(term: Term) -> int:
    """opt_einsum's FLOP count for contracting `term`'s factors in its best order."""
    out = {s.label for ax in term.out for s in ax.subs}
    inputs = [list(dict.fromkeys(s.label for ax in f.axes for s in ax.subs))
              for f in term.factors]
    if not inputs:
        return math.prod(term.sizes[ix] for ix in out)
    used = {ix for labels in inputs for ix in labels}
    symbols = {ix: opt_einsum.get_symbol(k) for k, ix in enumerate(used | out)}
    equation = ",".join("".join(symbols[ix] for ix in labels) for labels in inputs)
    equation += "->" + "".join(symbols[ix] for ix in out if ix in used)
    shapes = [tuple(term.sizes[ix] for ix in labels) for labels in inputs]
    if len(inputs) == 1:
        return math.prod(term.sizes[ix] for ix in used)
    _, info = opt_einsum.contract_path(equation, *shapes, shapes=True, optimize="auto")
    return int(info.opt_cost)
