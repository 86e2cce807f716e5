"""Run a plan's records through a backend: each step compiled once per plan, then run in order.

Compiling turns every record into a function of the value table made of the backend's few
operations (`lazyein.backends.base`); a chunk loop becomes a function that moves its views
from chunk to chunk. A plan run again (the same expression computed twice, a dask task run
on many blocks) compiles nothing.
"""

from __future__ import annotations

import itertools
import weakref

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
        return tuple(_compile(step, backend) for step in steps)
    if (per_owner := _COMPILED.get(owner)) is None:  # (setdefault would make a weakref)
        per_owner = _COMPILED[owner] = {}
    if (hit := per_owner.get(backend.name)) is None:
        hit = per_owner[backend.name] = tuple(_compile(step, backend) for step in steps)
    return hit


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
            add, region = _accumulator(step, backend), backend.region
            if spec.identity:  # all of the target
                return lambda env: add(env, None)
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
        case Gemm(swap, (pa, pb), (ma, mb), out_shape):
            matmul = backend.matmul

            def gemm(a, b):
                x, y = reshape(permute(a, pa), ma), reshape(permute(b, pb), mb)
                if swap:
                    x, y = y, x
                return reshape(matmul(x, y, dtype), out_shape)
            return gemm
    raise AssertionError(form)


def _accumulator(step: Accumulate, backend: Backend):
    """``add(env, region)``: the record's term (permuted, broadcast, scaled) added into a
    region of its target (None: all of it), slab by slab where the backend writes regions in
    place (a chunk loop calls it with each chunk's region)."""
    target, src, coeff, dtype, assign = step.target, step.src, step.coeff, step.dtype, \
        step.assign
    perm, expand, write = step.perm, step.expand, backend.write
    permute, reshape, sub, take = backend.permute, backend.reshape, backend.sub, backend.take
    scale = coeff if src is not None and coeff != 1 else None
    slabs = step.slab_rows if backend.slab_writes else None

    def add(env, region):
        value = coeff if src is None else env[src]
        if src is not None:
            if perm is not None:
                value = permute(value, perm)
            if expand is not None:
                value = reshape(value, expand)
        if slabs is None:
            env[target] = write(env[target], region, value, scale, dtype, assign)
            return
        whole = src is None or not value.shape or value.shape[0] == 1
        into = env[target]
        for a, b in slabs:
            part = (slice(a, b), Ellipsis)
            into = write(into, sub(region, part), value if whole else take(value, part),
                         scale, dtype, assign)
        env[target] = into

    return add


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
    bar, flags = ticks if ticks is not None else (None, ())
    for k, (fn, dead) in enumerate(zip(compiled(steps, backend, owner), frees)):
        if bar is not None and getattr(fn, "loop", False):
            fn(env, bar)
        else:
            fn(env)
        for value in dead:
            env[value] = None
        if bar is not None and flags[k]:
            bar.update(1)
