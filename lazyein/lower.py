"""Lowering (docs/architecture.md, stage 2): an expression DAG becomes a sum of products of views.

This module is the session that walks the DAG; each op's rule is in its module of
lazyein/ops/ and reads its operands' terms through the session's public helpers. Every rule
is index arithmetic. Sums distribute over einsums; eye ties two labels; pad, stack and
concatenate move a term's output region, and concatenated copies that shift uniformly become
one term over a window axis (``x = u + a``: a convolution operator); reshape and kron split
or merge labels. A factor that no strided view can express is left as a node to compute on
its own (the planner materializes it and says so).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np

from . import caches
from .ir import Node, Op, definition
from .sop import Axis, Factor, Term, full_axis, map_term, merge_terms, reach

# Making a value that reads values computed first nests calls (the planner's `evaluate`, the
# dask graph's `value`); this deep, what it reads is made first, in `Lowering.dependencies`'
# order, so that a chain of 10,000 computed nodes needs no recursion
NESTING = 32

# A node's terms are kept with it (for later sessions: new expressions over a built
# operator) when lowering it walked this many nodes or more, and there are at most
# KEEP_TERMS of them: worth keeping, and small to keep
KEEP_WALKED = 16
KEEP_TERMS = 64

# Check every node's terms against the lowering's postcondition (`_well_placed`): on in the
# test suite (tests/conftest.py); off for users, as it costs a quarter of lowering a
# convolution operator of 15,000 pads
CHECK_PLACEMENT = False

__all__ = ["NESTING", "CHECK_PLACEMENT", "Lowering"]


class Lowering:
    """One lowering session: fresh labels and the terms of the nodes lowered so far that
    are kept (see `lower`).

    Each op's rule (`ops.OpDef.lower`) is a function of the session and the node, and uses
    the session's public side: `operand` (its sources' terms), `fresh`, `dense`, `renamed`,
    `broadcast`, `ask` and `absorbed`, `budget` and `why_dense` (what is left dense, and
    why)."""

    def __init__(self, budget: int | None = None, shared=None):
        # bytes a sum computed first may take; compared with the whole budget, as the
        # budget search tries this lowering with the budget, with none and with 0
        self.budget = math.inf if budget is None else budget
        # the nodes whose terms are kept once lowered (None: all): a node with one user is
        # lowered once, and its terms (thousands of pads fused into a window) need not stay
        self.shared = shared
        self.users: dict[Node, int] | None = None  # or, how often nodes are read (`share`)
        self._labels = itertools.count()
        self._memo: dict[Node, list[Term]] = {}  # kept terms, for later calls
        self._live: dict[Node, list[Term]] = {}  # this call's terms not read yet
        self._read: list[tuple[Node, list[Term]]] = []  # what the rule running has read
        self._absorbed: set[Node] = set()  # this call's sums lowered in the sum above them
        self._asked: set[Node] = set()  # nodes the planner computes (and lowers) on their own
        self.why_dense: dict[Node, str] = {}  # nodes left as factors to compute, and why
        self._count = 0  # nodes lowered by their rule so far
        self._kept_now: set[Node] = set()  # nodes whose terms this session keeps with them

    def lower(self, node: Node) -> list[Term]:
        """The terms whose sum is `node`'s value.

        The nodes below `node` whose terms are not kept are lowered first, one after the
        other, each after its sources, in a depth-first walk (a sum may be 100,000 nodes
        deep: nothing recurses). A rule reads its sources' terms through `operand`, and
        the terms of a node that is not kept are dropped once read: `shared` must hold
        every node read more than once. Kept are the terms of shared nodes, and of nodes
        computed on their own (the planner lowers them again).
        """
        # (node, None) to reach a node; (node, k) to lower it, k nodes having been lowered
        # before its sources were
        stack: list[tuple[Node, int | None]] = [(node, None)]
        try:
            while stack:
                n, began = stack.pop()
                if began is None:
                    if n in self._live or n in self._memo:
                        continue  # reached before
                    if (saved := self._saved(n)) is not None:
                        self._absorbed.discard(n)  # its terms are known: read, not walked
                        self._store(n, saved)
                        continue
                    stack.append((n, self._count))
                    stack.extend((s, None) for s in reversed(n.src)
                                 if s not in self._live and s not in self._memo)
                    self._absorb(n)
                elif n not in self._absorbed:
                    terms = self._lowered(n)
                    self._save(n, terms, self._count - began, node.src)
                    self._store(n, terms)
            return self._memo[node] if node in self._memo else self._live.pop(node)
        finally:
            self._live.clear()
            self._read.clear()
            self._absorbed.clear()

    def share(self, roots) -> None:
        """Drop once read the terms of the nodes that `roots` read once (not roots): found
        by a walk from the roots that stops at nodes whose terms are kept with them. Nodes
        below those (lowered if what they keep needs them computed) are not counted, so
        they are kept: dropping a node's terms is what must be known to be safe."""
        users: dict[Node, int] = {}  # (also what the walk has reached)
        stack = list(roots)
        while stack:
            n = stack.pop()
            if self._known(n):
                # its terms are read, not walked; the planner lowers what they view
                for d in self._kept_views(n):
                    if d not in users:
                        users[d] = 2  # kept: lowered on its own, and maybe read too
                        stack.append(d)
                continue
            for s in n.src:
                count = users[s] = users.get(s, 0) + 1
                if count == 1 and s.src:
                    stack.append(s)
        for r in roots:
            users[r] = 2  # kept: the planner reads a root's terms
        self.users = users

    def _kept_views(self, node: Node) -> list[Node]:
        """The computed nodes that `node`'s kept terms view, which the planner lowers on
        their own: their factors' sources, and what a reshape of a whole array reshapes."""
        terms, _ = caches.memo(node)[("terms", self.budget)]
        found = []
        for source in dict.fromkeys(f.source for t in terms for f in t.factors):
            if source is node:
                found.extend(node.src[:1])
            elif source.src:
                found.append(source)
        return found

    def _known(self, node: Node) -> bool:
        return node.memo is not None and ("terms", self.budget) in caches.memo(node)

    def _saved(self, node: Node) -> list[Term] | None:
        """`node`'s terms kept with it by an earlier session of this budget, relabelled
        afresh (its factors' reasons to be computed on their own come back too); None if
        there are none."""
        if node.memo is None or (saved := caches.memo(node).get(("terms", self.budget))) is None:
            return None
        terms, reasons = saved
        for source, why in reasons:
            self.why_dense.setdefault(source, why)
        return [self.renamed(t) for t in terms]

    def _save(self, node: Node, terms: list[Term], lowered: int, operands):
        """Keep `node`'s terms with it, for later sessions, when they are few and `node` is
        one of the `operands` of the node lowered, or finding them took a walk of
        `KEEP_WALKED` nodes or more (an operator built once and applied to new arrays:
        ``op @ v``, its thousands of nodes walked once and its few terms kept). Only the
        topmost are kept: a node's own sources kept by this session are let go (down a
        chain of 6,000 nodes, each would keep its terms, all allocated while `compute` runs,
        where they count against `max_bytes`)."""
        key = ("terms", self.budget)
        for s in node.src:
            if s in self._kept_now and s not in operands:
                self._kept_now.discard(s)
                caches.forget(s, key)
        if not (node in operands or lowered >= KEEP_WALKED) or len(terms) > KEEP_TERMS or \
                node.op is Op.LEAF:
            return
        sources = dict.fromkeys(f.source for t in terms for f in t.factors)
        reasons = tuple((s, self.why_dense[s]) for s in sources if s in self.why_dense)
        caches.memo(node)[key] = (terms, reasons)
        self._kept_now.add(node)

    def _absorb(self, node: Node):
        """Mark the sources of a sum (or scaling) that are sums read by it alone, in its
        dtype, as lowered with it (see `ops.add.lower_sum`): a left-deep sum of n terms then
        merges its terms once, not at each of its n adds."""
        if _is_sum(node):
            self._absorbed.update(s for s in node.src if _is_sum(s) and s.dtype == node.dtype
                                  and not self._kept(s))

    def absorbed(self, node: Node) -> bool:
        """Is `node` a sum lowered with the sum above it, by that sum's rule?"""
        return node in self._absorbed

    def _store(self, node: Node, terms: list[Term]):
        """Keep `node`'s terms till read, or for later calls; drop those its rule read that
        are not kept."""
        (self._memo if self._kept(node) else self._live)[node] = terms
        for s, read in self._read:
            if self._kept(s):  # asked for by now (a sum computed first): the planner lowers it
                self._memo.setdefault(s, read)
        self._read.clear()

    def _kept(self, node: Node) -> bool:
        if self.users is not None:  # kept unless found read once
            return self.users.get(node) != 1 or node in self.why_dense or node in self._asked
        return self.shared is None or node in self.shared or node in self.why_dense or \
            node in self._asked

    def _lowered(self, node: Node) -> list[Term]:
        """`node`'s terms by its op's rule, in its dtype, equal terms merged."""
        self._count += 1
        terms = definition(node.op).lower(self, node)
        if node.op is Op.LEAF:
            return terms  # one factor viewing all of it: nothing to merge or check
        terms = merge_terms([_promoted(t, node.dtype) for t in terms])
        if CHECK_PLACEMENT:
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
        """A label no term of this session has used."""
        return next(self._labels)

    def ask(self, node: Node):
        """Have the planner compute `node` on its own (a rule's operand it left dense): its
        terms are then kept, as the planner lowers it again."""
        self._asked.add(node)

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

    def mapped_whole(self, node: Node, terms: list[Term]) -> bool:
        """Is `node` an elementwise map (conj, real, imag, astype) that does not distribute
        over its operand's terms (its terms view the node itself), so that the backend maps
        the operand computed (or read) whole?"""
        return node.op is Op.ELEMENTWISE and any(f.source is node for t in terms
                                                  for f in t.factors)

    def sources(self, node: Node) -> list[tuple[Node, bool]]:
        """The computed nodes (no leaves) whose values `node`'s value reads, each with
        whether it is read as a factor: its terms' factors are, what a reshape that labels
        cannot express reshapes is not."""
        terms = self.lower(node)
        if self.reshaped_whole(node, terms) or self.mapped_whole(node, terms):
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

    def broadcast(self, term: Term, shape, target) -> Term:
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


def _is_sum(node: Node) -> bool:
    """Is `node` a scaled sum of its operands, lowered as one tree with the sums below it?"""
    return definition(node.op).sum_scale is not None


def _promoted(term: Term, dtype) -> Term:
    """`term` computed in numpy's promotion of its dtype and `dtype`."""
    promoted = np.promote_types(term.dtype, dtype)
    return term if promoted == term.dtype else term._replace(dtype=promoted)


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
    """The indices `ax` reaches (see `sop.reach`)."""
    return reach(ax, sizes)


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
