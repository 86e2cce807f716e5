"""Run a plan's steps on numpy arrays: views of the leaves, BLAS for contractions.

Every step works out its permutations and shapes when the plan is built, so running a
cached plan does no index bookkeeping.
"""

from __future__ import annotations

import itertools
import math
import string

import numpy as np

from .sop import Axis

__all__ = ["View", "Contract", "Zeros", "Accumulate", "Reshape", "ChunkLoop", "result_labels",
           "ViewRecipe", "layout", "run_steps"]


_LETTERS = string.ascii_letters


def _pair_labels(la, lb, keep) -> tuple[tuple, tuple, tuple, tuple]:
    """Split the labels of a pairwise contraction into (batch, left, contracted, right)."""
    sa, sb = set(la), set(lb)
    batch = tuple(ix for ix in la if ix in sb and ix in keep)
    contracted = tuple(ix for ix in la if ix in sb and ix not in keep)
    left = tuple(ix for ix in la if ix not in sb and ix in keep)
    right = tuple(ix for ix in lb if ix not in sa and ix in keep)
    return batch, left, contracted, right


# below this many multiply-adds per matrix product, a batch loop that repeats one operand
# costs more than it saves; the result is then made in numpy's natural order and permuted
_MIN_BROADCAST_GEMM = 1 << 15


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
    `want` when that order comes at no extra cost, else numpy's natural order."""
    la, lb = _drop_unused(la, lb, keep)
    batch, left, contracted, right = _pair_labels(la, lb, keep)
    if want is not None and (not contracted or not (left or right)):
        return tuple(want)  # broadcasting products and einsum make any order directly
    _, b, lft, _, rgt = _matmul_layout(la, lb, keep, sizes, want)
    return b + lft + rgt


class ViewRecipe:
    """How to take the view that `axes` describe of an array: an index, a split of axes,
    slices of the parts, and a diagonal for repeated labels. None of these copies."""

    __slots__ = ("index", "split", "trims", "diagonal", "labels", "identity", "strided")

    def __init__(self, axes: tuple[Axis, ...], shape: tuple[int, ...], sizes):
        self.strided = None
        if any(ax.steps is not None for ax in axes):
            self._window(axes, sizes)
            return
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
        unique = list(dict.fromkeys(labels))
        self.labels = tuple(unique)
        # the Ellipsis keeps an all-integer index a (0-d) view rather than a scalar copy
        self.index = (*index, Ellipsis) if any(i != slice(None) for i in index) else None
        self.split = tuple(split) if any(len(ax.subs) > 1 for ax in axes) else None
        self.trims = tuple(trims) if any(t != slice(None) for t in trims) else None
        self.diagonal = None
        if len(unique) != len(labels):
            groups = [[k for k, ix in enumerate(labels) if ix == u] for u in unique]
            self.diagonal = (tuple(sizes[u] for u in unique), tuple(groups))
        self.identity = (self.index is None and self.split is None and self.trims is None
                         and self.diagonal is None)

    def _window(self, axes, sizes):
        """A window axis (``x = u + a``) is no slice or split: the view is made from the
        strides directly, each label's stride the sum of the axes' strides it moves."""
        origin, steps = [], {}
        for k, ax in enumerate(axes):
            origin.append(ax.start + sum(s.offset * st for s, st in zip(ax.subs, ax.strides)))
            for s, st in zip(ax.subs, ax.strides):
                steps.setdefault(s.label, []).append((k, st))
        self.labels = tuple(steps)
        shape = tuple(sizes[ix] for ix in steps)
        self.strided = ((*(slice(i, i + 1) for i in origin), Ellipsis), shape,
                        tuple(steps.values()))
        self.index = self.split = self.trims = self.diagonal = None
        self.identity = False

    def __call__(self, array: np.ndarray) -> np.ndarray:
        if self.identity:
            return array
        if self.strided is not None:
            origin, shape, steps = self.strided
            strides = tuple(sum(array.strides[k] * st for k, st in moves) for moves in steps)
            return np.lib.stride_tricks.as_strided(array[origin], shape, strides,
                                                   writeable=array.flags.writeable)
        if self.index is not None:
            array = array[self.index]
        if self.split is not None:
            array = np.reshape(array, self.split, copy=False)  # splits only: always a view
        if self.trims is not None:
            array = array[self.trims]
        if self.diagonal is not None:
            shape, groups = self.diagonal
            strides = [sum(array.strides[k] for k in g) for g in groups]
            array = np.lib.stride_tricks.as_strided(array, shape, strides)
        return array


class View:
    """``env[out] = a strided view of env[src]``."""

    __slots__ = ("out", "src", "recipe")

    def __init__(self, out: int, src: int, recipe: ViewRecipe):
        self.out, self.src, self.recipe = out, src, recipe

    def run(self, env):
        env[self.out] = self.recipe(env[self.src])


