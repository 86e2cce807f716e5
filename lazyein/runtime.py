"""The runtime driver: plans looked up or made, run on numpy or dask, written to `out`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile

import numpy as np

from . import caches
from .backends.base import Backend
from .backends.numpy import NUMPY
from .budget import plan_within
from .errors import LazyeinError
from .execute import run_steps
from .ir import NUMPY_LIBRARIES, Node, Op, toposort
from .paths import AUTO, Optimizer
from .signature import roots_signature
from .steps import SLAB_BYTES, ChunkLoop, Plan

__all__ = ["compute", "plan_for", "to_dask", "backend_of", "raise_unbound"]


def compute(roots: tuple[Node, ...], budget: int | None, out, progress, scheduler=None,
            backend: Backend = NUMPY, optimize: Optimizer = AUTO):
    """The values of `roots` as a tuple of new arrays, or ``(out,)`` with `out` filled.

    Arguments are checked already (in `api`): `budget` is a byte count or None, `out` is None
    or a writeable array of `backend`'s library, of the one root's shape, that its dtype
    casts to safely; `optimize` orders each term's contraction."""
    if backend is not NUMPY:
        return _in_library(roots, budget, out, progress, backend, optimize)
    if scheduler is not None or any(r.library == "dask" for r in roots):
        return _on_dask(roots, budget, out, progress, scheduler, optimize)
    # an `out=` on disk takes a result larger than memory: the plan writes it region by
    # region into a scratch file beside it, never holding the whole result
    on_disk = isinstance(out, np.memmap) and out.filename is not None
    plan, arrays = plan_for(roots, budget, stream_results=on_disk, bound=True,
                            optimize=optimize)
    env = list(arrays) + [None] * (plan.num_values - plan.num_leaves)
    with contextlib.ExitStack() as cleanup:
        if on_disk:
            # computed aside, so `out` is untouched if anything fails; copied in slabs
            env[plan.outputs[0]] = _scratch_memmap(out, roots[0], cleanup)
        results = _run(plan, env, NUMPY, progress, cleanup)
        if out is not None:
            _copy_in_slabs(out, results[0])
            return (out,)
    return tuple(results)


def plan_for(roots, budget=None, stream_results=False, backend: Backend = NUMPY,
             bound: bool = False, optimize: Optimizer = AUTO) -> tuple[Plan, list]:
    """The plan computing `roots` within `budget` on `backend`, its contractions ordered by
    `optimize`, and the leaves' arrays in its order (a leaf of another library: its own
    array).

    With `bound` (to run the plan), a placeholder among the leaves is an error; a plan over
    placeholders (for explain, or a `le.function`) is never kept per root, so a compute
    always checks."""
    # an optimizer object is keyed by identity (`paths.Optimizer`); the key holds it
    setting = (budget, stream_results, backend.name, optimize)
    known = caches.ROOT_PLANS.get(roots[0]) if len(roots) == 1 else None
    if known is not None and (hit := known.get(setting)) is not None:
        return hit
    key, leaves = _key(roots)
    arrays = [leaf.arg.array if leaf.arg.native is None else leaf.arg.native for leaf in leaves]
    keep = len(roots) == 1
    if unbound := [leaf.arg for leaf in leaves if leaf.arg.placeholder]:
        if bound:
            raise_unbound(unbound)
        keep = False
    # a tighter budget may need a different plan, each backend prices its own kernels, and
    # each optimizer finds its own orders
    key = (key, *setting)
    plan = caches.PLAN_CACHE.get(key)
    if plan is None:
        plan = caches.PLAN_CACHE[key] = plan_within(roots, budget, stream_results, backend,
                                                    optimize)
        if len(caches.PLAN_CACHE) > caches.PLAN_CACHE_SIZE:
            caches.PLAN_CACHE.popitem(last=False)
    else:
        caches.PLAN_CACHE.move_to_end(key)
    if keep:
        _keep(caches.ROOT_PLANS.setdefault(roots[0], {}), setting, (plan, arrays))
    return plan, arrays


