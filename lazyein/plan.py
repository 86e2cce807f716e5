"""Planning (DESIGN.md stage 3): terms become steps, each term's order chosen by opt_einsum."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import opt_einsum

from .execute import Accumulate, Contract, Reshape, View, ViewRecipe, Zeros, layout, result_labels
from .ir import Node, Op, toposort
from .lower import Lowering
from .printing import describe_op, format_bytes, letters
from .sop import Term, axis_labels

__all__ = ["Plan", "TermReport", "build_plan"]


@dataclass(frozen=True)
class TermReport:
    """What one term of the expansion costs, for `explain()`."""

    into: str                # the result (or computed node) the term adds into
    coeff: complex
    equation: str            # the term's contraction as an einsum equation
    factors: tuple[str, ...]  # what each factor views
    path: tuple[tuple[int, ...], ...]
    flops: int
    num_chunks: int = 1
    sliced: tuple[str, ...] = ()  # per sliced label: its letter, size, block and chunk count


@dataclass(frozen=True)
class Plan:
    """A schedule of steps over a value table: leaves first, then everything computed.

    ``str(plan)`` is a readable report; `flops`, `peak_bytes`, `num_terms` and `num_chunks`
    summarize it.
    """

    num_leaves: int
    num_values: int
    steps: tuple
    frees: tuple[tuple[int, ...], ...]
    outputs: tuple[int, ...]
    terms: tuple[TermReport, ...]
    materialized: tuple[str, ...]
    flops: int
    peak_bytes: int
    num_chunks: int = 1
    leaf_names: tuple[str, ...] = field(default=(), compare=False)
    # per step: the index in `terms` of the term it works for (None: zeros of a result, a
    # reshape of a computed node) and which chunk of that term
    step_terms: tuple[int | None, ...] = field(default=(), compare=False)
    step_chunks: tuple[int, ...] = field(default=(), compare=False)

    @property
    def num_terms(self) -> int:
        return len(self.terms)

    def __str__(self) -> str:
        lines = [f"lazyein plan: {self.num_terms} term(s), {self.flops:,} FLOPs, "
                 f"peak working memory ~{format_bytes(self.peak_bytes)}, "
                 f"{self.num_chunks} chunk(s)"]
        if self.leaf_names:
            lines.append("inputs: " + ", ".join(self.leaf_names))
        for k, t in enumerate(self.terms):
            lines.append(f"term {k}: {_coeff(t.coeff)}einsum('{t.equation}')  "
                         f"{t.flops:,} FLOPs, into {t.into}")
            for j, what in enumerate(t.factors):
                lines.append(f"    factor {j}: {what}")
            if len(t.path) > 1 or (t.path and len(t.path[0]) > 1):
                lines.append(f"    contraction order: {list(t.path)}")
        for what in self.materialized:
            lines.append(f"materialized: {what}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<Plan {self.num_terms} terms, {self.flops:,} FLOPs, "
                f"peak ~{format_bytes(self.peak_bytes)}>")


def _coeff(c) -> str:
    return "" if c == 1 else f"{c!r} * "


class _Builder:
    """Emits steps for terms, computing each distinct view and contraction once."""

    def __init__(self, leaves: list[Node]):
        self.slot = {leaf: i for i, leaf in enumerate(leaves)}
        self.leaves = leaves
        self.lowering = Lowering()
        self.steps = []
        self.scratch: list[int] = []  # per step: bytes it allocates besides its result
        self.owner: tuple[int | None, int] = (None, 0)  # (term report, chunk) being emitted
        self.owners: list[tuple[int | None, int]] = []
        # per value: its dtype, shape, the bytes its step allocates, and its memory layout
        # (to tell which reshapes copy; leaves keep their strides)
        self.dtype = [leaf.dtype for leaf in leaves]
        self.shape = [leaf.shape for leaf in leaves]
        self.alloc = [0] * len(leaves)
        self.layout = [layout(leaf.shape, leaf.dtype, leaf.arg.array.strides) for leaf in leaves]
        self.memo: dict = {}               # structural key -> value
        self.evaluated: dict[Node, int] = {}
        self.reports: list[TermReport] = []
        self.materialized: list[str] = []

    def emit(self, make, dtype, alloc: int, shape=None) -> int:
        """Append the step ``make(value)`` that computes a new value; return the value."""
        value = len(self.dtype)
        self.dtype.append(np.dtype(dtype))
        self.shape.append(shape)
        self.alloc.append(alloc)
        step = make(value)
        if isinstance(step, View):
            self.layout.append(step.recipe(self.layout[step.src]))
            self.shape[value] = self.layout[value].shape
        elif isinstance(step, Reshape):
            view = _reshaped(self.layout[step.src], shape)
            self.layout.append(layout(shape, dtype) if view is None else view)  # copies are C
        else:
            self.layout.append(layout(self.shape[value], dtype))
        self.push(step, step.scratch_bytes(*(self.layout[a] for a in step.args))
                  if isinstance(step, Contract) else 0)
        return value

    def push(self, step, scratch: int = 0):
        self.steps.append(step)
        self.scratch.append(scratch)
        self.owners.append(self.owner)

    def memoized(self, key, make, dtype, alloc, shape=None) -> int:
        """`emit`, unless a value with the same structural `key` exists: then that value."""
        if (hit := self.memo.get(key)) is None:
            hit = self.memo[key] = self.emit(make, dtype, alloc, shape)
        return hit

    def evaluate(self, node: Node, why: str | None = None, into: str | None = None) -> int:
        """A value holding `node` computed in full; `why` says why it is not expanded, `into`
        names it in the report."""
        if (hit := self.evaluated.get(node)) is not None:
            return hit
        into = into or f"computed {describe_op(node)} {list(node.shape)}"
        if why is not None:
            self.materialized.append(f"{describe_op(node)} {list(node.shape)}: {why}")
        terms = self.lowering.lower(node)
        nbytes = node.size * node.dtype.itemsize
        if node.op is Op.RESHAPE and any(f.source is node for t in terms for f in t.factors):
            # no split or merge of labels expresses this reshape: numpy's reshape of the
            # computed operand (or of the input itself), a view where the strides allow
            child = node.src[0]
            src = self.slot[child] if child.op is Op.LEAF else self.evaluate(child)
            copied = 0 if _reshaped(self.layout[src], node.shape) is not None else nbytes
            self.owner = (None, 0)
            out = self.emit(lambda v: Reshape(v, src, node.shape), node.dtype, copied,
                            shape=node.shape)
        elif len(terms) == 1:
            term = terms[0]
            value, labels = self.contract_term(term, into)
            if self.adoptable(value, labels, term, node):
                # the one term's fresh result is the value: no copy, no zeros; its axes may
                # be a split of the result's (a kron's), which a reshape merges as a view
                out = value
                if self.shape[value] != node.shape:
                    out = self.emit(lambda v: Reshape(v, value, node.shape), node.dtype, 0,
                                    shape=node.shape)
            else:
                out = self.zeros(node)
                self.accumulate(out, value, labels, term)
        else:
            out = self.zeros(node)
            for term in terms:
                value, labels = self.contract_term(term, into)
                self.accumulate(out, value, labels, term)
        self.evaluated[node] = out
        return out

    def zeros(self, node: Node) -> int:
        self.owner = (None, 0)
        return self.emit(lambda v: Zeros(v, node.shape, node.dtype), node.dtype,
                         node.size * node.dtype.itemsize, shape=node.shape)

    def adoptable(self, value, labels, term: Term, node: Node) -> bool:
        """Can the contraction `value` itself be `node`'s value? Only a fresh C-ordered
        array the plan made, in `node`'s dtype, whose axes are `node`'s or a split of them
        in order, covering all of it exactly once."""
        step = self.steps[-1] if self.steps else None
        subs = [s for ax in term.out for s in ax.subs]
        return (isinstance(step, Contract) and step.out == value and term.coeff == 1
                and value not in self.evaluated.values() and self.dtype[value] == node.dtype
                and all(ax.start == 0 and ax.length == n for ax, n in zip(term.out, node.shape))
                and all(s.offset == 0 and term.sizes[s.label] == s.dim for s in subs)
                and tuple(labels) == tuple(s.label for s in subs))

    def accumulate(self, target: int, value, labels, term: Term):
        region = ViewRecipe(term.out, self.shape[target], term.sizes)
        step = Accumulate(target, value, labels, term.coeff, region, term.sizes,
                          self.dtype[target])
        self.push(step, step.scratch)

    def source(self, node: Node) -> int:
        if node.op is Op.LEAF:
            return self.slot[node]
        return self.evaluate(node, self.lowering.why_dense.get(node, "it has no strided view"))

    def contract_term(self, term: Term, into: str):
        """Emit the steps contracting `term`'s factors; return the value and its labels
        (None for a term with no factors: a constant)."""
        sizes = term.sizes
        values, described = [], []
        report = len(self.reports)
        self.reports.append(None)  # filled in below, after any term a factor needs first
        for f in term.factors:
            src = self.source(f.source)
            self.owner = (report, 0)
            labels = tuple(dict.fromkeys(axis_labels(f.axes)))
            key = ("view", src, _relabel(f.axes, sizes))
            recipe = ViewRecipe(f.axes, self.shape[src], sizes)
            view = self.memoized(key, partial(View, src=src, recipe=recipe), self.dtype[src], 0)
            values.append((view, labels))
            described.append(_describe_factor(f, self.leaves))
        out_labels = tuple(dict.fromkeys(axis_labels(term.out)))
        in_factors = {ix for _, ls in values for ix in ls}
        keep = tuple(ix for ix in out_labels if ix in in_factors)
        names: dict[int, int] = {}
        equation = ",".join(letters(names.setdefault(ix, len(names)) for ix in ls)
                            for _, ls in values)
        equation += "->" + letters(names.setdefault(ix, len(names)) for ix in keep)
        flops, path = 0, ()
        if len(values) >= 2:
            shapes = [tuple(sizes[ix] for ix in ls) for _, ls in values]
            eq = ",".join(_symbols(ls) for _, ls in values) + "->" + _symbols(keep)
            path, info = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="auto")
            flops = int(info.opt_cost)
        elif values and set(values[0][1]) != set(keep):
            path = ((0,),)  # a single factor summed over some of its labels
        dtype = term.dtype
        self.owner = (report, 0)
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
            make = partial(Contract, args=args, labels=arg_labels, result=res_labels,
                           sizes=sizes, dtype=dtype)
            value = self.memoized(key, make, dtype, _bytes(res_labels, sizes, dtype),
                                  shape=tuple(sizes[ix] for ix in res_labels))
            values.append((value, res_labels))
        self.reports[report] = TermReport(into, term.coeff, equation, tuple(described),
                                          tuple(path), flops)
        return values[0] if values else (None, ())


def _reshaped(array_layout: np.ndarray, shape):
    """`array_layout` reshaped as a view, or None where numpy's reshape would copy."""
    try:
        return np.reshape(array_layout, shape, copy=False)
    except ValueError:
        return None