class Contract:
    """``env[out] = contraction of env[args]``, whose labels come out in the order `result`
    (see `result_labels`): one operand is summed; two are multiplied by broadcasting, by
    einsum (batched dot products) or by matmul (BLAS), whichever the labels call for.

    Every kernel computes in `dtype`, the term's common type, so a float32 operand met by a
    float64 one is summed in float64 as numpy's einsum would."""

    __slots__ = ("out", "args", "labels", "labels_out", "dtype", "_run", "_sums", "_matrices")

    def __init__(self, out, args, labels, result, sizes, dtype):
        self.out, self.args, self.labels = out, tuple(args), tuple(map(tuple, labels))
        self.labels_out, self.dtype = tuple(result), np.dtype(dtype)
        self._sums, self._matrices = ((), ()), None
        if len(self.args) == 1:
            self._run = self._sum_kernel(self.labels[0], sizes)
            return
        la, lb = self.labels
        keep = set(result)
        kept_a, kept_b = _drop_unused(la, lb, keep)
        # labels only one side has and nobody needs are summed away first
        self._sums = tuple(tuple(i for i, ix in enumerate(ls) if ix not in kept)
                           for ls, kept in ((la, kept_a), (lb, kept_b)))
        _, left, contracted, right = _pair_labels(kept_a, kept_b, keep)
        if not contracted:
            pairwise = self._product_kernel(kept_a, kept_b, sizes)
        elif not left and not right and len(set(kept_a + kept_b)) <= len(_LETTERS):
            pairwise = self._dots_kernel(kept_a, kept_b)
        else:
            pairwise = self._gemm_kernel(kept_a, kept_b, sizes)
        sum_a, sum_b = self._sums
        if sum_a or sum_b:
            dtype = self.dtype
            self._run = lambda a, b: pairwise(
                np.sum(a, axis=sum_a, dtype=dtype) if sum_a else a,
                np.sum(b, axis=sum_b, dtype=dtype) if sum_b else b)
        else:
            self._run = pairwise

    def _sum_kernel(self, la, sizes):
        axes = tuple(i for i, ix in enumerate(la) if ix not in self.labels_out)
        shape, dtype = tuple(sizes[ix] for ix in self.labels_out), self.dtype
        return lambda a: np.sum(a, axis=axes, dtype=dtype, out=np.empty(shape, dtype))

    def _product_kernel(self, la, lb, sizes):
        """An outer or Hadamard product: broadcasting, nothing for BLAS to gain."""
        result, dtype = self.labels_out, self.dtype
        pa = [la.index(ix) for ix in result if ix in la]
        pb = [lb.index(ix) for ix in result if ix in lb]
        sa = tuple(sizes[ix] if ix in la else 1 for ix in result)
        sb = tuple(sizes[ix] if ix in lb else 1 for ix in result)
        return lambda a, b: np.multiply(a.transpose(pa).reshape(sa),
                                        b.transpose(pb).reshape(sb), dtype=dtype, order="C")

    def _dots_kernel(self, la, lb):
        """Batched dot products: einsum streams them with no copies."""
        local = {ix: _LETTERS[k] for k, ix in enumerate(dict.fromkeys(la + lb))}
        spec = ",".join("".join(map(local.get, ls)) for ls in (la, lb))
        spec += "->" + "".join(map(local.get, self.labels_out))
        dtype = self.dtype
        return lambda a, b: np.einsum(spec, a, b, dtype=dtype, order="C")

    def _gemm_kernel(self, la, lb, sizes):
        """One (batched) matmul, laid out by `_matmul_layout` to give the result's order."""
        result, dtype = self.labels_out, self.dtype
        swap, batch, left, con, right = _matmul_layout(la, lb, set(result), sizes, result)
        assert batch + left + right == result, (la, lb, result)
        lx, ly = (lb, la) if swap else (la, lb)
        nl, nc, nr = (math.prod(sizes[ix] for ix in g) for g in (left, con, right))
        if all(ix in lx and ix in ly for ix in batch):  # a plain batch: one axis of it
            bx = by = (math.prod(sizes[ix] for ix in batch),)
        else:  # broadcast: each batch label an axis, 1 on the side that lacks it
            bx = tuple(sizes[ix] if ix in lx else 1 for ix in batch)
            by = tuple(sizes[ix] if ix in ly else 1 for ix in batch)
        if bx == by == (1,) * len(bx):  # no batch at all: plain 2-D matmul takes BLAS's path
            bx = by = ()
        px = [lx.index(ix) for ix in batch + left + con if ix in lx]
        py = [ly.index(ix) for ix in batch + con + right if ix in ly]
        mx, my = bx + (nl, nc), by + (nc, nr)
        self._matrices = [(py, my), (px, mx)] if swap else [(px, mx), (py, my)]  # arg order
        out_shape = tuple(sizes[ix] for ix in result)
        # the floats BLAS multiplies: operands are cast first, so matmul's own loop runs on
        # its native type (asking matmul for dtype= can leave BLAS unused)
        blas = dtype in (np.float32, np.float64, np.complex64, np.complex128)

        def gemm(a, b):
            x, y = (b, a) if swap else (a, b)
            x, y = x.transpose(px).reshape(mx), y.transpose(py).reshape(my)
            if blas:
                return np.matmul(x.astype(dtype, copy=False),
                                 y.astype(dtype, copy=False)).reshape(out_shape)
            return np.matmul(x, y, dtype=dtype).reshape(out_shape)

        return gemm

    def scratch_bytes(self, *operands: np.ndarray) -> int:
        """Bytes this step allocates besides its result, for operands laid out as these
        (arrays with the real strides; their data is never read)."""
        total = 0
        operands = list(operands)
        for k, axes in enumerate(self._sums if len(operands) == 2 else ()):
            if axes:
                shape = [d for i, d in enumerate(operands[k].shape) if i not in axes]
                total += math.prod(shape) * self.dtype.itemsize
                operands[k] = layout(shape, self.dtype)
        for (perm, shape), x in zip(self._matrices or (), operands):
            try:  # a reshape that needs a copy says so instead of making one
                np.reshape(x.transpose(perm), shape, copy=False)
            except ValueError:
                total += math.prod(shape) * x.dtype.itemsize
            if x.dtype != self.dtype:  # matmul casts a whole operand to the common dtype
                total += math.prod(shape) * self.dtype.itemsize
        return total

    @property
    def matrices(self):
        """For a matmul, each operand's ``(permutation, batch + matrix shape)``; else None."""
        return self._matrices

    def run(self, env):
        result = self._run(*(env[a] for a in self.args))
        # full reductions hand back numpy scalars; a plan's values are always arrays
        env[self.out] = result if self.labels_out else np.asarray(result)


