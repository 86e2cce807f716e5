"""Planning within `max_bytes` (docs/architecture.md, stage 3): slice the terms that overflow.

A term sliced along a label runs in chunks, each a smaller copy of the same contraction: a
kept label's chunks write disjoint regions of the output, a summed label's chunks add partial
sums into it. The search prices each way of slicing a term by planning that term alone, sliced:
peak bytes exactly as the full plan will count them (work the chunks share is hoisted out of
the loop, and held), and run time from a model that knows thin matrix products lose BLAS's
speed. Labels are sliced in ranges, the largest that fit, so that chunks stay matrix
products; each chunk is contracted in the order best for its shapes or in the whole term's
(which hoists what no sliced label indexes), so order and slicing are chosen together.
"""

from __future__ import annotations

import math

from .backends.base import Backend
from .backends.numpy import NUMPY
from .errors import MemoryBudgetError
from .ir import Node, Op
from .paths import AUTO, Optimizer, Orders
from .plan import build_plan, measure_term, term_blocks
from .printing import format_bytes
from .sop import Term, term_labels
from .steps import Plan

__all__ = ["plan_within", "Samples", "shape_key", "MAX_CHUNKS"]

# A term runs in at most this many chunks: past that, the loop's fixed costs (and the time
# to plan it) outgrow what a smaller working set saves.
MAX_CHUNKS = 4096


def plan_within(roots: tuple[Node, ...], budget: int | None, stream_results=False,
                backend: Backend = NUMPY, optimize: Optimizer = AUTO) -> Plan:
    """The fastest plan found whose peak working memory is at most `budget` bytes, each
    term's contraction ordered by `optimize`.

    Each term whose steps overflow the budget is sliced to fit in what the rest of the plan
    leaves it (its allowance), the fastest way that fits; terms run one after another, so
    they are planned independently, and the plan is rebuilt until it fits (a slicing can
    move what is alive around other terms, so a few rounds may be needed).

    Raises:
        MemoryBudgetError: no plan fits; the message names the smallest budget found that
            does, checked: planning with that budget finds a plan.
    """
    plan, best = _search(roots, budget, stream_results, backend, optimize)
    if plan is not None:
        return plan
    # the search depends on the budget: make sure the budget named is one it meets
    for _ in range(_ROUNDS):
        works, retry = _search(roots, best.peak_bytes, stream_results, backend, optimize)
        if works is not None:
            break
        best = retry
    raise MemoryBudgetError(
        f"no plan fits in max_bytes={budget:,} ({format_bytes(budget)}): the smallest plan "
        f"lazyein finds needs {best.peak_bytes:,} bytes ({format_bytes(best.peak_bytes)}) of "
        f"working memory, {_what_needs_it(best)}; pass max_bytes >= {best.peak_bytes:,}",
        best.peak_bytes)


def _search(roots, budget, stream_results, backend, optimize) -> tuple[Plan | None, Plan]:
    """A plan within `budget` (or None), and the plan with the smallest peak built."""
    plan, profile = build_plan(roots, None, stream_results, budget, backend, optimize)
    if budget is None or plan.peak_bytes <= budget:
        return plan, plan
    best = plan
    slicing: dict[tuple[Node, int], tuple] = {}
    samples = Samples(backend, optimize)
    for _ in range(_ROUNDS):
        changed = False
        for r, (total, own) in profile.worst.items():
            if total <= budget:
                continue
            node, k, term = profile.report_terms[r]
            choice = (samples.best(term, node.shape, budget - (total - own))
                      or samples.smallest(term, node.shape))
            if slicing.get((node, k)) != choice:
                slicing[node, k] = choice
                changed = True
        if not changed:
            break
        plan, profile = build_plan(roots, slicing, stream_results, budget, backend, optimize)
        if plan.peak_bytes < best.peak_bytes:
            best = plan
        if plan.peak_bytes <= budget:
            return plan, plan
    # every term at its smallest, the sums used by einsums computed first as the budget
    # allows, or never, or always: the least memory lazyein can plan for
    for lowering_budget in dict.fromkeys((budget, 0, None)):
        whole, profile = build_plan(roots, None, stream_results, lowering_budget, backend,
                                    optimize)
        smallest = {(node, k): samples.smallest(term, node.shape)
                    for node, k, term in profile.report_terms if node is not None}
        plan, _ = build_plan(roots, smallest, stream_results, lowering_budget, backend,
                             optimize)
        best = min((best, whole, plan), key=lambda p: p.peak_bytes)
    return (best if best.peak_bytes <= budget else None), best


# rebuilds of the whole plan before giving up: slicing one term rarely moves another's peak
_ROUNDS = 4