def _key(roots: tuple[Node, ...]) -> tuple[tuple, tuple[Node, ...]]:
    """A key equal for DAGs of equal structure, shapes, dtypes and input strides (see
    `signature`), and the leaves in plan order: from the roots' signatures, which cost only
    nodes not seen before, or from a walk of a DAG over too many inputs."""
    if (found := roots_signature(roots)) is None:
        return _structure(roots)
    key, inputs = found
    return ("signature", key), inputs


def raise_unbound(placeholders):
    """Raise the error of computing an expression that holds `placeholders` (if any)."""
    if placeholders:
        names = ", ".join(_placeholder_name(p) for p in placeholders)
        raise LazyeinError(f"the expression holds placeholder(s) {names} with no array: a "
                           "placeholder is given its array when a le.function of it is "
                           "called (f = le.function(inputs, outputs); f(*arrays)); compute "
                           "cannot run it")


def _placeholder_name(leaf) -> str:
    what = f"{list(leaf.array.shape)} {leaf.array.dtype}"
    return f"{leaf.name!r} ({what})" if leaf.name else f"<unnamed {what}>"


def _structure(roots: tuple[Node, ...]) -> tuple[tuple, list[Node]]:
    """A key equal for DAGs of equal structure, shapes and dtypes, and the leaves in order.

    A big DAG is keyed by a digest of its structure, written out node by node: a cached
    plan must not hold a copy of a graph of many thousands of nodes, nor make one while it
    is looked up (that would count in a first compute's working memory)."""
    nodes = toposort(*roots)
    index, leaves = {}, []

    def described():
        for node in nodes:
            index[node] = len(index)
            if node.op is Op.LEAF:
                leaf = node.arg
                leaves.append(node)
                # strides decide which reshapes copy, so they are part of the memory
                # estimate; names appear in explain()'s report
                yield node.shape, node.dtype.str, leaf.array.strides, leaf.weak, leaf.name
            else:
                yield node.op.value, node.arg, tuple(index[s] for s in node.src)

    if len(nodes) <= _SMALL_DAG:
        key = tuple(described())
    else:
        digest = hashlib.blake2b(digest_size=20)
        for item in described():
            text = repr(item).encode("utf-8", "surrogatepass")
            digest.update(len(text).to_bytes(8, "little"))
            digest.update(text)
        key = digest.digest()
    return (key, tuple(index[r] for r in roots)), leaves


# DAGs up to this many nodes are keyed by their structure written out (cheaper to make than a
# digest); bigger ones by a digest of it
_SMALL_DAG = 1024


def to_dask(roots, budget, optimize: Optimizer = AUTO):
    """The dask arrays computing `roots`; one expression's are kept with it, like its numpy
    plans (a graph over the same inputs computes the same again)."""
    known = caches.ROOT_GRAPHS.get(roots[0]) if len(roots) == 1 else None
    if known is not None and (hit := known.get((budget, optimize))) is not None:
        return hit
    # dask would read a placeholder's stand-in as an array
    raise_unbound([n.arg for n in toposort(*roots) if n.op is Op.LEAF and n.arg.placeholder])
    try:
        from .backends.dask import to_dask as build
    except ImportError as error:
        raise ImportError(f"lazyein on dask needs dask[array] ({error}): "
                          "pip install 'lazyein[dask]'") from None
    arrays = build(roots, budget, optimize)
    if len(roots) == 1:
        _keep(caches.ROOT_GRAPHS.setdefault(roots[0], {}), (budget, optimize), arrays)
    return arrays


def _on_dask(roots, budget, out, progress, scheduler, optimize):
    """`compute` through dask: the arrays `to_dask` makes, computed together."""
    from .backends.dask import compute as run

    results = run(to_dask(roots, budget, optimize), scheduler, progress)
    if out is not None:
        _copy_in_slabs(out, results[0])
        return (out,)
    return tuple(results)