def _symbols(labels) -> str:
    return "".join(opt_einsum.get_symbol(i) for i in labels)


def _bytes(labels, sizes, dtype) -> int:
    return math.prod(sizes[ix] for ix in labels) * np.dtype(dtype).itemsize


def _relabel(axes, sizes):
    """`axes` with labels numbered by first appearance: equal for views equal up to names."""
    names: dict[int, int] = {}
    return tuple((ax.start, tuple((names.setdefault(s.label, len(names)), s.dim, s.offset,
                                   sizes[s.label]) for s in ax.subs)) for ax in axes)


def _pattern(label_lists, result) -> tuple:
    names: dict[int, int] = {}
    return tuple(tuple(names.setdefault(ix, len(names)) for ix in ls)
                 for ls in (*label_lists, result))


def _describe_factor(f, leaves) -> str:
    src = f.source
    name = (src.arg.name or f"input {leaves.index(src)}") if src.op is Op.LEAF else \
        f"computed {describe_op(src)}"
    how = []
    for ax, n in zip(f.axes, src.shape):
        if not ax.subs:
            how.append(f"index {ax.start}")
        elif ax.start or ax.length != n or any(s.offset for s in ax.subs):
            how.append("slice")
        if len(ax.subs) > 1:
            how.append("split")
    if len(set(axis_labels(f.axes))) != len(axis_labels(f.axes)):
        how.append("diagonal")
    return f"{name} {list(src.shape)}" + (f" viewed by {', '.join(dict.fromkeys(how))}"
                                          if how else "")


