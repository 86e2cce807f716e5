"""Run a plan's records through a backend: each step compiled once per plan, then run in order.

Compiling turns every record into a function of the value table made of the backend's few
operations (`lazyein.backends.base`); a chunk loop becomes a function that moves its views
from chunk to chunk. A plan run again (the same expression computed twice, a dask task run
on many blocks) compiles nothing.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

from . import caches
from .backends.base import Backend
from .steps import (
    Accumulate,
    ChunkLoop,
    Contract,
    Dots,
    Elementwise,
    Gemm,
    Product,
    Reshape,
    Sum,
    View,
    Zeros,
)

__all__ = ["compiled", "run_steps"]


def compiled(steps: tuple, backend: Backend, owner=None) -> tuple:
    """`steps` compiled for `backend`; kept with `owner` (a plan) while it lives."""
    if owner is None:
        return _compile_all(steps, backend)
    if (per_owner := _COMPILED.get(owner)) is None:  # (setdefault would make a weakref)
        per_owner = _COMPILED[owner] = {}
    if (hit := per_owner.get(backend.name)) is None:
        hit = per_owner[backend.name] = _compile_all(steps, backend)
    return hit


def _compile_all(steps: tuple, backend: Backend) -> tuple:
    # a buffer whose first term's own array becomes it (`Accumulate.adopt`) is never made:
    # nothing reads it before (the planner counts it, so the run stays within the plan)
    adopted = {step.target for step in steps
               if isinstance(step, Accumulate) and step.assign and step.adopt is not None}
    return tuple(_unmade if isinstance(step, Zeros) and step.out in adopted and not step.fill
                 else _compile(step, backend) for step in steps)


def _unmade(env):
    """The run of a `Zeros` whose buffer is adopted: nothing."""


# per plan (or term program): its steps compiled for each backend it ran on
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@caches.register_cache
def clear():
    """Forget every compiled plan."""
    _COMPILED.clear()


def _compile(step, backend: Backend):
    """The run of one record: a function of the value table."""
    match step:
        case ChunkLoop():
            return _compile_loop(step, backend)
        case View(out, src, spec) if spec.identity:
            def run(env):
                env[out] = env[src]
        case View(out, src, spec):
            view = backend.view

            def run(env):
                env[out] = view(env[src], spec)
        case Contract():
            return _compile_contract(step, backend)
        case Zeros(out, shape, dtype, fill):
            zeros = backend.zeros

            def run(env):
                env[out] = zeros(shape, dtype, fill, env[out])
        case Reshape(out, src, shape):
            reshape = backend.reshape

            def run(env):
                env[out] = reshape(env[src], shape)
        case Elementwise(out, src, fn, dtype):
            elementwise = backend.elementwise

            def run(env):
                env[out] = elementwise(env[src], fn, dtype)
        case Accumulate(target=target, region=spec):
            if spec.identity or (step.assign and step.adopt is not None):  # all of it
                return _accumulator(step, backend, whole=True)
            add, region = _accumulator(step, backend), backend.region
            return lambda env: add(env, region(env[target], spec))
        case _:
            raise AssertionError(f"no run for {step!r}")
    return run


def _compile_contract(step: Contract, backend: Backend):
    """A contraction's run: one sum, or the sums taken first and one pairwise product."""
    out, args, dtype, form = step.out, step.args, step.dtype, step.form
    total = backend.sum
    if isinstance(form, Sum):
        (a,), (axes, shape) = args, form

        def run(env):
            env[out] = total(env[a], axes, dtype, shape)
        return run
    pairwise = _pairwise(form, dtype, backend)
    (sum_a, sum_b), (a, b) = step.presums, args
    if sum_a or sum_b:  # labels only one side has and nobody needs are summed away first
        def run(env):
            x, y = env[a], env[b]
            env[out] = pairwise(total(x, sum_a, dtype) if sum_a else x,
                                total(y, sum_b, dtype) if sum_b else y)
    else:
        def run(env):
            env[out] = pairwise(env[a], env[b])
    return run