def _what_needs_it(plan: Plan) -> str:
    if plan.materialized:
        return "holding what it must compute in full (" + "; ".join(plan.materialized) + ")"
    if plan.num_chunks > 1:
        return f"with its terms sliced into {plan.num_chunks} chunks in all"
    return "which no slicing reduces"


class Samples:
    """Prices ways of slicing terms by planning each term alone, sliced (cached by shape)."""

    def __init__(self, backend: Backend = NUMPY, optimize: Optimizer = AUTO):
        self.backend = backend  # whose kernels are priced
        self.orders = Orders(optimize)  # the optimizer's orders, shared by all samples
        self.cache: dict = {}

    def measure(self, term: Term, shape, spec: tuple) -> tuple[int, float]:
        """(peak bytes, modelled seconds) of `term`, written into an array of `shape`, run
        sliced as `spec`: ``(blocks, whole_order)``, blocks as ``(rank, block)`` pairs (see
        `plan._Builder`)."""
        key = (shape_key(term), shape, spec)
        if (hit := self.cache.get(key)) is not None:
            return hit
        ranks, whole_order = spec
        orders = self.orders
        self.cache[key] = measure_term(term, shape, term_blocks(term, shape, ranks, orders),
                                       whole_order, orders, self.backend)
        return self.cache[key]

    def families(self, term: Term, labels: int):
        """Slicings of `labels` (1 or 2) labels of `term`, one family per choice of labels
        and of contraction order, each ordered from fewest chunks to most: ranges of one
        label, or of two labels cut into the same number of parts."""
        order = term_labels(term)
        ranks = [r for r, ix in enumerate(order) if term.sizes[ix] > 1]
        for whole_order in (False, True):
            if labels == 1:
                for rank in ranks:
                    n = term.sizes[order[rank]]
                    yield [(((rank, block),), whole_order) for block in _blocks(n, MAX_CHUNKS)]
                continue
            limit = math.isqrt(MAX_CHUNKS)
            for i, a in enumerate(ranks):
                for b in ranks[i + 1:]:
                    na, nb = term.sizes[order[a]], term.sizes[order[b]]
                    yield [(((a, -(-na // p)), (b, -(-nb // p))), whole_order)
                           for p in range(2, min(na, nb, limit) + 1)]

    def best(self, term: Term, shape, allowance: int) -> tuple | None:
        """The fastest slicing of `term` whose peak is at most `allowance` bytes: of one
        label if any fits, else of two."""
        for labels in (1, 2):
            found = []
            for family in self.families(term, labels):
                # peaks fall as chunks shrink: the family's best is the largest that fits
                fit = _first_fit(family,
                                 lambda spec: self.measure(term, shape, spec)[0] <= allowance)
                if fit is not None:
                    found.append((self.measure(term, shape, fit)[1], fit))
            if found:
                return min(found)[1]
        return None

    def smallest(self, term: Term, shape) -> tuple:
        """The slicing of `term` with the lowest peak (no slicing, if nothing lowers it)."""
        specs = [((), False)] + [family[-1] for labels in (1, 2)
                                 for family in self.families(term, labels) if family]
        return min(specs, key=lambda spec: self.measure(term, shape, spec))


def shape_key(term: Term) -> tuple:
    """What a term's sliced plan depends on: the same for terms alike but for their inputs'
    data (a sum of many products of equal shapes is priced once)."""
    names: dict[int, int] = {}

    def axes(ax_list):
        return tuple((ax.start, ax.steps, tuple((names.setdefault(s.label, len(names)), s.dim,
                                                 s.offset) for s in ax.subs)) for ax in ax_list)

    same: dict = {}  # which factors view one source: their views may be shared
    sources = tuple((same.setdefault(f.source, len(same)), f.source.shape, f.source.dtype.str,
                     f.source.op is Op.LEAF and f.source.arg.array.strides, axes(f.axes))
                    for f in term.factors)
    return (term.coeff, term.dtype.str, axes(term.out), sources,
            tuple(sorted((names[ix], n) for ix, n in term.sizes.items() if ix in names)))


def _blocks(n: int, limit: int) -> list[int]:
    """The distinct block sizes that cut `n` into at most `limit` ranges, largest first
    (each block the smallest giving its number of ranges)."""
    blocks = {-(-n // parts) for parts in range(1, min(n, limit) + 1)}
    return sorted(blocks, reverse=True)


def _first_fit(family, fits):
    """The first spec of `family` that `fits`, by bisection (fitting is monotone in it)."""
    lo, hi = 0, len(family) - 1
    if hi < 0 or not fits(family[hi]):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(family[mid]):
            hi = mid
        else:
            lo = mid + 1
    return family[lo]
