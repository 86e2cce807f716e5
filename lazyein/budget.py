"""Planning within `max_bytes` (DESIGN.md stage 3): slice the terms whose work does not fit.

A term sliced along a label runs in chunks, each a smaller copy of the same contraction: a
kept label's chunks write disjoint regions of the output, a summed label's chunks add partial
sums into it. The search prices each way of slicing a term by planning that term alone, sliced:
peak bytes exactly as the full plan will count them (work the chunks share is hoisted out of
the loop, and held), and run time from a model that knows thin matrix products lose BLAS's
speed. Labels are sliced in ranges, the largest that fit,
so that chunks stay matrix products; the contraction order is chosen for the chunk's
shapes, so order and slicing are chosen together.
"""

from __future__ import annotations

import math

from .errors import MemoryBudgetError
from .ir import Node, Op
from .plan import Plan, _build, _Builder, _close_loops, _lifetimes, _peak_bytes
from .printing import format_bytes
from .sop import Term, term_labels

__all__ = ["plan_within", "MAX_CHUNKS"]

# A term runs in at most this many chunks: past that, the loop's fixed costs (and the time
# to plan it) outgrow what a smaller working set saves.
MAX_CHUNKS = 4096


def plan_within(roots: tuple[Node, ...], budget: int | None, stream_results=False) -> Plan:
    """The fastest plan found whose peak working memory is at most `budget` bytes.

    Raises:
        MemoryBudgetError: no plan fits; the message names the smallest budget that does.
    """
    plan, profile = _build(roots, None, stream_results, budget)
    if budget is None or plan.peak_bytes <= budget:
        return plan
    slicing: dict[tuple[Node, int], tuple] = {}
    samples = _Samples()
    stuck = False
    for _ in range(4 + 4 * len(profile.report_terms)):
        owners = [r for r in profile.by_report if r is not None and profile.by_report[r]]
        if not owners:
            stuck = True  # what fills the peak belongs to no term: results of sub-expressions
            break
        owner = max(owners, key=profile.by_report.get)
        node, k, term = profile.report_terms[owner]
        outside = plan.peak_bytes - profile.by_report[owner]
        choice = samples.best(term, budget - outside)
        if choice is None or choice == slicing.get((node, k)):
            stuck = True
            slicing[node, k] = samples.smallest(term)
            plan, profile = _build(roots, slicing, stream_results, budget)
            break
        slicing[node, k] = choice
        plan, profile = _build(roots, slicing, stream_results, budget)
        if plan.peak_bytes <= budget:
            return plan
    if not stuck:  # out of rounds: the most sliced form of every term that does not fit
        for r, (node, k, term) in enumerate(profile.report_terms):
            if profile.by_report.get(r):
                slicing[node, k] = samples.smallest(term)
        plan, profile = _build(roots, slicing, stream_results, budget)
    if plan.peak_bytes <= budget:
        return plan
    raise MemoryBudgetError(
        f"no plan fits in max_bytes={budget:,} ({format_bytes(budget)}): the smallest plan "
        f"lazyein finds needs {plan.peak_bytes:,} bytes ({format_bytes(plan.peak_bytes)}) of "
        f"working memory, {_what_needs_it(plan)}; pass max_bytes >= {plan.peak_bytes:,}",
        plan.peak_bytes)


def _what_needs_it(plan: Plan) -> str:
    if plan.materialized:
        return "holding what it must compute in full (" + "; ".join(plan.materialized) + ")"
    if plan.num_chunks > 1:
        return f"with its terms sliced into {plan.num_chunks} chunks in all"
    return "which no slicing reduces"


class _Samples:
    """Prices ways of slicing terms by planning a sample of their chunks."""

    def __init__(self):
        self.paths: dict = {}   # opt_einsum's orders, shared by all samples
        self.cache: dict = {}

    def measure(self, term: Term, spec: tuple) -> tuple[int, float]:
        """(peak bytes, modelled seconds) of `term` run sliced as `spec` (ranks, blocks)."""
        key = (id(term), spec)
        if (hit := self.cache.get(key)) is not None:
            return hit
        order = term_labels(term)
        blocks = tuple((order[rank], block) for rank, block in spec)
        sources = list(dict.fromkeys(f.source for f in term.factors))
        builder = _Builder(sources, given=[s for s in sources if s.op is not Op.LEAF])
        builder.paths = self.paths
        shape = tuple(ax.start + ax.length for ax in term.out)  # the target is not counted
        target = builder.emit(lambda v: _Target(v), term.dtype, 0, shape=shape)
        report = builder.new_report(None, 0)
        if blocks:
            builder.contract_sliced(term, blocks, target, "", report)
        else:
            value, labels = builder.contract_term(term, "", report)
            builder.accumulate(target, value, labels, term)
        frees, kept = _lifetimes(builder.steps, (target,), len(sources))
        _close_loops(builder, frees)
        peak = _peak_bytes(builder, frees, kept)[0]
        seconds = sum(builder.seconds)
        self.cache[key] = (peak, seconds)
        return peak, seconds

    def families(self, term: Term, labels: int):
        """Slicings of `labels` (1 or 2) labels of `term`, one family per choice of labels,
        each ordered from fewest chunks to most: ranges of one label, or of two labels cut
        into the same number of parts."""
        order = term_labels(term)
        ranks = [r for r, ix in enumerate(order) if term.sizes[ix] > 1]
        if labels == 1:
            for rank in ranks:
                n = term.sizes[order[rank]]
                yield [((rank, block),) for block in _blocks(n, MAX_CHUNKS)]
            return
        limit = math.isqrt(MAX_CHUNKS)
        for i, a in enumerate(ranks):
            for b in ranks[i + 1:]:
                na, nb = term.sizes[order[a]], term.sizes[order[b]]
                parts = range(2, min(na, nb, limit) + 1)
                yield [((a, -(-na // p)), (b, -(-nb // p))) for p in parts]

    def best(self, term: Term, allowance: int) -> tuple | None:
        """The fastest slicing of `term` whose sample peaks at most `allowance` bytes: of
        one label if any fits, else of two."""
        for labels in (1, 2):
            found = []
            for family in self.families(term, labels):
                # peaks fall as chunks shrink: the family's best is the largest that fits
                fit = _first_fit(family, lambda spec: self.measure(term, spec)[0] <= allowance)
                if fit is not None:
                    found.append((self.measure(term, fit)[1], fit))
            if found:
                return min(found)[1]
        return None

    def smallest(self, term: Term) -> tuple:
        """The slicing of `term` with the lowest peak."""
        specs = [family[-1] for labels in (1, 2) for family in self.families(term, labels)
                 if family]
        return min(specs, key=lambda spec: self.measure(term, spec)) if specs else ()


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


class _Target:
    """The buffer a sampled term adds into: outside the term's working memory."""

    def __init__(self, out):
        self.out = out