def _pairwise(form, dtype, backend: Backend):
    """The product of two operands as `form` lays it out, from the backend's operations."""
    permute, reshape = backend.permute, backend.reshape
    match form:
        case Product((pa, pb), (sa, sb)):
            multiply = backend.multiply
            return lambda a, b: multiply(reshape(permute(a, pa), sa),
                                         reshape(permute(b, pb), sb), dtype)
        case Dots(inputs, output):
            dots = backend.dots
            return lambda a, b: dots(inputs, output, a, b, dtype)
        case Gemm(swap, perms, shapes, out_shape, arg_shapes):
            return _gemm(swap, perms, shapes, out_shape, arg_shapes, dtype, backend)
    raise AssertionError(form)


def _gemm(swap, perms, shapes, out_shape, arg_shapes, dtype, backend: Backend):
    """A matrix product's run: each operand laid out as the record says, skipping permutes
    and reshapes that do nothing (a chain of small products is mostly such calls)."""
    lay_a, lay_b = (_laid_out(*args, backend) for args in zip(perms, arg_shapes, shapes))
    (*bx, nl, _), (*by, _, nr) = shapes[::-1] if swap else shapes
    made = tuple(np.broadcast_shapes(tuple(bx), tuple(by))) + (nl, nr)
    matmul, reshape = backend.matmul, backend.reshape
    finish = None if made == tuple(out_shape) else out_shape

    def gemm(a, b):
        x = a if lay_a is None else lay_a(a)
        y = b if lay_b is None else lay_b(b)
        product = matmul(y, x, dtype) if swap else matmul(x, y, dtype)
        return product if finish is None else reshape(product, finish)
    return gemm


def _laid_out(perm, shape, matrix, backend: Backend):
    """The function laying an operand of `shape` out as `matrix` (permuted by `perm`, then
    reshaped), or None where it is that already."""
    permute, reshape = backend.permute, backend.reshape
    kept = perm == tuple(range(len(perm)))
    if len(shape) != len(perm):  # shapes unknown (a record made without them)
        return lambda x: reshape(permute(x, perm), matrix)
    if tuple(shape[i] for i in perm) == tuple(matrix):
        return None if kept else (lambda x: permute(x, perm))
    if kept:
        return lambda x: reshape(x, matrix)
    return lambda x: reshape(permute(x, perm), matrix)


