"""Plans on dask (docs/architecture.md, "Backends"): each term runs in blocks, one task each.

The expression is lowered exactly as for numpy: a sum of terms, each ``coeff * einsum`` of
views of inputs, placed in the output. On dask, a term's labels are cut into blocks, and
each block of the term is one task: it reads the pieces of the inputs its views reach and
runs the term restricted to the block, compiled by the numpy planner (its views, its
contraction order, its own slicing if it needs one), into the box of the output it lands
in. A summed label's blocks are partial sums, a kept label's blocks disjoint boxes; the
boxes of one output chunk are added by a tree of tasks.

Blocks follow the inputs' chunks: every label that indexes an axis of a dask input (or of
the output) is cut where that axis's chunks end, so a task reads whole chunks, or parts of
one, and nothing is rechunked; only a view that crosses chunks (a window, a split of a
merged axis) assembles the piece it reaches. Where a block's task would hold more than
`max_bytes` (the chunks it reads, what it allocates, the box it returns), the label that
lowers that most is cut further, until every task fits.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import uuid
from bisect import bisect_right
from collections import OrderedDict

import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph

from ..budget import Samples, plan_within, shape_key
from ..caches import register_cache
from ..errors import MemoryBudgetError
from ..execute import run_steps
from ..ir import Leaf, Node, Op, toposort
from ..lower import NESTING, Lowering
from ..paths import AUTO, Optimizer
from ..plan import compile_term, term_blocks
from ..printing import describe_op, format_bytes
from ..sop import Axis, Factor, Sub, Term, axis_labels, reach, restrict, term_labels
from .numpy import NUMPY, template, unknown_layout

__all__ = ["to_dask", "compute", "clear_caches", "MAX_BLOCKS", "MAX_TASKS"]

# A term (or a step of one) is cut into at most this many blocks, and a graph has at most
# this many tasks: each costs a fraction of a millisecond to plan and to schedule, so past
# that a budget too small for the inputs' chunks is refused rather than planned for minutes.
MAX_BLOCKS = 4096
MAX_TASKS = 16384
# Output chunks are at most this big (and a quarter of the budget), as dask's "auto" chunks
_CHUNK_LIMIT = 128 * 2**20
# An input is rechunked for a budget into at most about this many chunks
_MAX_PIECES = 1024
# Boxes added by one task of the tree that sums an output chunk, at most
_FAN_IN = 16


def to_dask(roots: tuple[Node, ...], budget: int | None,
            optimize: Optimizer = AUTO) -> list[da.Array]:
    """Dask arrays computing `roots`, each task within `budget` bytes (None: unbounded), each
    term's contraction ordered by `optimize`.

    Raises:
        MemoryBudgetError: some task cannot be made to fit; names the least found.
    """
    try:
        return _build(roots, budget, optimize)
    except MemoryBudgetError as error:
        raise _checked(roots, budget, error, optimize) from None


def _build(roots, budget, optimize) -> list[da.Array]:
    graph = _Graph(roots, budget, optimize)
    return [graph.array(root) for root in roots]


def _checked(roots, budget: int, error: MemoryBudgetError, optimize) -> MemoryBudgetError:
    """The error to raise for `budget`, naming a budget that works: blocks are cut
    differently under another budget, so the one a failed search names is tried in turn."""
    what, required = str(error), error.required_bytes
    for _ in range(_ROUNDS):
        try:
            _build(roots, required, optimize)
            break
        except MemoryBudgetError as retry:
            required = max(retry.required_bytes, 2 * required)
    else:
        return MemoryBudgetError(f"no plan fits in max_bytes={budget:,} per dask task: {what}; "
                                 f"more than {required:,} bytes are needed", required)
    return MemoryBudgetError(
        f"no plan fits in max_bytes={budget:,} ({format_bytes(budget)}) per dask task: {what}; "
        f"the least found that works is {required:,} bytes ({format_bytes(required)}): pass "
        f"max_bytes >= {required:,}, or give the inputs smaller chunks", required)


# searches at the budgets failed searches name, before giving up on naming one that works
_ROUNDS = 12


class _Source:
    """An array tasks read by chunks: a dask array's, or a numpy input held whole in the
    graph (it is in memory already, so reading it costs no bytes)."""

    def __init__(self, name, bounds, itemsize, literal=False):
        self.name = name
        self.bounds = bounds        # per axis: the offsets where its chunks start, and its end
        self.itemsize = itemsize
        self.literal = literal      # a numpy input: the graph key `name` holds it whole

    @classmethod
    def of(cls, array: da.Array) -> _Source:
        bounds = tuple(tuple(itertools.accumulate(c, initial=0)) for c in array.chunks)
        return cls(array.name, bounds, array.dtype.itemsize)

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(b - a for a, b in zip(bs, bs[1:])) for bs in self.bounds)

    def pieces(self, box):
        """Per chunk the box ``[(lo, hi), ...]`` overlaps: its key, the part of it inside
        the chunk, where that part goes in the box, and the chunk's bytes."""
        if self.literal:
            yield self.name, tuple(slice(lo, hi) for lo, hi in box), None, 0
            return
        spans = []
        for (lo, hi), bs in zip(box, self.bounds):
            first, last = bisect_right(bs, lo) - 1, bisect_right(bs, hi - 1) - 1
            spans.append([(i, bs[i], bs[i + 1]) for i in range(first, last + 1)])
        for combo in itertools.product(*spans):
            key = (self.name, *(i for i, _, _ in combo))
            inner = tuple(slice(max(lo, a) - a, min(hi, b) - a)
                          for (lo, hi), (_, a, b) in zip(box, combo))
            where = tuple(slice(max(lo, a) - lo, min(hi, b) - lo)
                          for (lo, hi), (_, a, b) in zip(box, combo))
            nbytes = math.prod(b - a for _, a, b in combo) * self.itemsize
            yield key, inner, where, nbytes