def build_plan(roots: tuple[Node, ...]) -> Plan:
    """Lower `roots`, emit the steps that compute them, and account for their memory."""
    leaves = [n for n in toposort(*roots) if n.op is Op.LEAF]
    builder = _Builder(leaves)
    outputs = tuple(builder.evaluate(r, into=f"result {k}") for k, r in enumerate(roots))
    steps = builder.steps
    last_use: dict[int, int] = {}
    for k, step in enumerate(steps):
        for v in _reads(step):
            last_use[v] = k
    # a view keeps what it views alive: its source lives as long as the view does
    kept = set(outputs)
    for k in reversed(range(len(steps))):
        step = steps[k]
        if isinstance(step, (View, Reshape)):
            last_use[step.src] = max(last_use[step.src], last_use.get(step.out, k))
            if step.out in kept:
                kept.add(step.src)
    frees = [[] for _ in steps]
    for v, k in last_use.items():
        if v >= len(leaves) and v not in kept:
            frees[k].append(v)
    peak = _peak_bytes(steps, frees, builder, kept)
    builder.layout.clear()  # the layouts hold template leaves' strides only, but drop them
    return Plan(num_leaves=len(leaves), num_values=len(builder.dtype), steps=tuple(steps),
                frees=tuple(tuple(f) for f in frees), outputs=outputs,
                terms=tuple(builder.reports), materialized=tuple(builder.materialized),
                flops=sum(t.flops for t in builder.reports),
                peak_bytes=peak,
                leaf_names=tuple(leaf.arg.name or f"input {i}" for i, leaf in enumerate(leaves)
                                 if not leaf.arg.weak),
                step_terms=tuple(t for t, _ in builder.owners),
                step_chunks=tuple(c for _, c in builder.owners))


def _reads(step) -> tuple[int, ...]:
    if isinstance(step, (View, Reshape)):
        return (step.src,)
    if isinstance(step, Contract):
        return step.args
    if isinstance(step, Accumulate):
        return (step.target,) if step.src is None else (step.target, step.src)
    return ()


def _peak_bytes(steps, frees, builder: _Builder, kept) -> int:
    """Most bytes alive at once, results excluded: values the plan holds, plus each step's
    scratch (copies matmul needs for operands no reshape can view, sums taken first, a scaled
    term before it is added)."""
    live, peak = 0, 0
    for step, scratch, dead in zip(steps, builder.scratch, frees):
        out = getattr(step, "out", None)
        made = builder.alloc[out] if out is not None and out not in kept else 0
        peak = max(peak, live + made + scratch)
        live += made - sum(builder.alloc[v] for v in dead)
    return peak
