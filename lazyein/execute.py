"""Run a plan's records through a backend: each step compiled once per plan, then run in order.

Compiling turns every record into the backend's function of the value table; a chunk loop
becomes a function that moves its views from chunk to chunk. A plan run again (the same
expression computed twice, a dask task run on many blocks) compiles nothing.
"""

from __future__ import annotations

import itertools
import weakref

from . import caches
from .backends.base import Backend
from .steps import ChunkLoop, View

__all__ = ["compiled", "run_steps"]


def compiled(steps: tuple, backend: Backend, owner=None) -> tuple:
    """`steps` compiled for `backend`; kept with `owner` (a plan) while it lives."""
    if owner is None:
        return tuple(_compile(step, backend) for step in steps)
    per_owner = _COMPILED.setdefault(owner, {})
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
    if isinstance(step, ChunkLoop):
        return _compile_loop(step, backend)
    return backend.compile(step)


def _compile_loop(loop: ChunkLoop, backend: Backend):
    """A chunk loop's run: per chunk, its body with each moved view sliced out of a view taken
    over all of the group's chunks once per run."""
    body = []
    for step, moved in zip(loop.body, loop.moved):
        if moved is None:
            body.append((backend.compile(step), None, None))
        elif isinstance(step, View):
            out = step.out

            def set_view(env, region, out=out):
                env[out] = region
            body.append((set_view, moved, step.src))
        else:
            body.append((backend.accumulator(step), moved, step.target))
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