class _Graph:
    """The tasks computing some roots: one dict of tasks, and the dask inputs it reads."""

    def __init__(self, roots, budget, optimize):
        self.budget = budget
        self.optimize = optimize
        nodes = toposort(*roots)
        users = {}
        for n in nodes:
            for s in n.src:
                users[s] = users.get(s, 0) + 1
        shared = {n for n, k in users.items() if k > 1} | set(roots)
        self.lowering = Lowering(budget, shared)
        self.tasks: dict = {}
        self.inputs: list[da.Array] = []   # dask arrays the tasks read
        self.values: dict[Node, tuple[_Source, da.Array | None]] = {}
        self.samples = _samples(optimize)
        self.token = uuid.uuid4().hex[:12]
        # the inputs' own chunks may make many tasks; the budget may add MAX_TASKS more
        self.max_tasks = MAX_TASKS + 4 * sum(
            math.prod(map(len, n.arg.dask.chunks)) for n in nodes
            if n.op is Op.LEAF and n.arg.dask is not None)
        self.count = itertools.count()
        self.depth = 0  # how many `value` calls are under way, one inside the other

    def array(self, root: Node) -> da.Array:
        self.value(root)
        return self.as_dask(root)

    def value(self, node: Node) -> tuple[_Source, da.Array | None]:
        """How tasks read `node`'s value; the dask array it is, where it is one already."""
        if (hit := self.values.get(node)) is not None:
            return hit
        if self.depth >= NESTING:  # a long chain of computed nodes: its deepest first
            for source, _ in self.lowering.dependencies(node, self.values.__contains__):
                self.value(source)
        self.depth += 1
        try:
            hit = self.values[node] = self.made(node)
        finally:
            self.depth -= 1
        return hit

    def made(self, node: Node) -> tuple[_Source, da.Array | None]:
        """`value` of `node`, made now."""
        if node.op is Op.LEAF:
            hit = self.leaf(node.arg)
        elif (whole := self.whole(node)) is not None:
            hit = (whole, None)
        else:
            terms = self.lowering.lower(node)
            if self.lowering.reshaped_whole(node, terms):
                # no split or merge of labels expresses this reshape: dask's own
                self.value(node.src[0])
                array = _dask_reshape(self.as_dask(node.src[0]), node.shape, self.budget)
                self.inputs.append(array)
                hit = (_Source.of(array), array)
            elif self.lowering.mapped_whole(node, terms):
                # a map that does not distribute (conj of an input, say): dask's own
                self.value(node.src[0])
                array = _dask_elementwise(self.as_dask(node.src[0]), node.arg.fn, node.dtype)
                self.inputs.append(array)
                hit = (_Source.of(array), array)
            else:
                hit = (self.sum_of(node, terms), None)
        return hit

    def whole(self, node: Node) -> _Source | None:
        """`node` as one task running its numpy plan (all its terms, work they share done
        once), when its inputs are each one chunk, so that no block structure is to be
        followed, and the plan fits in the budget with them and the result; else None."""
        leaves = [n for n in toposort(node) if n.op is Op.LEAF]
        reads, held = [], 0
        for leaf in leaves:
            if leaf.arg.dask is None:  # a numpy input: given to the task as it is
                reads.append(leaf.arg.array)
                continue
            source = self.value(leaf)[0]
            if any(len(b) != 2 for b in source.bounds):
                return None
            reads.append((source.name, *(0,) * len(leaf.shape)))
            held += leaf.size * leaf.dtype.itemsize
        room = None
        if self.budget is not None:
            room = self.budget - held - node.size * node.dtype.itemsize
            if room < 0:
                return None
        try:
            plan = plan_within((node,), room, optimize=self.optimize)
        except MemoryBudgetError:
            return None
        name = f"lazyein-{node.op.value}-{self.token}-{next(self.count)}"
        self.tasks[(name, *(0,) * len(node.shape))] = (_run_plan, plan, reads)
        return _Source(name, tuple((0, n) for n in node.shape), node.dtype.itemsize)

    def as_dask(self, node: Node) -> da.Array:
        """`node`'s value (already made) as a dask array of its own."""
        source, array = self.values[node]
        if array is not None:
            return array
        if source.literal:  # a numpy input, as one chunk
            return da.from_array(node.arg.array, chunks=node.shape, name=f"{source.name}-array")
        graph = HighLevelGraph.from_collections(source.name, dict(self.tasks),
                                                dependencies=self.inputs)
        return da.Array(graph, source.name, source.chunks, dtype=node.dtype)

    def leaf(self, leaf: Leaf):
        if leaf.dask is not None:
            array = leaf.dask
            if self.budget is not None:
                # chunks too big for any task to read are split ("auto" keeps their shape),
                # into no more than _MAX_PIECES: more would cost more in tasks than they save
                limit = max(self.budget // 4, array.nbytes // _MAX_PIECES, 1)
                biggest = math.prod(max(c, default=1) for c in array.chunks)
                if biggest * array.dtype.itemsize > limit and array.size:
                    array = array.rechunk(
                        da.core.normalize_chunks("auto", array.shape, limit=limit,
                                                 dtype=array.dtype,
                                                 previous_chunks=array.chunks))
            self.inputs.append(array)
            return _Source.of(array), array
        key = f"lazyein-input-{self.token}-{next(self.count)}"
        self.tasks[key] = leaf.array
        bounds = tuple((0, n) for n in leaf.array.shape)
        return _Source(key, bounds, leaf.array.dtype.itemsize, literal=True), None

    # -- a node as a sum of terms --------------------------------------------------------
    def sum_of(self, node: Node, terms: list[Term], aligned=None) -> _Source:
        """`node`'s value as chunks, each the sum of the boxes of `terms` landing in it."""
        name = f"lazyein-{node.op.value}-{self.token}-{next(self.count)}"
        if aligned is None:
            aligned = self.output_cuts(node, terms)
        out = _Source(name, self.out_bounds(node, terms, aligned), node.dtype.itemsize)
        boxes: dict[tuple, list] = {}   # per output chunk: (box, key) of what lands in it
        for term in terms:
            if len(term.factors) > 2 and self.in_blocks(term, node, out):
                term = self.staged(term)
            for chunk, box, key in self.term_tasks(term, node, out):
                boxes.setdefault(chunk, []).append((box, key))
        for chunk in itertools.product(*(range(len(b) - 1) for b in out.bounds)):
            shape = tuple(b[i + 1] - b[i] for b, i in zip(out.bounds, chunk))
            self.sum_boxes((name, *chunk), shape, node.dtype, boxes.get(chunk, []))
        return out

    def output_cuts(self, node: Node, terms: list[Term]):
        """Per axis of `node`, where the chunks of the inputs its labels index end: output
        chunks that follow them take the blocks of kept labels whole, so that a chunk is the
        sum of the partial products of a few blocks, not a buffer all blocks add into."""
        cuts = [set() for _ in node.shape]
        for term in terms:
            sources = {f.source: self.value(f.source)[0] for f in term.factors}
            label_cuts = self.aligned_cuts(term, sources, None)
            for i, ax in enumerate(term.out):
                if ax.steps is None and len(ax.subs) == 1:
                    base = ax.start + ax.subs[0].offset
                    cuts[i].update(base + c for c in label_cuts[ax.subs[0].label])
        return tuple(sorted(c for c in axis if 0 < c < n) for axis, n in zip(cuts, node.shape))

    def in_blocks(self, term: Term, node: Node, out: _Source) -> bool:
        """Does `term` run in more than one block (its inputs' chunks, or the budget, cut it)?"""
        sources = {f.source: self.value(f.source)[0] for f in term.factors}
        cuts = self.aligned_cuts(term, sources, out)
        if any(cuts.values()):
            return True
        whole = {ix: (0, n) for ix, n in term.sizes.items()}
        return self.budget is not None and \
            self.block(term, node, out, sources, whole).footprint > self.budget

    def staged(self, term: Term) -> Term:
        """`term` contracted step by step in blocks: each product of its contraction order but
        the last becomes a chunked array of its own (tasks in blocks, like any term), so a
        block of one step never redoes another's work. Returns the last product, over those."""
        sizes = term.sizes
        values = [(f.source, f.axes, tuple(dict.fromkeys(s.label for ax in f.axes
                                                         for s in ax.subs)))
                  for f in term.factors]
        keep = set(axis_labels(term.out))
        keep_order = [ix for ix in dict.fromkeys(axis_labels(term.out))
                      if any(ix in ls for *_, ls in values)]
        path, _ = self.samples.orders.path([ls for *_, ls in values], keep_order, sizes)
        for step in path[:-1]:
            picked = [values[i] for i in step]
            for i in sorted(step, reverse=True):
                del values[i]
            rest = {ix for *_, ls in values for ix in ls} | keep
            labels = tuple(dict.fromkeys(ix for *_, ls in picked for ix in ls if ix in rest))
            shape = tuple(sizes[ix] for ix in labels)
            axes = tuple(Axis(0, (Sub(ix, sizes[ix], 0),)) for ix in labels)
            product = Term(1, tuple(Factor(src, ax) for src, ax, _ in picked), axes, sizes,
                           term.dtype)
            stand_in = Node(Op.LEAF, arg=Leaf(template(shape, term.dtype), name="product"))
            sources = {f.source: self.value(f.source)[0] for f in product.factors}
            cuts = self.aligned_cuts(product, sources, None)
            aligned = tuple(sorted(cuts[ix]) for ix in labels)
            self.values[stand_in] = (self.sum_of(stand_in, [product], aligned), None)
            values.append((stand_in, axes, labels))
        return term._replace(factors=tuple(Factor(src, ax) for src, ax, _ in values))

    def out_bounds(self, node: Node, terms: list[Term], aligned=None):
        """Chunks of `node`'s value, dask's "auto" ones within a quarter of the budget (or,
        when they fit, the `aligned` ones: per axis, where chunks should end). An axis a term
        writes as merged labels (a kron's, a reshape's) is cut only between whole rows of
        its inner labels; one a window writes, or merged in two different ways, is whole."""
        grains = [_grain(axes) for axes in zip(*(t.out for t in terms))] if terms else \
            [(1, 0)] * len(node.shape)
        limit = _CHUNK_LIMIT if self.budget is None else \
            max(min(self.budget // 4, _CHUNK_LIMIT), node.dtype.itemsize)
        if aligned is not None and all(g == (1, 0) for g in grains):
            bounds = tuple((0, *cuts, n) for cuts, n in zip(aligned, node.shape))
            biggest = math.prod(max((b - a for a, b in zip(bs, bs[1:])), default=0)
                                for bs in bounds)
            if biggest * node.dtype.itemsize <= limit:
                return bounds
        if not all(node.shape):  # nothing to cut ("auto" divides by the size)
            return tuple((0, n) for n in node.shape)
        chunks = da.core.normalize_chunks(tuple("auto" if g else -1 for g in grains),
                                          node.shape, limit=limit, dtype=node.dtype)
        bounds = []
        for c, grain, n in zip(chunks, grains, node.shape):
            ends = itertools.accumulate(c)
            if grain is not None and grain[0] > 1:  # snapped to rows: r + k * inner
                inner, r = grain
                ends = (r + round((e - r) / inner) * inner for e in ends)
            bounds.append((0, *sorted({e for e in ends if 0 < e < n}), n))
        return tuple(bounds)

    def sum_boxes(self, key, shape, dtype, boxes):
        """Task `key`: zeros of `shape` with each ``(box, key)`` of `boxes` added in, by a
        tree of tasks each adding at most `_FAN_IN` boxes, and, within a budget, boxes of at
        most what the budget leaves besides the chunk the task makes."""
        whole = tuple(slice(0, n) for n in shape)
        if len(boxes) == 1 and boxes[0][0] == whole:
            self.tasks[key] = boxes[0][1]  # the one box is the chunk: an alias
            return
        itemsize = np.dtype(dtype).itemsize
        nbytes = math.prod(shape) * itemsize
        room = math.inf if self.budget is None else self.budget - nbytes

        def size(where):
            return math.prod(s.stop - s.start for s in where) * itemsize

        if room < (max(map(size, (w for w, _ in boxes))) if boxes else 0):
            need = nbytes + (max(size(w) for w, _ in boxes) if boxes else 0)
            raise MemoryBudgetError(f"an output chunk of shape {shape} ({nbytes:,} bytes) "
                                    f"needs {need:,} bytes to be made", need)

        while len(boxes) > _FAN_IN or sum(size(w) for w, _ in boxes) > room:
            level, batch, held = [], [], 0
            for where, part in boxes + [(None, None)]:
                if batch and (where is None or len(batch) == _FAN_IN
                              or held + size(where) > room):
                    total = (f"{key[0]}-sum", *key[1:], next(self.count))
                    self._add(total, shape, dtype, batch)
                    level.append((whole, total))
                    batch, held = [], 0
                if where is not None:
                    batch.append((where, part))
                    held += size(where)
            if len(level) >= len(boxes) or held > room:  # no task can add two of them
                need = nbytes + 2 * max(size(w) for w, _ in boxes)
                raise MemoryBudgetError(
                    f"an output chunk of shape {shape} ({nbytes:,} bytes) is added up from "
                    f"{len(boxes)} parts, which needs {need:,} bytes", need)
            boxes = level
        self._add(key, shape, dtype, boxes)

    def _add(self, key, shape, dtype, boxes):
        self.tasks[key] = (_add_boxes, shape, dtype, [b for b, _ in boxes],
                           [k for _, k in boxes])

    # -- one term in blocks --------------------------------------------------------------
    def term_tasks(self, term: Term, node: Node, out: _Source):
        """Emit the tasks computing `term` block by block; yield for each its output chunk,
        its box there and its key."""
        sources = {f.source: self.value(f.source)[0] for f in term.factors}
        cuts = self.aligned_cuts(term, sources, out)
        limits: dict[int, int] = {}
        made: dict = {}

        def task_of(block):
            key = tuple(block.items())
            if (hit := made.get(key)) is None:
                hit = made[key] = self.block(term, node, out, sources, block)
            return hit

        while True:
            ranges = {ix: _ranges(term.sizes[ix], cuts[ix], limits.get(ix))
                      for ix in term_labels(term)}
            count = math.prod(len(r) for r in ranges.values())
            if self.budget is not None and len(self.tasks) + count > self.max_tasks:
                # the budget's cuts (of blocks, or of the output's chunks) make too many
                raise MemoryBudgetError(
                    f"the graph would need more than {self.max_tasks:,} tasks", 4 * self.budget)
            over = None if self.budget is None else _overflowing(ranges, task_of, self.budget)
            if over is None:
                break
            task, block = over
            split = self.cheapest_cut(term, node, out, sources, block)
            if split is None or count * 2 > MAX_BLOCKS:
                why = "cannot be cut further" if split is None else \
                    f"would need more than {MAX_BLOCKS:,} blocks"
                raise MemoryBudgetError(
                    f"a block of {task.description} needs {task.footprint:,} bytes and {why}",
                    task.footprint)
            label, size = split
            limits[label] = size
        for block in _blocks(ranges):
            task = task_of(block)
            key = (f"{out.name}-block", next(self.count))
            self.tasks[key] = (task.program, *task.reads)
            yield task.chunk, task.box, key

    def aligned_cuts(self, term: Term, sources, out: _Source) -> dict[int, set[int]]:
        """Per label, where its blocks must end so that each task reads within chunks of
        the inputs and writes within one chunk of the output."""
        cuts = {ix: set() for ix in term_labels(term)}
        views = [(f.axes, sources[f.source]) for f in term.factors]
        views += [(term.out, out)] if out is not None else []
        for axes, source in views:
            for ax, bounds in zip(axes, source.bounds):
                if ax.steps is not None or not ax.subs:
                    continue
                # the outer label moves whole rows of the inner ones: it is cut where a
                # chunk ends between two rows
                s, inner = ax.subs[0], math.prod(t.dim for t in ax.subs[1:])
                for b in bounds:
                    row, within = divmod(b - ax.start, inner)
                    if not within and 0 < row - s.offset < term.sizes[s.label]:
                        cuts[s.label].add(row - s.offset)
        return cuts

    def cheapest_cut(self, term, node, out, sources, block):
        """The label (and block size) whose halving most lowers `block`'s task, if any."""
        best = None
        for ix, (lo, hi) in block.items():
            if hi - lo < 2:
                continue
            half = -(-(hi - lo) // 2)
            smaller = self.block(term, node, out, sources, {**block, ix: (lo, lo + half)})
            if best is None or smaller.footprint < best[0]:
                best = (smaller.footprint, ix, half)
        return None if best is None else best[1:]

    def block(self, term, node, out, sources, block) -> _Block:
        """The task computing `term` restricted to `block` (label -> range)."""
        part = restrict(term, block)
        factors, reads, seen, footprint = [], [], {}, 0
        for f in part.factors:
            source = sources[f.source]
            box, axes = zip(*(_boxed(ax, part.sizes) for ax in f.axes)) if f.axes else ((), ())
            if (f.source, box) not in seen:
                stand_in = Node(Op.LEAF, arg=Leaf(unknown_layout(_box_shape(box),
                                                               f.source.dtype)))
                read, nbytes = _read(source, box, f.source.dtype)
                seen[f.source, box] = stand_in
                reads.append(read)
                footprint += nbytes
            factors.append(Factor(seen[f.source, box], tuple(axes)))
        box, axes = zip(*(_boxed(ax, part.sizes) for ax in part.out)) if part.out else ((), ())
        chunk = tuple(bisect_right(b, lo) - 1 for (lo, _), b in zip(box, out.bounds))
        origin = [b[i] for b, i in zip(out.bounds, chunk)]
        shape = _box_shape(box)
        local = part._replace(factors=tuple(factors), out=tuple(axes))
        program = self.program(local, shape, node.dtype, footprint)
        footprint += program.peak_bytes + math.prod(shape) * node.dtype.itemsize
        where = tuple(slice(lo - o, hi - o) for (lo, hi), o in zip(box, origin))
        return _Block(program, tuple(reads), chunk, where, footprint,
                      _describe(part, node))

    def program(self, term: Term, shape, dtype, reads: int):
        """The term compiled for a task that also holds `reads` bytes of inputs: sliced by
        the numpy planner if what is left of the budget needs it and slicing can make it fit
        (else the block is too big, and the caller cuts it)."""
        room = None
        if self.budget is not None:
            room = self.budget - reads - math.prod(shape) * dtype.itemsize
            if room <= 0 or self.samples.measure(term, shape, ((), False))[0] <= room:
                room = None  # whole: it fits, or nothing would
        key = (shape_key(term), shape, dtype.str, room, self.optimize)
        if (hit := _PROGRAMS.get(key)) is not None:
            _PROGRAMS.move_to_end(key)
            return hit
        spec = ((), False)
        if room is not None:
            spec = self.samples.best(term, shape, room) or spec
        ranks, whole_order = spec
        blocks = term_blocks(term, shape, ranks, self.samples.orders)
        hit = _PROGRAMS[key] = compile_term(term, shape, dtype, blocks, whole_order,
                                            self.samples.orders)
        if len(_PROGRAMS) > _PROGRAM_CACHE_SIZE:
            _PROGRAMS.popitem(last=False)
        return hit


# Compiled blocks, by what their programs depend on: computing an expression again (or one
# alike) on dask compiles nothing. Like the numpy plans' cache, `clear_plan_cache` empties it.
_PROGRAMS: OrderedDict = OrderedDict()
_PROGRAM_CACHE_SIZE = 1024
_SAMPLES: dict[Optimizer, Samples] = {}


def _samples(optimize: Optimizer) -> Samples:
    """The pricing of slicings (cached by shape) with `optimize`'s orders, shared by every
    graph of that optimizer while it stays small."""
    hit = _SAMPLES.get(optimize)
    if hit is None or len(hit.cache) > 16 * _PROGRAM_CACHE_SIZE:
        _SAMPLES.pop(optimize, None)
        if len(_SAMPLES) >= _OPTIMIZERS:
            del _SAMPLES[next(iter(_SAMPLES))]
        hit = _SAMPLES[optimize] = Samples(optimize=optimize)
    return hit


# optimizers whose pricings are kept at once (each holds its optimizer alive)
_OPTIMIZERS = 8


@register_cache  # so `lazyein.caches.clear` (and `clear_plan_cache`) empties these too
def clear_caches():
    """Forget compiled blocks and priced slicings."""
    _PROGRAMS.clear()
    _SAMPLES.clear()


class _Block:
    __slots__ = ("program", "reads", "chunk", "box", "footprint", "description")

    def __init__(self, program, reads, chunk, box, footprint, description):
        self.program, self.reads, self.chunk, self.box = program, reads, chunk, box
        self.footprint, self.description = footprint, description


def _grain(axes) -> tuple[int, int] | None:
    """How the terms writing one output axis (`axes`, one per term) let it be cut:
    ``(inner, r)``, chunks ending at ``r + k * inner`` (between rows of merged labels), or
    None: whole (a window, or rows of two different kinds)."""
    kinds = set()
    for ax in axes:
        if ax.steps is not None:
            return None
        if len(ax.subs) > 1:
            inner = math.prod(s.dim for s in ax.subs[1:])
            kinds.add((inner, ax.start % inner))
    if len(kinds) > 1:
        return None
    return kinds.pop() if kinds else (1, 0)


def _dask_reshape(array: da.Array, shape, budget) -> da.Array:
    """Dask's reshape, its chunks within a quarter of `budget`; where it cannot regroup the
    chunks directly, through the flat array (a reshape that no split or merge of labels
    expresses is rare, and explain() says so)."""
    limit = None if budget is None else max(budget // 4, 1)
    try:
        return array.reshape(shape, limit=limit)
    except NotImplementedError:
        return array.reshape(-1, limit=limit).reshape(shape, limit=limit)


def _dask_elementwise(array: da.Array, fn: str, dtype) -> da.Array:
    """Dask's conj, real part, imaginary part or cast of `array`, chunk by chunk."""
    if fn == "conj":
        return da.conj(array)
    if fn == "real":
        return da.real(array)
    if fn == "imag":
        return da.imag(array)
    return array.astype(dtype)


def _boxed(ax: Axis, sizes) -> tuple[tuple[int, int], Axis]:
    """The indices ``[lo, hi)`` that `ax` reaches, and `ax` indexing an array holding only
    those (its box)."""
    if not ax.subs:
        return (ax.start, ax.start + 1), Axis(0, ())
    if ax.steps is not None:
        lo, hi = reach(ax, sizes)  # (a step may be negative: a flip)
        return (lo, hi), ax._replace(start=ax.start - lo)
    outer, inner = ax.subs[0], math.prod(s.dim for s in ax.subs[1:])
    lo = ax.start + outer.offset * inner
    n = sizes[outer.label]
    return (lo, lo + n * inner), Axis(0, (Sub(outer.label, n, 0), *ax.subs[1:]))


def _box_shape(box) -> tuple[int, ...]:
    return tuple(hi - lo for lo, hi in box)


def _read(source: _Source, box, dtype):
    """The task argument that reads `box` of `source`, and the bytes that holds: the chunks
    it reads, and the piece assembled from them when it spans several."""
    pieces = list(source.pieces(box))
    if len(pieces) == 1:
        key, inner, _, nbytes = pieces[0]
        return (_take, key, inner), nbytes
    shape = _box_shape(box)
    nbytes = sum(p[3] for p in pieces) + math.prod(shape) * np.dtype(dtype).itemsize
    return (_assemble, shape, np.dtype(dtype), [p[2] for p in pieces], [p[0] for p in pieces],
            [p[1] for p in pieces]), nbytes


def _run_plan(plan, arrays) -> np.ndarray:
    """The value of a plan's one output, computed from its inputs' arrays."""
    env = list(arrays) + [None] * (plan.num_values - plan.num_leaves)
    run_steps(plan.steps, plan.frees, env, NUMPY, plan)
    return env[plan.outputs[0]]


def compute(arrays: list[da.Array], scheduler=None, progress=False) -> list[np.ndarray]:
    """The values of `arrays` (made by `to_dask`), by dask's scheduler for them (`scheduler`,
    or the current one: a distributed Client's when one is active). Their graphs are given
    to it as they are: lazyein's tasks are already what dask's optimizations would make.
    With `progress`, dask's progress bar: the local schedulers', or distributed's for a
    Client (which reports through futures, so the arrays are computed as collections)."""
    import dask.base

    get = dask.base.get_scheduler(scheduler=scheduler, collections=arrays)
    client = getattr(get, "__self__", None)
    if progress and client is not None and hasattr(client, "gather"):
        from distributed import progress as show

        futures = client.compute(arrays)
        with client.as_current():  # the bar asks the current client for its scheduler
            show(futures, notebook=False)
        return [np.asarray(r) for r in client.gather(futures)]
    with contextlib.ExitStack() as stack:
        if progress:
            from dask.diagnostics import ProgressBar

            stack.enter_context(ProgressBar())
        graph = HighLevelGraph.merge(*(a.__dask_graph__() for a in arrays))
        results = get(dict(graph), [a.__dask_keys__() for a in arrays])
    # a 0-d array's keys are one key in a list: its result, one value in a sequence
    return [np.asarray(da.core.concatenate3(r) if a.ndim else r[0]
                       if isinstance(r, (list, tuple)) else r) for a, r in zip(arrays, results)]


def _take(array, index) -> np.ndarray:
    """``array[index]``, a view, and an array even when it is 0-d."""
    return array[(*index, Ellipsis)]


def _assemble(shape, dtype, wheres, chunks, inners) -> np.ndarray:
    """The box of an array made of the parts `inners` of `chunks`, placed at `wheres`."""
    box = np.empty(shape, dtype)
    for where, chunk, inner in zip(wheres, chunks, inners):
        box[where] = chunk[inner]
    return box


def _add_boxes(shape, dtype, wheres, boxes) -> np.ndarray:
    """Zeros of `shape` with each box added at its place."""
    total = np.zeros(shape, dtype)
    for where, box in zip(wheres, boxes):
        total[where] += box
    return total


def _ranges(n: int, cuts, limit: int | None) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges covering ``range(n)``, ending at each of `cuts`, none longer than
    `limit`."""
    ends = sorted(set(cuts) | {n})
    ranges, lo = [], 0
    for end in ends:
        step = end - lo if limit is None else limit
        for start in range(lo, end, step):
            ranges.append((start, min(start + step, end)))
        lo = end
    return ranges


def _overflowing(ranges: dict[int, list], task_of, budget: int):
    """A block whose task exceeds `budget`, with it, or None. Blocks of each combination of
    range lengths are tried first (one each: the grid's shapes), then every block."""
    firsts = {ix: list({hi - lo: k for k, (lo, hi) in reversed(list(enumerate(r)))}.values())
              for ix, r in ranges.items()}
    samples = ({ix: ranges[ix][k] for ix, k in zip(firsts, combo)}
               for combo in itertools.product(*firsts.values()))
    for block in itertools.chain(samples, _blocks(ranges)):
        task = task_of(block)
        if task.footprint > budget:
            return task, block
    return None


def _blocks(ranges: dict[int, list]):
    labels = list(ranges)
    for combo in itertools.product(*ranges.values()):
        yield dict(zip(labels, combo))


def _describe(term: Term, node: Node) -> str:
    return (f"{describe_op(node)} {list(node.shape)} (labels of sizes "
            f"{sorted(term.sizes.values())})")