def layout(shape, dtype, strides=None) -> np.ndarray:
    """An array with the given shape and strides (C order by default) over one element:
    for working out which reshapes are views. Its elements must never be read."""
    dtype = np.dtype(dtype)
    if strides is None:
        strides, step = [], dtype.itemsize
        for d in reversed(shape):
            strides.append(step)
            step *= max(d, 1)
        strides = strides[::-1]
    return np.lib.stride_tricks.as_strided(np.empty(1, dtype), tuple(shape), tuple(strides),
                                           writeable=False)


class Zeros:
    """``env[out] = zeros(shape, dtype)``: a result buffer that terms accumulate into; left
    unfilled (`fill` false) when the first term written into it covers all of it."""

    __slots__ = ("out", "shape", "dtype", "fill")

    def __init__(self, out, shape, dtype):
        self.out, self.shape, self.dtype, self.fill = out, shape, dtype, True

    def run(self, env):
        if env[self.out] is None:
            env[self.out] = (np.zeros if self.fill else np.empty)(self.shape, self.dtype)
        elif self.fill:  # a buffer the caller supplied (a scratch memmap for out=)
            env[self.out][...] = 0


class Reshape:
    """``env[out] = env[src].reshape(shape)`` of a freshly computed (contiguous) array."""

    __slots__ = ("out", "src", "shape")

    def __init__(self, out, src, shape):
        self.out, self.src, self.shape = out, src, shape

    def run(self, env):
        env[self.out] = env[self.src].reshape(self.shape)


# numpy's in-place add into a strided region of more than a few axes can copy the whole
# region first; adding slab by slab bounds that copy (and a scaled term's) by this much
SLAB_BYTES = 1 << 18


