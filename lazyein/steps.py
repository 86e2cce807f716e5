"""A plan's steps as frozen records: what to view, contract and accumulate, in no array library.

Each record names the values it reads and writes (`reads`, `writes`), which serves the
planner's lifetimes, the executors and the drawings alike. Everything a kernel needs that can
be worked out from labels and sizes (permutations, matrix shapes, the order of a result) is
worked out here, once, when the record is made; a backend only maps the record to its own
functions (see `lazyein.backends.base`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from .printing import format_bytes
from .sop import Axis

__all__ = ["Plan", "TermReport", "ViewSpec", "View", "Contract", "Zeros", "Reshape",
           "Accumulate", "ChunkLoop", "Moved", "result_labels", "contract", "accumulate",
           "SLAB_BYTES"]


@dataclass(frozen=True)
class ViewSpec:
    """How to take the view that a list of `Axis` describes of an array: an index (ints and
    slices), a split of axes, slices of the parts, and a diagonal for repeated labels; or,
    for a window axis (``x = u + a``), a strided view made from the strides directly.

    `labels` are the view's axes in order. A backend with strided views takes every one of
    these without copying; one without reads a diagonal or a window another way."""

    labels: tuple[int, ...]
    index: tuple | None = None      # per array axis an int or a slice, then Ellipsis
    split: tuple[int, ...] | None = None  # the shape the indexed array is split to
    trims: tuple | None = None      # per split axis a slice
    diagonal: tuple | None = None   # (shape, groups): axes of each group become one
    window: tuple | None = None     # (origin index, shape, per label ((axis, step), ...))

    @property
    def identity(self) -> bool:
        return (self.index is None and self.split is None and self.trims is None
                and self.diagonal is None and self.window is None)

    @property
    def kinds(self) -> tuple[str, ...]:
        """What the view does, in words: window, index, split, slice, diagonal."""
        return tuple(what for what, used in (
            ("window", self.window), ("index", self.index), ("split", self.split),
            ("slice", self.trims), ("diagonal", self.diagonal)) if used is not None)

    @classmethod
    def of(cls, axes: tuple[Axis, ...], shape: tuple[int, ...], sizes) -> ViewSpec:
        """The view `axes` take of an array of `shape`, labels running over `sizes`."""
        if any(ax.steps is not None for ax in axes):
            return cls._window(axes, sizes)
        index, split, labels, trims = [], [], [], []
        for ax, n in zip(axes, shape):
            if not ax.subs:
                index.append(ax.start)
                continue
            length = ax.length
            whole = ax.start == 0 and length == n
            index.append(slice(None) if whole else slice(ax.start, ax.start + length))
            for s in ax.subs:
                split.append(s.dim)
                labels.append(s.label)
                size = sizes[s.label]
                trims.append(slice(None) if s.offset == 0 and size == s.dim else
                             slice(s.offset, s.offset + size))
        unique = tuple(dict.fromkeys(labels))
        diagonal = None
        if len(unique) != len(labels):
            groups = tuple(tuple(k for k, ix in enumerate(labels) if ix == u) for u in unique)
            diagonal = (tuple(sizes[u] for u in unique), groups)
        return cls(
            unique,
            # the Ellipsis keeps an all-integer index a (0-d) view rather than a scalar copy
            index=(*index, Ellipsis) if any(i != slice(None) for i in index) else None,
            split=tuple(split) if any(len(ax.subs) > 1 for ax in axes) else None,
            trims=tuple(trims) if any(t != slice(None) for t in trims) else None,
            diagonal=diagonal)

    @classmethod
    def _window(cls, axes, sizes) -> ViewSpec:
        """A window axis is no slice or split: each label's stride is the sum of the strides
        of the axes it moves along, times its step there."""
        origin, steps = [], {}
        for k, ax in enumerate(axes):
            origin.append(ax.start + sum(s.offset * st for s, st in zip(ax.subs, ax.strides)))
            for s, st in zip(ax.subs, ax.strides):
                steps.setdefault(s.label, []).append((k, st))
        labels = tuple(steps)
        shape = tuple(sizes[ix] for ix in labels)
        return cls(labels, window=(tuple(origin), shape,
                                   tuple(tuple(moves) for moves in steps.values())))


class _Step:
    """What every record says of the values it touches: `reads` and `writes` (for lifetimes,
    executors and drawings), of those it writes the ones it `makes` anew (an addition writes
    into a value made before), and `aliases`: values its output may be a view of, which live
    as long as that output does."""

    @property
    def writes(self) -> tuple[int, ...]:  # most records make one value, `out`
        return (self.out,)

    @property
    def makes(self) -> tuple[int, ...]:
        return self.writes

    @property
    def aliases(self) -> tuple[int, ...]:
        return ()


class _OfSource(_Step):
    """A step making value `out` from value `src` alone, possibly as a view of it."""

    @property
    def reads(self) -> tuple[int, ...]:
        return (self.src,)

    @property
    def aliases(self) -> tuple[int, ...]:
        return (self.src,)


@dataclass(frozen=True)
class View(_OfSource):
    """``value[out] = a view of value[src]``, as `spec` says."""

    out: int
    src: int
    spec: ViewSpec


class Sum(NamedTuple):
    """Sum one operand over `axes` into `shape`."""

    axes: tuple[int, ...]
    shape: tuple[int, ...]


class Product(NamedTuple):
    """An outer or Hadamard product: each operand permuted and reshaped to broadcast."""

    perms: tuple[tuple[int, ...], tuple[int, ...]]
    shapes: tuple[tuple[int, ...], tuple[int, ...]]


class Dots(NamedTuple):
    """Batched dot products (nothing kept on either side alone): an einsum equation over
    `labels` (0, 1, ... numbered), which streams them with no copies."""

    inputs: tuple[tuple[int, ...], tuple[int, ...]]
    output: tuple[int, ...]


class Gemm(NamedTuple):
    """One (batched) matrix product: each operand, in argument order, permuted by its
    `perms` entry and reshaped to its `shapes` entry (batch axes, then a matrix); the first
    matrix is the left one unless `swap`; the product reshaped to `out_shape`. `arg_shapes`
    are the operands' own shapes (one axis per label), so that a run skips a permute or a
    reshape that would do nothing (at 20 x 20 those calls cost more than the product)."""

    swap: bool
    perms: tuple[tuple[int, ...], tuple[int, ...]]
    shapes: tuple[tuple[int, ...], tuple[int, ...]]
    out_shape: tuple[int, ...]
    arg_shapes: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())


@dataclass(frozen=True)
class Contract(_Step):
    """``value[out] = contraction of value[args]`` whose labels come out in the order
    `result`, computed in `dtype` (the term's common type: a float32 operand met by a float64
    one is summed in float64, as numpy's einsum would).

    `form` is how: a `Sum` of one operand, or, for two, after summing away per operand the
    axes of `presums` (labels only it has, which nobody needs), a `Product`, `Dots` or `Gemm`.
    """

    out: int
    args: tuple[int, ...]
    labels: tuple[tuple[int, ...], ...]
    result: tuple[int, ...]
    dtype: np.dtype
    form: Sum | Product | Dots | Gemm
    presums: tuple[tuple[int, ...], ...] = ((), ())

    @property
    def reads(self) -> tuple[int, ...]:
        return self.args


@dataclass(frozen=True)
class Zeros(_Step):
    """``value[out] = zeros(shape, dtype)``: a buffer that terms accumulate into; left
    unfilled (`fill` false) when the first term written into it covers all of it."""

    out: int
    shape: tuple[int, ...]
    dtype: np.dtype
    fill: bool = True

    @property
    def reads(self) -> tuple[int, ...]:
        return ()


@dataclass(frozen=True)
class Reshape(_OfSource):
    """``value[out] = value[src]`` reshaped (C order) to `shape`."""

    out: int
    src: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Elementwise(_OfSource):
    """``value[out] = fn(value[src])`` for an `ops.elementwise` map `fn` ("conj", "real",
    "imag" or "astype" to `dtype`): a new array, or a view where the backend makes one
    (numpy's real and imaginary parts)."""

    out: int
    src: int
    fn: str
    dtype: np.dtype


# an in-place add into a strided region of more than a few axes can copy the whole region
# first, and a scaled term is scaled into a scratch before it is added: adding slab by slab
# bounds both copies by this much (and keeps the scratch in cache, so that ``target += c *
# term`` reads the term and the target once, as an axpy does)
SLAB_BYTES = 1 << 18


@dataclass(frozen=True)
class Accumulate(_Step):
    """``region of value[target] += coeff * value[src]`` (`src` None: the constant `coeff`),
    the value permuted by `perm` and reshaped to `expand` to broadcast over labels it lacks;
    in slabs of `slab_rows` rows of the region where given. With `assign`, the first write
    into an unfilled buffer: a copy (or ``coeff * value`` written in place), not an add; with
    `adopt` too, not even a copy: value[src], a fresh array the plan made and reads nowhere
    else, reshaped to `adopt` (the target's shape) becomes the target. With `subtract`,
    `coeff` is -1 and the term is in `dtype` already: ``target -= value`` is exact and needs
    no scaled copy."""

    target: int
    src: int | None
    coeff: complex
    region: ViewSpec
    dtype: np.dtype
    perm: tuple[int, ...] | None = None
    expand: tuple[int, ...] | None = None
    slab_rows: tuple[tuple[int, int], ...] | None = None
    assign: bool = False
    adopt: tuple[int, ...] | None = None
    subtract: bool = False

    @property
    def reads(self) -> tuple[int, ...]:
        return (self.target,) if self.src is None else (self.target, self.src)

    @property
    def writes(self) -> tuple[int, ...]:
        return (self.target,)

    @property
    def makes(self) -> tuple[int, ...]:
        return ()

    @property
    def scaled(self) -> bool:
        """Does an add of it scale the term into a scratch first? (An assign writes the
        scaled term in place; but a chunk loop turns its first chunk's assign into adds.)"""
        return self.src is not None and self.coeff != 1 and not self.subtract


class Moved(NamedTuple):
    """How a chunk loop moves the view a body step takes (a View's of its source, an
    Accumulate's of its target): `whole` views every chunk of the group at once, and per
    sliced label it indexes, ``(axis in that view, label, size in one chunk)``."""

    whole: ViewSpec
    moves: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class ChunkLoop(_Step):
    """Runs a sliced term's further chunks of one shape: the steps `body` of its first chunk
    again, with each view that `moved` names moved to each chunk (a slice of one view taken
    over all of the group's chunks, once per run). Everything else is reused, so the loop
    allocates nothing that grows with the number of chunks.

    `starts` gives per sliced label the starts of the group's chunks (the first chunk ran
    before the loop); `frees` per body step the values to drop after it; `peak` the most
    bytes one chunk holds; `positions` the plan's indices of the body steps; `reads` the
    values the body reads that it does not make."""

    body: tuple
    moved: tuple[Moved | None, ...]
    starts: tuple[tuple[int, range], ...]
    frees: tuple[tuple[int, ...], ...] = ()
    peak: int = 0
    positions: tuple[int, ...] = ()
    reads: tuple[int, ...] = ()

    @property
    def writes(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(v for step in self.body for v in step.writes))

    @property
    def makes(self) -> tuple[int, ...]:
        return ()

    @property
    def count(self) -> int:
        """The chunks the loop runs (the group's first one ran before it)."""
        return math.prod(len(r) for _, r in self.starts) - 1


# -- contractions -------------------------------------------------------------------------------

def _pair_labels(la, lb, keep) -> tuple[tuple, tuple, tuple, tuple]:
    """Split the labels of a pairwise contraction into (batch, left, contracted, right)."""
    sa, sb = set(la), set(lb)
    batch = tuple(ix for ix in la if ix in sb and ix in keep)
    contracted = tuple(ix for ix in la if ix in sb and ix not in keep)
    left = tuple(ix for ix in la if ix not in sb and ix in keep)
    right = tuple(ix for ix in lb if ix not in sa and ix in keep)
    return batch, left, contracted, right


# below this many multiply-adds per matrix product, a batch loop that repeats one operand
# costs more than it saves; the result is then made in the natural order and permuted
_MIN_BROADCAST_GEMM = 1 << 15


# numpy's einsum takes at most this many distinct labels (its letters)
_EINSUM_LABELS = 52


def _drop_unused(la, lb, keep) -> tuple[tuple, tuple]:
    """The labels left once those only one side has and nobody needs are summed away."""
    return (tuple(ix for ix in la if ix in lb or ix in keep),
            tuple(ix for ix in lb if ix in la or ix in keep))


def _matmul_layout(la, lb, keep, sizes, want=None):
    """How one matmul contracts `la` with `lb`: ``(swap, batch, left, contracted, right)``,
    the first operand (the second if `swap`) giving `left`, the result ordered
    ``batch + left + right``. With `want`, that order is `want` where a layout gives it
    cheaply: batch labels only one operand has are broadcast over the other, which is how
    kron(eye, W) @ x lands straight in the result's order."""
    batch, left, contracted, right = _pair_labels(la, lb, keep)
    natural = (False, batch, left, contracted, right)
    if want is None or tuple(want) == batch + left + right:
        return natural
    want, best = tuple(want), None
    for swap, (x, y) in ((False, (la, lb)), (True, (lb, la))):
        x_only, y_only = set(x) - set(y), set(y) - set(x)
        k = len(want)
        while k and want[k - 1] in y_only:
            k -= 1
        j = k
        while j and want[j - 1] in x_only:
            j -= 1
        b, lft, rgt = want[:j], want[j:k], want[k:]
        repeated = math.prod(sizes[ix] for ix in b if ix in x_only or ix in y_only)
        matrix = math.prod(sizes[ix] for ix in lft + rgt)
        candidate = (repeated, -matrix, swap, b, lft, rgt)
        best = candidate if best is None or candidate[:2] < best[:2] else best
    repeated, _, swap, b, lft, rgt = best
    work = math.prod(sizes[ix] for ix in lft + contracted + rgt)
    if repeated > 1 and work < _MIN_BROADCAST_GEMM:
        return natural
    return swap, b, lft, contracted, rgt


def result_labels(la, lb, keep, sizes=None, want=None) -> tuple:
    """The labels, in order, of the result of contracting `la` with `lb` keeping `keep`:
    `want` when that order comes at no extra cost, else the natural order."""
    la, lb = _drop_unused(la, lb, keep)
    batch, left, contracted, right = _pair_labels(la, lb, keep)
    if want is not None and (not contracted or not (left or right)):
        return tuple(want)  # broadcasting products and einsum make any order directly
    _, b, lft, _, rgt = _matmul_layout(la, lb, keep, sizes, want)
    return b + lft + rgt


def contract(out, args, labels, result, sizes, dtype) -> Contract:
    """The record contracting `args` (their labels `labels`) into labels `result`."""
    labels = tuple(map(tuple, labels))
    result, dtype = tuple(result), np.dtype(dtype)
    if len(args) == 1:
        (la,) = labels
        form = Sum(tuple(i for i, ix in enumerate(la) if ix not in result),
                   tuple(sizes[ix] for ix in result))
        return Contract(out, tuple(args), labels, result, dtype, form)
    la, lb = labels
    keep = set(result)
    kept_a, kept_b = _drop_unused(la, lb, keep)
    presums = tuple(tuple(i for i, ix in enumerate(ls) if ix not in kept)
                    for ls, kept in ((la, kept_a), (lb, kept_b)))
    _, left, contracted, right = _pair_labels(kept_a, kept_b, keep)
    if not contracted:
        form = _product(kept_a, kept_b, result, sizes)
    elif not left and not right and len(set(kept_a + kept_b)) <= _EINSUM_LABELS:
        names = {ix: k for k, ix in enumerate(dict.fromkeys(kept_a + kept_b))}
        form = Dots((tuple(map(names.get, kept_a)), tuple(map(names.get, kept_b))),
                    tuple(map(names.get, result)))
    else:
        form = _gemm(kept_a, kept_b, result, sizes)
    return Contract(out, tuple(args), labels, result, dtype, form, presums)


def _product(la, lb, result, sizes) -> Product:
    """An outer or Hadamard product: broadcasting, nothing for BLAS to gain."""
    return Product((tuple(la.index(ix) for ix in result if ix in la),
                    tuple(lb.index(ix) for ix in result if ix in lb)),
                   (tuple(sizes[ix] if ix in la else 1 for ix in result),
                    tuple(sizes[ix] if ix in lb else 1 for ix in result)))


def _gemm(la, lb, result, sizes) -> Gemm:
    """One (batched) matmul, laid out by `_matmul_layout` to give the result's order."""
    swap, batch, left, con, right = _matmul_layout(la, lb, set(result), sizes, result)
    assert batch + left + right == result, (la, lb, result)
    lx, ly = (lb, la) if swap else (la, lb)
    nl, nc, nr = (math.prod(sizes[ix] for ix in g) for g in (left, con, right))
    if all(ix in lx and ix in ly for ix in batch):  # a plain batch: one axis of it
        bx = by = (math.prod(sizes[ix] for ix in batch),)
    else:  # broadcast: each batch label an axis, 1 on the side that lacks it
        bx = tuple(sizes[ix] if ix in lx else 1 for ix in batch)
        by = tuple(sizes[ix] if ix in ly else 1 for ix in batch)
    if bx == by == (1,) * len(bx):  # no batch at all: a plain 2-D matmul
        bx = by = ()
    px = tuple(lx.index(ix) for ix in batch + left + con if ix in lx)
    py = tuple(ly.index(ix) for ix in batch + con + right if ix in ly)
    mx, my = bx + (nl, nc), by + (nc, nr)
    perms, shapes = ((py, px), (my, mx)) if swap else ((px, py), (mx, my))  # argument order
    return Gemm(swap, perms, shapes, tuple(sizes[ix] for ix in result),
                tuple(tuple(sizes[ix] for ix in ls) for ls in (la, lb)))


def accumulate(target, src, labels, coeff, region: ViewSpec, sizes, dtype,
               assign=False, src_dtype=None, adopt=None) -> Accumulate:
    """The record adding `src` (labels `labels`, dtype `src_dtype`; None: the constant
    `coeff`) times `coeff` into `region` of `target`; `adopt` see `Accumulate`."""
    dtype = np.dtype(dtype)
    # -y is exact in y's own dtype (unsigned ones wrap -1 below, so they scale instead)
    subtract = src is not None and coeff == -1 and src_dtype is not None and \
        np.dtype(src_dtype) == dtype and dtype.kind in "ifc"
    if dtype.kind in "biu":
        # integer results wrap as numpy's do: -1 in uint8 arithmetic is 255
        with np.errstate(all="ignore"):
            coeff = np.array(coeff).astype(dtype)[()]
    labels = tuple(labels)
    present = [ix for ix in region.labels if ix in labels]
    assert set(present) == set(labels), (labels, region.labels)
    perm = None if tuple(present) == labels else tuple(labels.index(ix) for ix in present)
    expand = None if len(present) == len(region.labels) else tuple(
        sizes[ix] if ix in labels else 1 for ix in region.labels)
    step = Accumulate(target, src, coeff, region, dtype, perm, expand, None, assign,
                      adopt if assign else None, subtract)
    shape = [sizes[ix] for ix in region.labels]
    nbytes = math.prod(shape) * dtype.itemsize
    if shape and nbytes > SLAB_BYTES and (step.scaled or not region.identity):
        rows = max(1, SLAB_BYTES * shape[0] // nbytes)
        step = replace(step, slab_rows=tuple((i, min(i + rows, shape[0]))
                                             for i in range(0, shape[0], rows)))
    return step


# -- the plan ----------------------------------------------------------------------------------

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
    # per label of the term's steps, the letter its equation gives it: ``(label, letter)``
    letters: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, eq=False)
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
    leaf_names: tuple[str, ...] = field(default=(), compare=False)  # one per input slot
    backend: str = "numpy"  # whose kernels the plan is priced for and runs on
    optimizer: str = "opt_einsum 'auto'"  # what ordered each term's contraction
    # per step: the index in `terms` of the term it works for (None: zeros of a result, a
    # reshape of a computed node) and which chunk of that term
    step_terms: tuple[int | None, ...] = field(default=(), compare=False)
    step_chunks: tuple[int, ...] = field(default=(), compare=False)
    # per value: the bytes its step allocates (0 for inputs and views), and per step: the bytes
    # it allocates besides its value; the numbers `peak_bytes` adds up, for drawing the plan
    value_bytes: tuple[int, ...] = field(default=(), compare=False)
    step_scratch: tuple[int, ...] = field(default=(), compare=False)
    step_flops: tuple[int, ...] = field(default=(), compare=False)  # a chunk loop's: per chunk

    @property
    def num_terms(self) -> int:
        return len(self.terms)

    def __str__(self) -> str:
        lines = [f"lazyein plan: {self.num_terms} term(s), {self.flops:,} FLOPs, "
                 f"peak working memory ~{format_bytes(self.peak_bytes)}, "
                 f"{self.num_chunks} chunk(s)"]
        if self.backend != "numpy":
            lines[0] += f", on {self.backend}"
        if self.leaf_names:
            lines.append("inputs: " + ", ".join(n for n in self.leaf_names
                                                if not n.startswith("scalar")))
        for k, t in enumerate(self.terms):
            lines.append(f"term {k}: {_coeff(t.coeff)}einsum('{t.equation}')  "
                         f"{t.flops:,} FLOPs, into {t.into}")
            for j, what in enumerate(t.factors):
                lines.append(f"    factor {j}: {what}")
            if t.sliced:
                lines.append(f"    sliced into {t.num_chunks} chunks: {'; '.join(t.sliced)}")
            if len(t.path) > 1 or (t.path and len(t.path[0]) > 1):
                lines.append(f"    contraction order: {list(t.path)}")
        for what in self.materialized:
            lines.append(f"materialized: {what}")
        lines.append(f"contraction orders: {self.optimizer}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<Plan {self.num_terms} terms, {self.flops:,} FLOPs, "
                f"peak ~{format_bytes(self.peak_bytes)}>")


def _coeff(c) -> str:
    return "" if c == 1 else f"{c!r} * "
