"""Planning (docs/architecture.md, stage 3): terms become steps, each ordered by opt_einsum."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import opt_einsum

from .backends.base import Backend, Layout, c_layout
from .backends.numpy import NUMPY
from .execute import run_steps
from .ir import Node, Op, toposort
from .lower import NESTING, Lowering
from .paths import AUTO, Optimizer, Orders
from .printing import describe_op, letters
from .signature import roots_signature
from .sop import Term, axis_labels, chunk_groups, reach, restrict, term_labels
from .steps import (
    Accumulate,
    ChunkLoop,
    Contract,
    Elementwise,
    Gemm,
    Moved,
    Plan,
    Reshape,
    TermReport,
    View,
    ViewSpec,
    Zeros,
    accumulate,
    contract,
    result_labels,
)

__all__ = ["Plan", "Profile", "TermReport", "TermProgram", "build_plan", "compile_term",
           "measure_term", "term_blocks"]


class _Builder:
    """Emits steps for terms, computing each distinct view and contraction once.

    `slicing` maps ``(node, k)`` to how the budget search slices the k-th term of `node`'s
    expansion: ``(ranks, whole_order)``, ranks ``(rank, block)`` pairs naming labels by
    `term_labels` (see `term_blocks`, which adds what windows need); the term's chunks are
    contracted one after the other and added into the value. Work a chunk shares with
    earlier ones (a product of factors the sliced labels do not index) is memoized like any
    common work, so it is hoisted out of the loop.
    `given` are computed nodes that stand in as inputs (laid out in C order), and with
    `stream_results` no root adopts a term's result: every root is a buffer written region by
    region, which the caller may supply (an `out=` memmap). `orders` finds (and keeps) each
    contraction's order with the session's optimizer.
    """

    def __init__(self, leaves: list[Node], slicing=None, given=(), stream_results=False,
                 budget: int | None = None, shared=None, backend: Backend = NUMPY,
                 orders: Orders | None = None):
        self.backend = backend
        self.slot = {leaf: i for i, leaf in enumerate(leaves)}
        self.leaves = leaves
        self.slicing = slicing or {}
        self.stream_results = stream_results
        self.roots: set[Node] = set()
        self.lowering = Lowering(budget, shared)
        self.steps = []
        self.scratch: list[int] = []  # per step: bytes it allocates besides its result
        self.owner: tuple[int | None, int] = (None, 0)  # (term report, chunk) being emitted
        self.owners: list[tuple[int | None, int]] = []
        self.seconds: list[float] = []     # per step: its modelled run time, to price plans
        self.step_flops: list[int] = []
        self.fresh_views: dict[int, tuple] = {}  # views a chunk loop moves: (axes, shape)
        self.report_terms: list[tuple] = []  # per report: (node, k, term) it reports
        # per value: its dtype, shape, the bytes its step allocates, and its memory layout
        # (to tell which reshapes copy; leaves keep their strides)
        self.dtype = [leaf.dtype for leaf in leaves]
        self.shape = [leaf.shape for leaf in leaves]
        self.alloc = [0] * len(leaves)
        self.layout: list[Layout] = [
            Layout(leaf.shape, leaf.arg.array.strides, leaf.dtype.itemsize)
            if leaf.op is Op.LEAF else c_layout(leaf.shape, leaf.dtype) for leaf in leaves]
        self.memo: dict = {}               # structural key -> value
        self.orders = orders or Orders()   # the optimizer's orders, by labels and shapes
        self.evaluated: dict[Node, int] = {node: self.slot[node] for node in given}
        self.reports: list[TermReport | None] = []
        self.flops: list[int] = []         # per report: FLOPs of the steps emitted for it
        self.materialized: list[str] = []
        self.depth = 0  # how many `evaluate` calls are under way, one inside the other

    def emit(self, make, dtype, alloc: int, shape=None, flops: int = 0) -> int:
        """Append the step ``make(value)`` that computes a new value; return the value."""
        value = len(self.dtype)
        self.dtype.append(np.dtype(dtype))
        self.shape.append(shape)
        self.alloc.append(alloc)
        step = make(value)
        if isinstance(step, View):
            self.layout.append(self.backend.view_layout(self.layout[step.src], step.spec))
            self.shape[value] = self.layout[value].shape
        elif isinstance(step, Reshape):
            view = self.backend.reshape_layout(self.layout[step.src], shape)
            self.layout.append(c_layout(shape, dtype) if view is None else view)  # copies: C
        elif isinstance(step, Elementwise):
            view = self.backend.elementwise_layout(self.layout[step.src], step.fn, dtype)
            self.layout.append(c_layout(shape, dtype) if view is None else view)
        else:
            self.layout.append(c_layout(self.shape[value], dtype))
        if isinstance(step, Contract):
            scratch = self.backend.contract_scratch(
                step, [self.layout[a] for a in step.args], [self.dtype[a] for a in step.args])
            self.push(step, scratch, _contract_seconds(step, flops) + scratch / _BANDWIDTH,
                      flops)
        else:
            self.push(step, 0, alloc / _BANDWIDTH)
        return value

    def push(self, step, scratch: int = 0, seconds: float = 0.0, flops: int = 0):
        self.steps.append(step)
        self.scratch.append(scratch)
        self.owners.append(self.owner)
        self.seconds.append(_STEP_SECONDS + seconds)
        self.step_flops.append(flops)

    def memoized(self, key, make, dtype, alloc, shape=None, flops: int = 0) -> int:
        """`emit`, unless a value with the same structural `key` exists: then that value."""
        if (hit := self.memo.get(key)) is None:
            hit = self.memo[key] = self.emit(make, dtype, alloc, shape, flops)
        return hit

    def evaluate(self, node: Node, why: str | None = None, into: str | None = None) -> int:
        """A value holding `node` computed in full; `why` says why it is not expanded, `into`
        names it in the report."""
        if (hit := self.evaluated.get(node)) is not None:
            return hit
        if self.depth >= NESTING:
            # a chain of computed nodes (10,000 products, each computed first) would recurse
            # as deep: from here on, what `node` needs is computed first, deepest first
            for source, factor in self.lowering.dependencies(
                    node, lambda n: n in self.evaluated or n in self.slot):
                self.evaluate(source, self.lowering.why_dense.get(
                    source, "it has no strided view") if factor else None)
        self.depth += 1
        try:
            return self.evaluate_now(node, why, into)
        finally:
            self.depth -= 1

    def evaluate_now(self, node: Node, why: str | None, into: str | None) -> int:
        into = into or f"computed {describe_op(node)} {list(node.shape)}"
        if why is not None:
            self.materialized.append(f"{describe_op(node)} {list(node.shape)}: {why}")
        terms = self.lowering.lower(node)
        nbytes = node.size * node.dtype.itemsize
        # slicings name labels by rank (see `term_labels`): the same in every lowering
        sliced, whole_order = [], []
        for k, t in enumerate(terms):
            ranks, whole = self.slicing.get((node, k), ((), False))
            sliced.append(term_blocks(t, node.shape, ranks, self.orders))
            whole_order.append(whole)
        if self.lowering.reshaped_whole(node, terms):
            # no split or merge of labels expresses this reshape: numpy's reshape of the
            # computed operand (or of the input itself), a view where the strides allow
            child = node.src[0]
            src = self.slot[child] if child.op is Op.LEAF else self.evaluate(child)
            copied = 0 if self.backend.reshape_layout(self.layout[src], node.shape) \
                is not None else nbytes
            self.owner = (None, 0)
            out = self.emit(lambda v: Reshape(v, src, node.shape), node.dtype, copied,
                            shape=node.shape)
        elif self.lowering.mapped_whole(node, terms):
            out = self.mapped(node)
        elif len(terms) == 1 and not sliced[0] and not (self.stream_results
                                                          and node in self.roots):
            term = terms[0]
            value, labels = self.contract_term(term, into, self.new_report(node, 0, term))
            if self.adoptable(value, labels, term, node):
                # the one term's fresh result is the value: no copy, no zeros; its axes may
                # be a split of the result's (a kron's), which a reshape merges as a view
                out = value
                if self.shape[value] != node.shape:
                    out = self.emit(lambda v: Reshape(v, value, node.shape), node.dtype, 0,
                                    shape=node.shape)
            else:
                covers = _covers(term, node.shape)
                out = self.zeros(node, fill=not covers)
                self.owner = (len(self.reports) - 1, 0)
                self.accumulate(out, value, labels, term, assign=covers)
        else:
            # the first term (its first chunk) may fill the whole buffer: it is written, not
            # added, and the buffer need not be zeroed first
            covers = bool(terms) and _covers(terms[0], node.shape, sliced[0])
            out = self.zeros(node, fill=not covers)
            for k, (term, blocks) in enumerate(zip(terms, sliced)):
                report = self.new_report(node, k, term)
                assign = covers and k == 0
                if blocks:
                    self.contract_sliced(term, blocks, out, into, report, assign, whole_order[k])
                else:
                    value, labels = self.contract_term(term, into, report)
                    self.accumulate(out, value, labels, term, assign)
        self.evaluated[node] = out
        return out

    def mapped(self, node: Node) -> int:
        """`node`'s elementwise map (conj, real, imag, astype) applied by the backend to its
        operand computed (or the input itself): a copy, or a view where the backend has one
        (numpy's real and imaginary parts)."""
        child = node.src[0]
        src = self.slot[child] if child.op is Op.LEAF else self.evaluate(child)
        fn, dtype = node.arg.fn, node.dtype
        view = self.backend.elementwise_layout(self.layout[src], fn, dtype)
        self.owner = (None, 0)
        return self.emit(lambda v: Elementwise(v, src, fn, dtype), dtype,
                         0 if view is not None else node.size * dtype.itemsize,
                         shape=node.shape)

    def contract_sliced(self, term: Term, blocks, target: int, into: str, report: int,
                        assign: bool = False, whole_order: bool = False):
        """Emit `term` chunk by chunk into `target`: for each group of chunks of one shape,
        the first chunk's steps, then a `ChunkLoop` that repeats those of them that depend
        on the sliced labels for the group's other chunks. With `assign`, the first chunk
        covers all of `target`, which is unfilled: it is copied in, not added. The rest
        (views and products of what the sliced labels do not index) runs once: it is
        hoisted out of the loop.

        Each chunk is contracted in the order best for its own shapes, or with
        `whole_order` in the order best for the whole term, which may contract first what
        no sliced label indexes: then that work is done once for all chunks."""
        sliced = {label for label, _ in blocks}
        count = 0
        for group in chunk_groups(term, blocks):
            first = restrict(term, {ix: (starts[0], starts[0] + size)
                                    for ix, (starts, size) in group.items()})
            begin = len(self.steps)
            value, labels = self.contract_term(first, into, report, count, fresh=sliced,
                                               path_sizes=term.sizes if whole_order else None)
            self.accumulate(target, value, labels, first, assign)
            assign = False
            n = math.prod(len(starts) for starts, _ in group.values())
            count += n
            if n == 1:
                continue
            per_chunk, positions, moved = set(), [], []
            for k in range(begin, len(self.steps)):
                step = self.steps[k]
                if self.owners[k][0] != report:
                    continue  # a node computed in full for a factor: once, before the loop
                if isinstance(step, View) and step.out in self.fresh_views:
                    moved.append(_moving(*self.fresh_views[step.out], first.sizes, group))
                elif isinstance(step, Accumulate) and k == len(self.steps) - 1:
                    moved.append(_moving(first.out, self.shape[target], first.sizes, group))
                elif any(v in per_chunk for v in step.reads):
                    moved.append(None)
                else:
                    continue  # hoisted: it does not depend on the chunk
                positions.append(k)
                if not isinstance(step, Accumulate):
                    per_chunk.update(step.writes)
            body = [self.steps[k] for k in positions]
            if body[-1].assign:  # later chunks add to what the first one wrote
                body[-1] = replace(body[-1], assign=False)
            loop = ChunkLoop(tuple(body), tuple(moved),
                             tuple((ix, starts) for ix, (starts, _) in group.items()),
                             positions=tuple(positions),
                             reads=tuple(dict.fromkeys(v for k in positions
                                                       for v in self.steps[k].reads
                                                       if v not in per_chunk)))
            self.flops[report] += loop.count * sum(self.step_flops[k] for k in positions)
            self.owner = (report, count - n + 1)
            self.push(loop, 0, loop.count * sum(self.seconds[k] for k in positions))
        self.reports[report] = replace(self.reports[report], num_chunks=count,
                                       sliced=_describe_blocks(term, blocks))

    def new_report(self, node: Node | None, k: int, term: Term | None = None) -> int:
        """A slot for the report of `node`'s k-th term (filled by `contract_term`)."""
        self.reports.append(None)
        self.report_terms.append((node, k, term))
        self.flops.append(0)
        return len(self.reports) - 1

    def zeros(self, node: Node, fill: bool = True) -> int:
        self.owner = (None, 0)
        return self.emit(lambda v: Zeros(v, node.shape, node.dtype, fill), node.dtype,
                         node.size * node.dtype.itemsize, shape=node.shape)

    def adoptable(self, value, labels, term: Term, node: Node) -> bool:
        """Can the contraction `value` itself be `node`'s value? Only a fresh C-ordered
        array the plan made, in `node`'s dtype, whose axes are `node`'s or a split of them
        in order, covering all of it exactly once."""
        step = self.steps[-1] if self.steps else None
        subs = [s for ax in term.out for s in ax.subs]
        return (isinstance(step, Contract) and step.out == value and term.coeff == 1
                and value not in self.evaluated.values() and self.dtype[value] == node.dtype
                and all(ax.start == 0 and ax.length == n and ax.steps is None
                        for ax, n in zip(term.out, node.shape))
                and all(s.offset == 0 and term.sizes[s.label] == s.dim for s in subs)
                and tuple(labels) == tuple(s.label for s in subs))

    def accumulate(self, target: int, value, labels, term: Term, assign=False) -> Accumulate:
        region = ViewSpec.of(term.out, self.shape[target], term.sizes)
        adopt = self.shape[target] if assign and self.adopting(target, value, term) else None
        step = accumulate(target, value, labels, term.coeff, region, term.sizes,
                          self.dtype[target], assign,
                          None if value is None else self.dtype[value], adopt)
        if step.adopt is not None and (step.perm is not None or step.expand is not None):
            step = replace(step, adopt=None)  # not laid out as the target: copied
        if step.adopt is not None:
            self.forget(value)
        moved = 3 * _bytes(region.labels, term.sizes, self.dtype[target])  # read, read, write
        scratch = self.backend.accumulate_scratch(step, self.shape[target])
        self.push(step, scratch, (moved + scratch) / _BANDWIDTH)
        return step

    def adopting(self, target: int, value, term: Term) -> bool:
        """Can the first term's contraction `value`, which covers all of `target`, become
        the target rather than be copied into it? Only a fresh C-ordered array just made, in
        the target's dtype, unscaled, that nothing else holds (no computed node is it), and
        not where the target is a buffer the caller may supply (`stream_results`)."""
        step = self.steps[-1] if self.steps else None
        return (value is not None and not self.stream_results and term.coeff == 1
                and isinstance(step, Contract) and step.out == value
                and self.dtype[value] == self.dtype[target]
                and value not in self.evaluated.values())

    def forget(self, value: int):
        """Take the adopted `value` out of the memo: the terms added into it after it
        change it, so no later term may reuse it as the contraction it was."""
        if self.memo and (last := next(reversed(self.memo.items())))[1] == value:
            del self.memo[last[0]]  # the usual case: memoized last, just now (once: a value
            return                  # is made by one step, memoized under one key)
        for key in [key for key, v in self.memo.items() if v == value]:
            del self.memo[key]

    def source(self, node: Node) -> int:
        if node.op is Op.LEAF or node in self.slot:
            return self.slot[node]
        return self.evaluate(node, self.lowering.why_dense.get(node, "it has no strided view"))

    def path(self, values, keep, sizes):
        """The optimizer's contraction order for operands with these labels, and its FLOPs;
        chunks of one size ask once."""
        return self.orders.path([ls for _, ls in values], keep, sizes)

    def contract_term(self, term: Term, into: str, report: int, chunk: int = 0, fresh=(),
                      path_sizes=None):
        """Emit the steps contracting `term`'s factors (chunk `chunk` of the term that
        `report` describes); return the value and its labels (None for a term with no
        factors: a constant). Views indexed by a label in `fresh` (a sliced term's) are
        taken anew, never shared, since a chunk loop moves them."""
        sizes = term.sizes
        values, described = [], []
        for f in term.factors:
            src = self.source(f.source)
            self.owner = (report, chunk)
            labels = tuple(dict.fromkeys(axis_labels(f.axes)))
            key = ("view", src, _relabel(f.axes, sizes))
            spec = ViewSpec.of(f.axes, self.shape[src], sizes)
            # a backend without strided views copies a diagonal or a window out
            gathered = self.backend.view_bytes(self.layout[src], spec)

            def make(value, src=src, spec=spec):
                return View(value, src, spec)
            if fresh and not fresh.isdisjoint(labels):
                view = self.emit(make, self.dtype[src], gathered)
                self.fresh_views[view] = (f.axes, self.shape[src])
            else:
                view = self.memoized(key, make, self.dtype[src], gathered)
            values.append((view, labels))
            if chunk == 0:
                described.append(_describe_factor(f, sizes, self.slot, self.backend))
        out_labels = tuple(dict.fromkeys(axis_labels(term.out)))
        in_factors = {ix for _, ls in values for ix in ls}
        keep = tuple(ix for ix in out_labels if ix in in_factors)
        path = ()
        if len(values) >= 2:
            path, _ = self.path(values, keep, path_sizes or sizes)
        elif values and set(values[0][1]) != set(keep):
            path = ((0,),)  # a single factor summed over some of its labels
        if chunk == 0:
            names: dict[int, int] = {}
            equation = ",".join(letters(names.setdefault(ix, len(names)) for ix in ls)
                                for _, ls in values)
            equation += "->" + letters(names.setdefault(ix, len(names)) for ix in keep)
            self.reports[report] = TermReport(
                into, term.coeff, equation, tuple(described), path, 0,
                letters=tuple((ix, letters([k])) for ix, k in names.items()))
        dtype = term.dtype
        self.owner = (report, chunk)
        for step in path:
            picked = [values[i] for i in step]
            for i in sorted(step, reverse=True):
                del values[i]
            rest = {ix for _, ls in values for ix in ls} | set(keep)
            if len(picked) == 2:
                (_, la), (_, lb) = picked
                # the last product is asked for the result's own order, to need no permuting
                want = keep if not values else None
                res_labels = result_labels(la, lb, rest, sizes, want)
            else:
                res_labels = tuple(ix for ix in picked[0][1] if ix in rest)
            args = tuple(v for v, _ in picked)
            arg_labels = tuple(ls for _, ls in picked)
            key = ("contract", args, _pattern(arg_labels, res_labels), dtype)
            flops = _flops(arg_labels, res_labels, sizes)
            if key not in self.memo:
                self.flops[report] += flops
            def make(value, args=args, arg_labels=arg_labels, res_labels=res_labels):
                return contract(value, args, arg_labels, res_labels, sizes, dtype)
            value = self.memoized(key, make, dtype, _bytes(res_labels, sizes, dtype),
                                  shape=tuple(sizes[ix] for ix in res_labels), flops=flops)
            values.append((value, res_labels))
        return values[0] if values else (None, ())


# A cost model to compare plans of the same maths (chunked or not), not to predict times:
# BLAS's rate on large matrix products, what it loses on thin ones, memory bandwidth for the
# rest, and a fixed cost per step of the Python loop.
_GEMM_FLOPS_PER_SECOND = 4e10
_BANDWIDTH = 8e9
_STEP_SECONDS = 3e-6



def _contract_seconds(step: Contract, flops: int) -> float:
    if not isinstance(step.form, Gemm):  # sums, broadcast products, batched dots: memory-bound
        return flops * 8 / _BANDWIDTH
    (*_, m, k), (*_, _, n) = step.form.shapes
    # BLAS needs some size along each of the three dimensions to reach its rate
    efficiency = math.prod(d / (d + 32) for d in (m, k, n))
    return flops / (_GEMM_FLOPS_PER_SECOND * efficiency)


def _flops(arg_labels, result, sizes) -> int:
    """opt_einsum's count for one contraction: each multiply-add of a sum is two FLOPs."""
    labels = set().union(*map(set, arg_labels))
    inner = bool(labels - set(result))
    return opt_einsum.helpers.flop_count(labels, inner, len(arg_labels), sizes)


def _moving(axes, shape, sizes, group):
    """What a chunk loop needs to move a view of a group's first chunk to each chunk: the
    view over every chunk of the group (labels over their whole extent), and per sliced
    label, its axis in that view and its size in a chunk."""
    extent = {ix: starts[-1] - starts[0] + size for ix, (starts, size) in group.items()}
    whole = ViewSpec.of(axes, shape, {**sizes, **extent})
    return Moved(whole, tuple((whole.labels.index(ix), ix, size)
                              for ix, (_, size) in group.items() if ix in whole.labels))


def term_blocks(term: Term, shape, ranks=(), orders=None) -> tuple[tuple[int, int], ...]:
    """The ``(label, block)`` pairs `term` (written into an array of `shape`) is sliced by:
    those a window in its output needs, then the budget's `ranks` (``(rank, block)`` pairs,
    see `term_labels`) or, without them, a window's kernel offsets one at a time where one
    matrix product per offset is modelled faster than copying the patches out for one."""
    blocks = dict(_overlapping(term))
    if ranks:
        order = term_labels(term)
        for rank, block in ranks:
            blocks.setdefault(order[rank], block)
    elif offsets := _window_offsets(term):
        apart = measure_term(term, shape, tuple({**blocks, **offsets}.items()),
                             orders=orders)
        together = measure_term(term, shape, tuple(blocks.items()), orders=orders)
        if apart[1] < together[1]:
            blocks.update(offsets)
    return tuple(blocks.items())


def _window_offsets(term: Term) -> dict[int, int]:
    """A contracted window's summed labels (a convolution's kernel offsets), one at a time."""
    if len(term.factors) < 2:
        return {}
    kept = set(axis_labels(term.out))
    return {s.label: 1 for f in term.factors for ax in f.axes
            if ax.steps is not None and len(ax.subs) > 1  # (one label: a flip, a step)
            for s in ax.subs if s.label not in kept and term.sizes[s.label] > 1}


def _overlapping(term: Term) -> dict[int, int]:
    """A window in the output (``x = u + a``, a transposed convolution) whose labels are
    not each fixed by another output axis maps several products to one place: all but its
    largest such label run one value at a time, so that each chunk adds through a view that
    does not overlap itself."""
    blocks: dict[int, int] = {}
    for i, ax in enumerate(term.out):
        if ax.steps is None:
            continue
        # only a plain axis fixes a label: two windows sharing one (x = u + a, y = u + b,
        # a convolution's Gram matrix) still map several products to one place
        elsewhere = {s.label for j, o in enumerate(term.out) if j != i and o.steps is None
                     for s in o.subs}
        free = sorted((s.label for s in ax.subs if s.label not in elsewhere),
                      key=term.sizes.__getitem__)
        blocks.update((label, 1) for label in free[:-1] if term.sizes[label] > 1)
    return blocks


def measure_term(term: Term, shape, blocks=(), whole_order=False, orders=None,
                 backend: Backend = NUMPY):
    """``(peak bytes, modelled seconds)`` of `term` planned alone, sliced by `blocks`, added
    into an array of `shape` (which is not counted): how the budget search and the choice
    of a window's form price a term."""
    builder, program = _alone(term, shape, term.dtype, blocks, whole_order, orders, adopt=False,
                              backend=backend)
    return program.peak_bytes, sum(builder.seconds)


@dataclass(frozen=True, eq=False)
class TermProgram:
    """One term compiled on its own: called with its sources' arrays (in the order of first
    appearance among its factors), it returns a new array of `shape` holding
    ``coeff * einsum(...)`` placed as the term's `out` says (zeros elsewhere). How a dask task
    computes its block of a term; `peak_bytes` is its working memory besides that array.
    It holds no node or array (it is pickled into every task that runs it)."""

    num_sources: int
    num_values: int
    steps: tuple
    frees: tuple
    target: int
    peak_bytes: int

    def __call__(self, *arrays: np.ndarray) -> np.ndarray:
        env = list(arrays) + [None] * (self.num_values - len(arrays))
        run_steps(self.steps, self.frees, env, NUMPY, owner=self)
        return env[self.target]


def compile_term(term: Term, shape, dtype, blocks=(), whole_order=False,
                 orders=None) -> TermProgram:
    """`term` as a `TermProgram` writing into a new array of `shape` and `dtype`, sliced by
    `blocks` (see `term_blocks`) when given."""
    return _alone(term, shape, dtype, blocks, whole_order, orders, adopt=True)[1]


def _alone(term: Term, shape, dtype, blocks, whole_order, orders, adopt: bool,
           backend: Backend = NUMPY):
    """A builder with `term` emitted alone into an array of `shape`, and its program. With
    `adopt`, a product that is that whole array is returned as it is (a term priced for a
    sum of terms is never adopted: its product is added into the sum, and held till then)."""
    sources = list(dict.fromkeys(f.source for f in term.factors))
    builder = _Builder(sources, given=[s for s in sources if s.op is not Op.LEAF],
                       backend=backend, orders=orders)
    shape, dtype = tuple(shape), np.dtype(dtype)
    report = builder.new_report(None, 0)
    if blocks:
        covers = _covers(term, shape, tuple(blocks))
        target = builder.zeros(_Shaped(shape, dtype), fill=not covers)
        builder.contract_sliced(term, tuple(blocks), target, "", report, covers, whole_order)
    else:
        value, labels = builder.contract_term(term, "", report)
        if adopt and builder.adoptable(value, labels, term, _Shaped(shape, dtype)):
            target = value  # the product itself is the array asked for: no copy into one
            if builder.shape[value] != shape:
                target = builder.emit(lambda v: Reshape(v, value, shape), dtype, 0, shape=shape)
        else:
            covers = _covers(term, shape)
            target = builder.zeros(_Shaped(shape, dtype), fill=not covers)
            builder.accumulate(target, value, labels, term, assign=covers)
    # the array written into is the caller's result, not working memory: not counted
    builder.alloc[target] = 0
    frees, kept = _lifetimes(builder.steps, (target,), len(sources))
    _close_loops(builder, frees)
    program = TermProgram(len(sources), len(builder.dtype), tuple(builder.steps),
                          tuple(tuple(f) for f in frees), target,
                          _peak_bytes(builder, frees, kept)[0])
    return builder, program


class _Shaped(NamedTuple):
    """The shape and dtype a term alone is written into (a node's, for `_Builder.zeros`)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _covers(term: Term, shape, blocks=()) -> bool:
    """Does the first write of `term` (its first chunk, sliced by `blocks`) cover all of an
    array of `shape`? Then that array need not be zeroed first: the write copies."""
    if blocks:
        group = next(chunk_groups(term, blocks))
        term = restrict(term, {ix: (starts[0], starts[0] + size)
                               for ix, (starts, size) in group.items()})
    spec = ViewSpec.of(term.out, shape, term.sizes)
    # a split of the array's axes (a kron's result written as its factors' axes) is all of it
    return spec.index is None and spec.trims is None and spec.diagonal is None and \
        spec.window is None


def _describe_blocks(term: Term, blocks) -> tuple[str, ...]:
    """'a (kept, 1500) in 5 chunks of 300': for each sliced label, as the equation names it."""
    order, described = term_labels(term), []
    for label, block in blocks:
        n = term.sizes[label]
        where = "kept" if label in axis_labels(term.out) else "summed"
        described.append(f"{letters([order.index(label)])} ({where}, {n}) in "
                         f"{-(-n // block)} chunks of {block}")
    return tuple(described)


def _bytes(labels, sizes, dtype) -> int:
    return math.prod(sizes[ix] for ix in labels) * np.dtype(dtype).itemsize


def _relabel(axes, sizes):
    """`axes` with labels numbered by first appearance: equal for views equal up to names."""
    names: dict[int, int] = {}
    return tuple((ax.start, ax.steps, tuple((names.setdefault(s.label, len(names)), s.dim,
                                             s.offset, sizes[s.label]) for s in ax.subs))
                 for ax in axes)


def _pattern(label_lists, result) -> tuple:
    names: dict[int, int] = {}
    return tuple(tuple(names.setdefault(ix, len(names)) for ix in ls)
                 for ls in (*label_lists, result))


def _describe_factor(f, sizes, slot: dict, backend: Backend) -> str:
    src = f.source  # `slot` numbers the inputs (a dict: a sum of 100,000 inputs names each)
    name = (src.arg.name or f"input {slot[src]}") if src.op is Op.LEAF else \
        f"computed {describe_op(src)}"
    how = []
    for ax, n in zip(f.axes, src.shape):
        if not ax.subs:
            how.append(f"index {ax.start}")
        elif ax.steps is not None and len(ax.subs) == 1:
            if reach(ax, sizes) != (0, n):
                how.append("slice")
        elif ax.start or ax.length != n or any(s.offset or sizes[s.label] != s.dim
                                               for s in ax.subs):
            how.append("slice")
        if ax.steps is not None and len(ax.subs) == 1:  # an index's step, or a flip
            how.append("reversed" if ax.steps[0] < 0 else "strided")
        elif ax.steps is not None:
            how.append("window")
        elif len(ax.subs) > 1:
            how.append("split")
    if len(set(axis_labels(f.axes))) != len(axis_labels(f.axes)):
        how.append("diagonal")
    if not backend.strided_views and {"window", "diagonal", "reversed", "strided"} & set(how):
        how.append(f"gathered into a copy ({backend.name} has no strided views)")
    return f"{name} {list(src.shape)}" + (f" viewed by {', '.join(dict.fromkeys(how))}"
                                          if how else "")


@dataclass(frozen=True)
class Profile:
    """For the budget search: per term report, ``(total, own)`` at the worst moment of its
    steps (see `_peak_bytes`), and the term each report reports."""

    worst: dict
    report_terms: tuple      # per report: (node, k, term), the k-th term of node's expansion


def build_plan(roots: tuple[Node, ...], slicing=None, stream_results=False,
               budget: int | None = None, backend: Backend = NUMPY,
               optimize: Optimizer = AUTO) -> tuple[Plan, Profile]:
    """Lower `roots`, emit the steps that compute them (slicing terms as `slicing` says, see
    `_Builder`), and account for their memory: the plan, and its profile for the budget
    search. `budget` bounds the sums computed first (see `Lowering`); `optimize` orders each
    term's contraction."""
    found = roots_signature(roots)  # (its inputs are the leaves in order, walk or not)
    leaves = list(found[1]) if found is not None else \
        [n for n in toposort(*roots) if n.op is Op.LEAF]
    builder = _Builder(leaves, slicing, stream_results=stream_results, budget=budget,
                       backend=backend, orders=Orders(optimize))
    builder.lowering.share(roots)
    builder.roots = set(roots)
    outputs = tuple(builder.evaluate(r, into=f"result {k}") for k, r in enumerate(roots))
    frees, kept = _lifetimes(builder.steps, outputs, len(leaves))
    _close_loops(builder, frees)
    peak, worst = _peak_bytes(builder, frees, kept)
    builder.layout.clear()  # the layouts hold template leaves' strides only, but drop them
    reports = tuple(replace(r, flops=f) for r, f in zip(builder.reports, builder.flops))
    plan = Plan(num_leaves=len(leaves), num_values=len(builder.dtype),
                steps=tuple(builder.steps), frees=tuple(tuple(f) for f in frees),
                outputs=outputs, terms=reports, materialized=tuple(builder.materialized),
                flops=sum(builder.flops), peak_bytes=peak,
                num_chunks=max(1, sum(r.num_chunks for r in reports if r.num_chunks > 1)),
                leaf_names=tuple(_leaf_name(leaf, i) for i, leaf in enumerate(leaves)),
                step_terms=tuple(t for t, _ in builder.owners),
                step_chunks=tuple(c for _, c in builder.owners),
                value_bytes=tuple(builder.alloc), step_scratch=tuple(builder.scratch),
                step_flops=tuple(builder.step_flops), backend=backend.name,
                optimizer=optimize.describe())
    return plan, Profile(worst, tuple(builder.report_terms))


def _close_loops(builder: _Builder, frees):
    """Finish each chunk loop's record once lifetimes are known: the drops of its first
    chunk's steps, and the most bytes one chunk holds (also the loop step's scratch)."""
    for k, loop in enumerate(builder.steps):
        if not isinstance(loop, ChunkLoop):
            continue
        outs = {v for i in loop.positions for v in builder.steps[i].makes}
        loop_frees = tuple(tuple(v for v in frees[i] if v in outs) for i in loop.positions)
        live = peak = 0
        for i, dead in zip(loop.positions, loop_frees):
            made = sum(builder.alloc[v] for v in builder.steps[i].makes)
            peak = max(peak, live + made + builder.scratch[i])
            live += made - sum(builder.alloc[v] for v in dead)
        builder.scratch[k] = peak
        builder.steps[k] = replace(loop, frees=loop_frees, peak=peak)


def _leaf_name(leaf: Node, slot: int) -> str:
    if leaf.arg.weak:  # a Python scalar of the expression
        return f"scalar {leaf.arg.array[()]!r}"
    return leaf.arg.name or f"input {slot}"


def _lifetimes(steps, outputs, num_leaves):
    """After which step each computed value can be dropped, and the values never dropped
    (the results, and what they view)."""
    last_use: dict[int, int] = {}
    for k, step in enumerate(steps):
        for v in step.reads:
            last_use[v] = k
    # a view keeps what it views alive: its source lives as long as the view does
    kept = set(outputs)
    for k in reversed(range(len(steps))):
        step = steps[k]
        for src in step.aliases:
            (out,) = step.makes
            last_use[src] = max(last_use[src], last_use.get(out, k))
            if out in kept:
                kept.add(src)
    frees = [[] for _ in steps]
    for v, k in last_use.items():
        if v >= num_leaves and v not in kept:
            frees[k].append(v)
    return frees, kept


def _peak_bytes(builder: _Builder, frees, kept) -> tuple[int, dict]:
    """Most bytes alive at once, results excluded: values the plan holds, plus each step's
    scratch (copies matmul needs for operands no reshape can view, sums taken first, a scaled
    term before it is added).

    Also, per term report, the worst moment while its steps run: ``(total, own)``, the bytes
    alive then and the part of them its own steps made (the rest it cannot shrink)."""
    live, peak = 0, 0
    own: dict = {}        # report -> bytes alive that its steps made
    made_by: dict = {}    # value -> the report whose step made it
    worst: dict = {}      # report -> (total, own) at its steps' peak
    for k, (step, scratch, dead) in enumerate(zip(builder.steps, builder.scratch, frees)):
        out = step.makes[0] if step.makes else None  # a step makes one value at most
        made = builder.alloc[out] if out is not None and out not in kept else 0
        report = builder.owners[k][0]
        total = live + made + scratch
        peak = max(peak, total)
        if report is not None and total > worst.get(report, (-1, 0))[0]:
            worst[report] = (total, own.get(report, 0) + made + scratch)
        if made:
            made_by[out] = report
            own[report] = own.get(report, 0) + made
        live += made
        for v in dead:
            if (nbytes := builder.alloc[v]) and v in made_by:
                live -= nbytes
                own[made_by[v]] -= nbytes
    return peak, worst