class Accumulate:
    """``region of env[target] += coeff * env[src]``, broadcasting labels `src` lacks."""

    __slots__ = ("target", "src", "coeff", "region", "perm", "expand", "dtype", "slabs",
                 "scratch", "assign")

    def __init__(self, target, src, labels, coeff, region: ViewRecipe, sizes, dtype,
                 assign=False):
        self.assign = assign  # the first write into an unfilled buffer: copy, do not add
        if np.dtype(dtype).kind in "biu":
            # integer results wrap as numpy's do: -1 in uint8 arithmetic is 255
            with np.errstate(all="ignore"):
                coeff = np.array(coeff).astype(dtype)[()]
        self.target, self.src, self.coeff, self.region = target, src, coeff, region
        self.dtype = np.dtype(dtype)
        labels = tuple(labels)
        present = [ix for ix in region.labels if ix in labels]
        assert set(present) == set(labels), (labels, region.labels)
        self.perm = None if tuple(present) == labels else [labels.index(ix) for ix in present]
        self.expand = None if len(present) == len(region.labels) else tuple(
            sizes[ix] if ix in labels else 1 for ix in region.labels)
        shape = [sizes[ix] for ix in region.labels]
        nbytes = math.prod(shape) * self.dtype.itemsize
        self.slabs = None
        if shape and nbytes > SLAB_BYTES and not region.identity:
            rows = max(1, SLAB_BYTES * shape[0] // nbytes)
            self.slabs = [slice(i, i + rows) for i in range(0, shape[0], rows)]
            nbytes = rows * nbytes // shape[0]
        scaled = src is not None and coeff != 1
        # bytes allocated besides the result: the copy numpy may make of the region, and the
        # scaled term
        self.scratch = nbytes * (1 + scaled) if (self.slabs or scaled) else 0

    def run(self, env):
        self.add(env, self.region)

    def add(self, env, region: ViewRecipe):
        """Add into the region `region` takes of the target (a chunk's, in a loop)."""
        region = region(env[self.target])
        value = self.coeff if self.src is None else env[self.src]
        if self.src is not None:
            if self.perm is not None:
                value = value.transpose(self.perm)
            if self.expand is not None:
                value = value.reshape(self.expand)
        if self.slabs is None:
            self._add(region, value)
            return
        whole = np.ndim(value) == 0 or value.shape[0] == 1
        for rows in self.slabs:
            self._add(region[rows], value if whole else value[rows])

    def _add(self, region, value):
        if self.src is not None and self.coeff != 1:
            # scaled in the result's dtype: float32 / 1.5 into a float64 result
            value = np.multiply(value, self.coeff, dtype=self.dtype, casting="unsafe")
        if self.assign:
            np.copyto(region, value, casting="unsafe")
        else:
            np.add(region, value, out=region, casting="unsafe")


class ChunkLoop:
    """Runs a sliced term's further chunks of one shape: the steps of its first chunk again,
    with the views of inputs and the region of the output moved to each chunk. A moved view
    is a slice of one view taken over all of the group's chunks, once per run. Everything
    else (matmul layouts, value slots) is reused, so the loop allocates nothing that grows
    with the number of chunks."""

    __slots__ = ("body", "moved", "starts", "frees", "peak", "positions", "reads")

    def __init__(self, body, moved, starts: dict[int, range]):
        self.body = tuple(body)
        # per body step, when the sliced labels move the view it takes (a View's of its
        # source, an Accumulate's of its target): the view over every chunk of the group,
        # and per sliced label it has, its axis in that view and its size in a chunk
        self.moved = tuple(moved)
        self.starts = starts  # per sliced label: the starts of this group's chunks
        self.frees: tuple = ()  # per body step, values to drop: set once lifetimes are known
        self.peak = 0           # most bytes one chunk holds at once, likewise
        self.positions: tuple = ()  # the plan's indices of the body steps (the planner's)
        self.reads: tuple = ()      # values the body reads that it does not make

    @property
    def count(self) -> int:
        """The chunks the loop runs (the group's first one ran before it)."""
        return math.prod(len(r) for r in self.starts.values()) - 1

    def run(self, env, bar=None):
        whole = [None if moved is None else moved[0](
            env[step.src if isinstance(step, View) else step.target])
            for step, moved in zip(self.body, self.moved)]
        labels, ranges = list(self.starts), list(self.starts.values())
        first = [r[0] for r in ranges]
        for combo in itertools.islice(itertools.product(*ranges), 1, None):
            delta = {ix: start - f for ix, start, f in zip(labels, combo, first)}
            for step, moved, view, dead in zip(self.body, self.moved, whole, self.frees):
                if moved is None:
                    step.run(env)
                else:
                    index = [slice(None)] * view.ndim + [Ellipsis]  # 0-d stays an array
                    for axis, ix, size in moved[1]:
                        index[axis] = slice(delta[ix], delta[ix] + size)
                    if isinstance(step, View):
                        env[step.out] = view[tuple(index)]
                    else:
                        region = view[tuple(index)]
                        step.add(env, lambda _target, region=region: region)
                for value in dead:
                    env[value] = None
            if bar is not None:
                bar.update(1)


def run_steps(steps, frees, env, ticks=None):
    """Run `steps` in order over the value table `env`, dropping each value after its last use.

    `ticks` is an optional ``(bar, flags)``: ``bar.update(1)`` after each step whose flag is
    set (the last step of a chunk)."""
    bar, flags = ticks if ticks is not None else (None, ())
    for k, (step, dead) in enumerate(zip(steps, frees)):
        if isinstance(step, ChunkLoop):
            step.run(env, bar)
        else:
            step.run(env)
        for value in dead:
            env[value] = None
        if bar is not None and flags[k]:
            bar.update(1)