def _accumulator(step: Accumulate, backend: Backend, whole: bool = False):
    """``add(env, region)``: the record's term (permuted, broadcast, scaled) added into a
    region of its target (None: all of it), slab by slab where the backend writes regions in
    place (a chunk loop calls it with each chunk's region). With `whole`, ``add(env)`` into
    all of the target (a sum of 100,000 terms runs 100,000 of these: no call to spare)."""
    target, dtype, assign, write = step.target, step.dtype, step.assign, backend.write
    if assign and step.adopt is not None:  # the term's fresh array is the target: no copy
        src, shape, reshape = step.src, step.adopt, backend.reshape

        def adopt(env, region=None):
            env[target] = reshape(env[src], shape)
        return adopt
    term = _term(step, backend)
    scale = step.coeff if step.src is not None and step.coeff != 1 else None
    # an assign reads nothing it writes, so numpy copies nothing of its region: one call
    slabs = step.slab_rows if backend.slab_writes and not assign else None
    if slabs is None and whole:
        if step.src is not None and step.perm is None and step.expand is None:
            src = step.src

            def add_term(env):
                env[target] = write(env[target], None, env[src], scale, dtype, assign)
            return add_term

        def add_whole(env):
            env[target] = write(env[target], None, term(env), scale, dtype, assign)
        return add_whole
    if slabs is None:
        def add(env, region):
            env[target] = write(env[target], region, term(env), scale, dtype, assign)
        return add
    sub, take, zeros, scaled = backend.sub, backend.take, backend.zeros, step.scaled
    rows = max(b - a for a, b in slabs)

    def add_slabs(env, region):
        value, into = term(env), env[target]
        region = into if region is None else region
        same = step.src is None or not value.shape or value.shape[0] == 1  # in every slab
        # one scratch for all slabs, the size of a slab of the term: it stays in cache, so
        # the scaled add streams the term and the target once and allocates nothing big
        scratch = None if not scaled else zeros(
            (value.size if same else rows * (value.size // value.shape[0]),), dtype, False)
        for a, b in slabs:
            part = (slice(a, b), Ellipsis)
            into = write(into, sub(region, part), value if same else take(value, part),
                         scale, dtype, False, scratch)
        env[target] = into
    return (lambda env: add_slabs(env, None)) if whole else add_slabs


def _term(step: Accumulate, backend: Backend):
    """``term(env)``: the record's term permuted and reshaped to broadcast into its region
    (the constant `coeff` for a term without factors)."""
    src, coeff, perm, expand = step.src, step.coeff, step.perm, step.expand
    if src is None:
        return lambda env: coeff
    permute, reshape = backend.permute, backend.reshape
    if perm is None and expand is None:
        return lambda env: env[src]
    if expand is None:
        return lambda env: permute(env[src], perm)
    if perm is None:
        return lambda env: reshape(env[src], expand)
    return lambda env: reshape(permute(env[src], perm), expand)


def _compile_loop(loop: ChunkLoop, backend: Backend):
    """A chunk loop's run: per chunk, its body with each moved view sliced out of a view taken
    over all of the group's chunks once per run."""
    body = []
    for step, moved in zip(loop.body, loop.moved):
        if moved is None:
            body.append((_compile(step, backend), None, None))
        elif isinstance(step, View):
            out = step.out

            def set_view(env, region, out=out):
                env[out] = region
            body.append((set_view, moved, step.src))
        else:
            body.append((_accumulator(step, backend), moved, step.target))
    # a view read is taken over all chunks and sliced; a write goes to a region, likewise
    whole_of = [backend.chunked_view if isinstance(step, View) else backend.region
                for step in loop.body]
    part_of = [backend.take if isinstance(step, View) else backend.sub for step in loop.body]
    labels = [ix for ix, _ in loop.starts]
    ranges = [r for _, r in loop.starts]
    first = [r[0] for r in ranges]

    def run(env, bar=None):
        wholes = [None if moved is None else whole(env[source], moved.whole)
                  for (_, moved, source), whole in zip(body, whole_of)]
        for combo in itertools.islice(itertools.product(*ranges), 1, None):
            delta = {ix: start - f for ix, start, f in zip(labels, combo, first)}
            for (fn, moved, _), whole, part, dead in zip(body, wholes, part_of, loop.frees):
                if moved is None:
                    fn(env)
                else:
                    index = [slice(None)] * len(moved.whole.labels) + [Ellipsis]
                    for axis, ix, size in moved.moves:
                        index[axis] = slice(delta[ix], delta[ix] + size)
                    fn(env, part(whole, tuple(index)))  # 0-d stays an array: the Ellipsis
                for value in dead:
                    env[value] = None
            if bar is not None:
                bar.update(1)

    run.loop = True
    return run


def run_steps(steps, frees, env, backend: Backend, owner=None, ticks=None):
    """Run the records `steps` in order over the value table `env` with `backend`, dropping
    each value after its last use (`frees`).

    `owner` keeps the compiled steps (a plan: compiled once, however often it runs). `ticks`
    is an optional ``(bar, flags)``: ``bar.update(1)`` after each step whose flag is set (the
    last step of a chunk); a chunk loop ticks once per chunk it runs."""
    if ticks is None:  # the common run, with nothing to count
        for fn, dead in zip(compiled(steps, backend, owner), frees):
            fn(env)
            for value in dead:
                env[value] = None
        return
    bar, flags = ticks
    for k, (fn, dead) in enumerate(zip(compiled(steps, backend, owner), frees)):
        if bar is not None and getattr(fn, "loop", False):
            fn(env, bar)
        else:
            fn(env)
        for value in dead:
            env[value] = None
        if bar is not None and flags[k]:
            bar.update(1)