def backend_of(roots) -> Backend:
    """The backend `roots` run on: numpy, or the array-API library of their arrays (on
    those arrays' device)."""
    if all(r.library in NUMPY_LIBRARIES for r in roots):
        return NUMPY
    if len(roots) > 1 or (hit := caches.BACKENDS.get(roots[0])) is None:
        from .backends.array_api import backend_for

        native = next(n.arg.native for n in toposort(*roots)
                      if n.op is Op.LEAF and n.arg.native is not None)
        hit = backend_for(native)
        if len(roots) == 1:
            caches.BACKENDS[roots[0]] = hit
    return hit


def _in_library(roots, budget, out, progress, backend, optimize):
    """`compute` in an array-API library: the same kind of plan, priced and run by its
    backend; results in that library, `out` written once all is computed."""
    plan, arrays = plan_for(roots, budget, False, backend, bound=True, optimize=optimize)
    env = [a if not isinstance(a, np.ndarray) else backend.asarray(a) for a in arrays]
    env += [None] * (plan.num_values - plan.num_leaves)
    with contextlib.ExitStack() as cleanup:
        results = _run(plan, env, backend, progress, cleanup)
    if out is not None:  # untouched until everything is computed
        out[...] = backend.xp.astype(results[0], out.dtype)
        return (out,)
    return tuple(results)


def _run(plan: Plan, env: list, backend: Backend, progress, cleanup) -> list:
    """The results of running `plan` over `env` with `backend` (under a progress bar that
    `cleanup` closes), each an array of its own: ``le.compute(t, t)`` gives two."""
    bar = _progress_bar(plan.num_chunks) if progress else None
    if bar is not None:
        cleanup.callback(bar.close)
    run_steps(plan.steps, plan.frees, env, backend, plan, bar and (bar, _chunk_ends(plan)))
    results = [env[v] for v in plan.outputs]
    for k in range(1, len(results)):
        results[k] = backend.own(results[k], results[:k])
    return results


def _chunk_ends(plan: Plan) -> list[bool]:
    """Per step, whether it ends a chunk of a sliced term: what the progress bar counts (an
    unchunked plan is one chunk, ended by its last step)."""
    last = {}
    for k, (term, chunk) in enumerate(zip(plan.step_terms, plan.step_chunks)):
        # a chunk loop counts its own chunks as it runs them
        if term is not None and plan.terms[term].num_chunks > 1 and \
                not isinstance(plan.steps[k], ChunkLoop):
            last[term, chunk] = k
    ends = [False] * len(plan.steps)
    for k in last.values() if last else [len(plan.steps) - 1] if plan.steps else []:
        ends[k] = True
    return ends


def _scratch_memmap(out: np.memmap, root: Node, cleanup) -> np.memmap:
    directory = os.path.dirname(os.path.abspath(out.filename))
    handle = cleanup.enter_context(tempfile.TemporaryFile(dir=directory))
    return np.memmap(handle, dtype=root.dtype, mode="w+", shape=root.shape)


def _copy_in_slabs(out: np.ndarray, result: np.ndarray):
    """``out[...] = result``, a slab of rows at a time: a memmap's pages need not all be
    resident at once, and a cast copies one slab, not the whole result."""
    if out.ndim == 0 or out.nbytes <= SLAB_BYTES * 16:
        np.copyto(out, result, casting="safe")
        return
    rows = max(1, SLAB_BYTES * 16 * out.shape[0] // out.nbytes)
    for start in range(0, out.shape[0], rows):
        np.copyto(out[start:start + rows], result[start:start + rows], casting="safe")


def _progress_bar(total: int):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("progress=True needs tqdm: pip install 'lazyein[progress]'") from None
    return tqdm(total=total, desc="lazyein", unit="chunk")


def _keep(per_root: dict, key, value, most: int = 8):
    """Keep `value` under `key` for one expression, forgetting its oldest setting past `most`
    (a fresh optimizer object per compute would otherwise add an entry each time)."""
    if key not in per_root and len(per_root) >= most:
        del per_root[next(iter(per_root))]
    per_root[key] = value
