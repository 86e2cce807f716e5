"""Lowering (DESIGN.md stage 2): an expression DAG becomes a sum of products of views.

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
from .sop import Axis, Factor, Sub, Term, full_axis, map_term, merge_terms, window

__all__ = ["Lowering", "MAX_PRODUCTS", "MANY_FACTORS", "MAX_FACTORS"]

# Expanding an einsum of sums multiplies their term counts. Which sums are computed first
# instead is chosen by FLOPs (`Lowering._computed_first`); past this many products the plan
# itself (a contraction order per product) would cost more to make than it could save.
MAX_PRODUCTS = 1024

# An einsum operand that is one product of this many factors or more (a chain of products,
# ``t = t @ M``) is computed first where that costs no more FLOPs than expanding the einsum
# over its factors, and past MAX_FACTORS always (`Lowering._long_products`): each einsum of
# a chain expanded whole renames and checks every factor before it, n**2 / 2 for n products.
MANY_FACTORS = 32
MAX_FACTORS = 64


class _NeedsDense(Exception):
    """The einsum operand at `operand` must be computed on its own before it is contracted."""

    def __init__(self, operand: int):
        super().__init__(operand)
        self.operand = operand


class _NoView(Exception):
    """A reshape that no split or merge of labels expresses."""


class _SplitFirst(Exception):
    """Regrouping needs `label` split so that a part of size `first` comes first."""

    def __init__(self, label: int, first: int):
        super().__init__(label, first)
        self.label, self.first = label, first


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
        `_schedule`), its operands' terms in order, each scaled by the product of the
        scalings above it (the sum of 100,000 terms is one tree)."""
        terms, stack = [], [(node, None, None)]
        while stack:
            n, user, coeff = stack.pop()
            if n is node or n in self._absorbed:
                if n.op is Op.SCALE:
                    coeff = n.arg[0] if coeff is None else coeff * n.arg[0]
                stack.extend((s, n, coeff) for s in reversed(n.src))
                continue
            for t in self.operand(n, user):
                if n.shape != node.shape and (t := self._broadcast(t, n.shape, node.shape)) \
                        is None:
                    continue
                terms.append(t if coeff is None else t._replace(coeff=t.coeff * coeff))
        return terms

    def _broadcast(self, term: Term, shape, target) -> Term | None:
        if 0 in target:
            return None
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
            return [self._reshape_term(t, src.shape, node.shape) for t in self.operand(src, node)]
        except _NoView:
            self.why_dense[node] = "no split or merge of labels expresses this reshape"
            self._asked.add(src)  # numpy reshapes `src` computed: the planner lowers it again
            return self.dense(node)

    def _reshape_term(self, term: Term, shape, target) -> Term:
        term = self._spanning(term, shape, target)
        while True:
            try:
                return _regroup(term, shape, target)
            except _SplitFirst as split:
                size = term.sizes[split.label]
                term = self._split_label(term, split.label, (split.first, size // split.first))

    def _spanning(self, term: Term, shape, target) -> Term:
        """`term` with each output axis that a reshape merges with others written as subs
        spanning the whole axis (mixed radix over its length): a single index (a stacked
        slice) becomes a label of size 1 at that offset, and a placed range (a pad's) one
        label at its offset; merged, they are the offsets of sub-ranges of the new axis."""
        merged = _merged_axes(shape, target)
        out, sizes = list(term.out), dict(term.sizes)
        for i in merged:
            ax, n = out[i], shape[i]
            if ax.steps is not None or (ax.start == 0 and ax.length == n):
                continue  # a window, refused later; or already spanning
            if not ax.subs:
                pin = self.fresh()
                sizes[pin] = 1
                out[i] = Axis(0, (Sub(pin, n, ax.start),))
            elif len(ax.subs) == 1:
                (sub,) = ax.subs
                out[i] = Axis(0, (sub._replace(dim=n, offset=ax.start + sub.offset),))
        return term._replace(out=tuple(out), sizes=sizes)

    def _split_label(self, term: Term, label: int, dims) -> Term:
        """Replace `label` by labels of sizes `dims` (C order) wherever it appears. Where it
        runs over a sub-range of a sub-dimension, that range must be whole blocks of the
        inner parts: then the outermost part runs over the matching range of blocks."""
        parts = tuple(Sub(self.fresh(), d, 0) for d in dims)
        inner = math.prod(dims[1:])
        if any(ax.steps is not None and any(s.label == label for s in ax.subs)
               for ax in (*term.out, *(a for f in term.factors for a in f.axes))):
            raise _NoView  # a window's label moves along its axis: its parts would not

        def split(s: Sub):
            if s.label != label:
                return (s,)
            if s.dim % inner or s.offset % inner:
                raise _NoView  # a range that is not whole blocks does not split
            return (parts[0]._replace(dim=s.dim // inner, offset=s.offset // inner),
                    *parts[1:])

        split_term = map_term(term, split)
        sizes = {ix: d for ix, d in term.sizes.items() if ix != label}
        sizes.update((p.label, p.dim) for p in parts)
        return split_term._replace(sizes=sizes)

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
            except _NeedsDense as e:
                assert e.operand not in dense, node
                self.why_dense.setdefault(
                    node.src[e.operand], f"as operand {e.operand} of {len(node.src)}, its "
                    "placement (sliced or merged axes) has no strided view against the others")
                dense.add(e.operand)

    def _split_across_merges(self, node: Node, terms: list[Term], letter_size) -> list[Term]:
        """Where a plain label meets a merged axis (a kron's) across an einsum letter and its
        own term places it on other axes too (an eye's diagonal), split it in that whole term
        to match, so that every axis it indexes is merged alike: ``kron(A, B) @ eye(n)``
        then costs nothing, where splitting one axis alone would have no strided view."""
        inputs, _ = node.arg
        while True:
            occurrences = defaultdict(list)
            for i, (t, labels, src) in enumerate(zip(terms, inputs, node.src)):
                for ax, letter, d in zip(t.out, labels, src.shape):
                    if d != 1:
                        occurrences[letter].append((i, ax))
            for letter, occ in occurrences.items():
                n = letter_size[letter]
                pattern = next((ax for _, ax in occ if len(ax.subs) > 1 and ax.steps is None
                                and ax.start == 0 and ax.length == n), None)
                if pattern is None:
                    continue
                for i, ax in occ:
                    if len(ax.subs) != 1 or ax.steps is not None or ax.start:
                        continue
                    (sub,) = ax.subs
                    elsewhere = any(s.label == sub.label for o in terms[i].out if o is not ax
                                    for s in o.subs)
                    if sub.dim == n and not sub.offset and terms[i].sizes[sub.label] == n \
                            and elsewhere:
                        try:
                            terms[i] = self._split_label(terms[i], sub.label,
                                                         [s.dim for s in pattern.subs])
                        except _NoView:
                            continue
                        break
                else:
                    continue
                break
            else:
                return terms

    def _tie_window(self, terms, occ, sizes, substitute) -> Axis:
        """One einsum letter indexed by a window axis (``x = u + a``) in one operand: every
        other operand's label for that letter is replaced, in its factors, by the window
        itself, so the factor is viewed through the window (a convolution's input seen as
        overlapping patches, a strided view). Returns the window, for the letter's output."""
        (i0, win), *rest = sorted(occ, key=lambda o: o[1].steps is None)
        low = win.start + sum(s.offset * st for s, st in zip(win.subs, win.steps))
        high = low + sum((sizes[s.label] - 1) * st for s, st in zip(win.subs, win.steps))
        for i, ax in rest:
            if ax.steps is not None or len(ax.subs) != 1:
                raise _NeedsDense(i)  # two windows, or a window against a split axis
            (sub,) = ax.subs
            base = ax.start + sub.offset  # the letter is base + label
            others = [o for o in terms[i].out if o is not ax]
            # the label must cover the window, and index nothing else but whole axes
            in_outs = any(s.label == sub.label for o in others for s in o.subs)
            in_parts = any(s.label == sub.label and (len(a.subs) > 1 or a.steps is not None)
                           for f in terms[i].factors for a in f.axes for s in a.subs)
            if low - base < 0 or high - base >= sizes[sub.label] or in_outs or in_parts:
                raise _NeedsDense(i)
            substitute[sub.label] = (win.start - base, win)
        return win

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
        except _NeedsDense:
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
        """The single term for one choice of term per operand, or None when it is zero."""
        inputs, output = node.arg
        letter_size: dict[int, int] = {}
        for labels, src in zip(inputs, node.src):
            for ix, d in zip(labels, src.shape):
                letter_size[ix] = max(letter_size.get(ix, 1), d)
        if 0 in letter_size.values():
            return None
        terms = self._split_across_merges(node, [self.renamed(t) for t in combo], letter_size)
        coeff = math.prod(t.coeff for t in terms)
        dtype = np.result_type(*(t.dtype for t in terms)) if terms else np.dtype(bool)
        sizes = {ix: d for t in terms for ix, d in t.sizes.items()}
        factors = [f for t in terms for f in t.factors]

        occurrences = defaultdict(list)
        for i, (t, labels, src) in enumerate(zip(terms, inputs, node.src)):
            for ax, letter, d in zip(t.out, labels, src.shape):
                if d == 1:  # a length-1 axis broadcasts and ties nothing
                    continue
                if not ax.subs:  # a single index (a stacked slice) pins the letter there
                    pin = self.fresh()
                    sizes[pin] = 1
                    ax = Axis(ax.start, (Sub(pin, 1, 0),))
                occurrences[letter].append((i, ax))

        def split_everywhere(label, parts, blame, shift=0):
            """`label` replaced by `parts` in every factor; with `shift`, the parts cover
            only ``[shift, shift + their product)`` of the label's range, and each axis it
            indexes must be that label alone (its start moves by `shift`)."""
            whole = Sub(label, sizes[label], 0)

            def split(ax: Axis) -> Axis:
                if not any(s.label == label for s in ax.subs):
                    return ax
                if ax.steps is not None or any(s.label == label and s != whole
                                               for s in ax.subs):
                    raise _NeedsDense(blame)
                if shift or math.prod(sizes[p] for p in parts) != sizes[label]:
                    if len(ax.subs) != 1:
                        raise _NeedsDense(blame)
                    return Axis(ax.start + shift, tuple(Sub(p, sizes[p], 0) for p in parts))
                return ax._replace(subs=tuple(
                    q for s in ax.subs
                    for q in ((Sub(p, sizes[p], 0) for p in parts) if s.label == label else (s,))))

            return [Factor(f.source, tuple(map(split, f.axes))) for f in factors]

        parts_of: dict[int, list[int]] = {}
        starts: dict[int, int] = {}  # letter -> where its merged axes start
        windows: dict[int, Axis] = {}  # letter -> the window axis that indexes it
        substitute: dict[int, tuple[int, Axis]] = {}  # label -> (shift, window): a moved axis
        ties = []  # (label, x, c): label = x - c
        for letter, occ in occurrences.items():
            n = letter_size[letter]
            if any(ax.steps is not None for _, ax in occ):
                windows[letter] = self._tie_window(terms, occ, sizes, substitute)
                continue
            merged = [(i, ax) for i, ax in occ if len(ax.subs) > 1]
            if not merged:
                x = self.fresh()
                sizes[x] = n
                parts_of[letter] = [x]
                ties += [(ax.subs[0].label, x, ax.start + ax.subs[0].offset) for _, ax in occ]
                continue
            i0, pattern = merged[0]
            dims = [s.dim for s in pattern.subs]
            # the merged axis may cover a sub-range of the letter (a padded kron): then the
            # other operands' axes are sliced to it before they are split
            start = pattern.start
            if start + pattern.length > n:
                raise _NeedsDense(i0)
            starts[letter] = start
            parts = parts_of[letter] = [self.fresh() for _ in dims]
            sizes.update(zip(parts, dims))
            for i, ax in occ:
                if len(ax.subs) > 1:
                    if [s.dim for s in ax.subs] != dims or ax.start != start:
                        raise _NeedsDense(i)
                    # each part of the letter ties to a sub, which may cover a sub-range
                    # of it (a kron's offset eye, a reshaped pad): the tie restricts it
                    ties += [(s.label, x, s.offset) for s, x in zip(ax.subs, parts)]
                    continue
                # a plain axis across from merged ones is split to match: a free view
                a = ax.subs[0].label
                if ax.start or ax.subs[0] != Sub(a, n, 0) or sizes[a] != n or any(
                        s.label == a for t in terms for o in t.out if o is not ax for s in o.subs):
                    raise _NeedsDense(i0)
                pieces = [self.fresh() for _ in dims]
                sizes.update(zip(pieces, dims))
                factors = split_everywhere(a, pieces, i0, start)
                ties += [(p, x, 0) for p, x in zip(pieces, parts)]

        if substitute:
            factors = [Factor(f.source, tuple(_substituted(ax, substitute) for ax in f.axes))
                       for f in factors]
        placement = _solve(ties, sizes, self.fresh)
        if placement is None:
            return None
        new_sizes, moved = placement
        sizes.update(new_sizes)

        def place(s: Sub):
            if s.label in moved:
                u, shift = moved[s.label]
                return (Sub(u, s.dim, s.offset + shift),)
            return (s,)

        out = []
        for letter in output:
            n = letter_size[letter]
            parts = parts_of.get(letter)
            if n == 1:
                out.append(Axis(0, ()))
            elif letter in windows:
                out.append(windows[letter])
            elif parts is None:  # every operand broadcasts this letter
                x = self.fresh()
                sizes[x] = n
                out.append(full_axis(x, n))
            else:
                out.append(Axis(starts.get(letter, 0), tuple(Sub(x, sizes[x], 0) for x in parts)))
        term = map_term(Term(coeff, tuple(factors), tuple(out), sizes, dtype), place)
        used = {s.label for f in term.factors for ax in f.axes for s in ax.subs}
        used |= {s.label for ax in term.out for s in ax.subs}
        # a tied label, or a window's, that indexes nothing is a sum over a range of ones:
        # its size (the copies of a stack summed away count each copy)
        summed = {u for u, _ in moved.values()}
        summed |= {s.label for letter, win in windows.items() if letter not in output
                   for s in map_term(Term(1, (), (win,), sizes), place).out[0].subs}
        free = summed - used
        coeff = term.coeff * math.prod(sizes[u] for u in free)
        return term._replace(coeff=coeff, sizes={ix: sizes[ix] for ix in used})


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


def _substituted(ax: Axis, substitute) -> Axis:
    """`ax` with a label that a window replaces (see `Lowering._tie_window`) replaced."""
    if not any(s.label in substitute for s in ax.subs):
        return ax
    (sub,) = ax.subs  # `_tie_window` allowed the label nowhere else
    shift, win = substitute[sub.label]
    return win._replace(start=ax.start + sub.offset + shift)


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


def _whole(ax: Axis, sizes) -> bool:
    """Does every label of `ax` run over its whole sub-dimension?"""
    return all(s.offset == 0 and sizes[s.label] == s.dim for s in ax.subs)


def _solve(ties, sizes, fresh):
    """Solve ``label = x - c`` ties with a union-find over label offsets.

    Returns ``(new_sizes, moved)``, where ``moved[label] = (u, shift)`` means label = u + shift
    for a fresh label u per group of tied labels, over the range on which every label of the
    group is in bounds; None if some group has no such range (the term is zero).
    """
    parent: dict[int, tuple[int, int]] = {}  # label -> (parent, offset): label = parent + offset

    def find(ix):
        path = []
        while ix in parent:
            path.append(ix)
            ix = parent[ix][0]
        total = 0
        for node in reversed(path):  # compress, accumulating offsets from the root down
            total += parent[node][1]
            parent[node] = (ix, total)
        return ix, (parent[path[0]][1] if path else 0)

    for label, x, c in ties:
        ra, oa = find(label)
        rx, ox = find(x)
        if ra == rx:
            if oa != ox - c:
                return None  # two different diagonals of one axis pair never meet
        else:
            parent[ra] = (rx, ox - c - oa)
    groups = defaultdict(list)
    for ix in {ix for label, x, _ in ties for ix in (label, x)}:
        root, offset = find(ix)
        groups[root].append((ix, offset))
    new_sizes, moved = {}, {}
    for members in groups.values():
        lo = max(-d for _, d in members)
        hi = min(sizes[ix] - d for ix, d in members)
        if hi <= lo:
            return None
        u = fresh()
        new_sizes[u] = hi - lo
        for ix, d in members:
            moved[ix] = (u, lo + d)
    return new_sizes, moved


def _axis_groups(shape, target) -> list[tuple[list[int], list[int]]]:
    """How a C-order reshape from `shape` to `target` groups axes (length-1 axes aside):
    runs of old axes and of new axes whose lengths multiply to the same number."""
    groups, old, new = [], [i for i, d in enumerate(shape) if d != 1], \
        [j for j, d in enumerate(target) if d != 1]
    while old and new:
        o, n = [old.pop(0)], [new.pop(0)]
        po, pn = shape[o[0]], target[n[0]]
        while po != pn:
            if po < pn:
                o.append(old.pop(0))
                po *= shape[o[-1]]
            else:
                n.append(new.pop(0))
                pn *= target[n[-1]]
        groups.append((o, n))
    return groups


def _merged_axes(shape, target) -> set[int]:
    """The axes of `shape` that a reshape to `target` groups with others."""
    return {i for o, n in _axis_groups(shape, target) if len(o) > 1 or len(n) > 1 for i in o}


def _regroup(term: Term, shape, target) -> Term:
    """`term` with its output axes regrouped from `shape` to `target`.

    Raises:
        _SplitFirst: a label must first be split to line up with `target`.
        _NoView: no grouping of labels works.
    """
    out = [Axis(0, ())] * len(target)
    for o, n in _axis_groups(shape, target):
        if len(o) == 1 and len(n) == 1:
            out[n[0]] = term.out[o[0]]
            continue
        for i in o:
            ax = term.out[i]
            if ax.start != 0 or ax.length != shape[i] or ax.steps is not None:
                raise _NoView  # a padded region (or a window) is not a product of label ranges
        subs = [s for i in o for s in term.out[i].subs if s.dim != 1]
        for j in n:
            want, taken = target[j], []
            while want != 1:
                s = subs.pop(0)
                if want % s.dim == 0:
                    taken.append(s)
                    want //= s.dim
                elif s.dim % want == 0:
                    # the label's range must be whole blocks of what follows the first part
                    inner, size = s.dim // want, term.sizes[s.label]
                    if s.offset % inner or size % inner:
                        raise _NoView
                    raise _SplitFirst(s.label, size // inner)
                else:
                    raise _NoView
            out[j] = Axis(0, tuple(taken))
    return term._replace(out=tuple(out))


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
