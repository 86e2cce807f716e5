"""Contraction orders from opt_einsum, asked once per equation, shapes and optimizer.

Labels are numbered by first appearance before asking, so the same maths over other labels
(the chunks of a chain of 300 products, each computed first; the terms of one shape in a
sum) asks opt_einsum once: for 32 operands each ask costs milliseconds.

The optimizer is the user's ``optimize=``: a name opt_einsum knows, or a path optimizer object
(opt_einsum's, cotengra's). Such objects keep what they learn about the one contraction they
were first called on (opt_einsum's random and branch-and-bound optimizers refuse another;
cotengra's `HyperOptimizer` answers another with its first one's best tree), so each
contraction is asked of a copy made before any use, unless the object says it serves many
(cotengra's reusable optimizers, which keep a cache of their own).
"""

from __future__ import annotations

import functools
import io
import pickle
import sys
import types

import opt_einsum

from . import caches

__all__ = ["AUTO", "Optimizer", "Orders", "contraction_path", "optimizer", "symbols"]


class Optimizer:
    """One ``optimize=`` setting, checked: equal (and hashed) by its name, or an object's
    identity (it may be unhashable, or equal to another whose state differs). A plan keyed
    by it holds it, so the object lives as long as the plans made with it."""

    __slots__ = ("spec",)

    def __init__(self, spec):
        self.spec = spec

    def __hash__(self):
        return hash(self.spec) if isinstance(self.spec, str) else id(self.spec)

    def __eq__(self, other):
        return isinstance(other, Optimizer) and (
            self.spec == other.spec if isinstance(self.spec, str) else self.spec is other.spec)

    def __repr__(self):
        return f"Optimizer({self.describe()})"

    def describe(self) -> str:
        """How `explain()` names it: ``opt_einsum 'dp'``, ``cotengra HyperOptimizer``."""
        if isinstance(self.spec, str):
            return f"opt_einsum {self.spec!r}"
        return f"{type(self.spec).__module__.split('.')[0]} {type(self.spec).__name__}"

    def for_one(self):
        """What to give opt_einsum for one contraction: the name, a reusable object itself,
        or a copy of the object as it was given (never the object, which a first use would
        tie to that contraction)."""
        if isinstance(self.spec, str) or _reusable(self.spec):
            return self.spec
        return _copied(self.spec)


AUTO = Optimizer("auto")


def optimizer(optimize) -> Optimizer:
    """`optimize` checked: a name opt_einsum knows or a path optimizer object.

    Raises:
        ValueError: anything else, naming what is accepted.
    """
    if isinstance(optimize, Optimizer):
        return optimize
    if isinstance(optimize, str):
        name = optimize.lower()
        if name == "auto":
            return AUTO
        try:
            opt_einsum.paths.get_path_fn(name)
        except KeyError:
            pass
        else:
            return Optimizer(name)
    elif isinstance(optimize, opt_einsum.paths.PathOptimizer):
        return Optimizer(optimize)
    known = ", ".join(repr(n) for n in sorted(getattr(opt_einsum.paths, "_PATH_OPTIONS", ())))
    raise ValueError(f"optimize={optimize!r} is not a contraction path optimizer: give a name "
                     f"opt_einsum knows ({known or 'auto, greedy, optimal, dp, ...'}) or a path "
                     "optimizer object (an opt_einsum.paths.PathOptimizer, such as "
                     "opt_einsum.RandomGreedy() or cotengra.HyperOptimizer())")


def _reusable(obj) -> bool:
    """Does `obj` serve many contractions by design (cotengra's reusable optimizers)?"""
    reusable = getattr(sys.modules.get("cotengra.reusable"), "ReusableOptimizer", None)
    return reusable is not None and isinstance(obj, reusable)


# objects of these modules (locks, process pools, queues) are resources, not state: a copy
# of an optimizer shares them, as it shares its modules, functions and classes
_SHARED_MODULES = frozenset({"threading", "_thread", "concurrent", "multiprocessing", "queue",
                             "weakref", "_weakref"})
_SHARED_TYPES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                 types.MethodType, type)


def _copied(obj):
    """A deep copy of `obj` sharing what cannot or need not be copied (see above): cotengra's
    `HyperOptimizer` holds a process pool and modules, which `copy.deepcopy` refuses."""
    shared: list = []

    class Copier(pickle.Pickler):
        def persistent_id(self, x):
            if isinstance(x, _SHARED_TYPES) or \
                    type(x).__module__.partition(".")[0] in _SHARED_MODULES:
                shared.append(x)
                return len(shared) - 1
            return None

    class Restorer(pickle.Unpickler):
        def persistent_load(self, pid):
            return shared[pid]

    buffer = io.BytesIO()
    Copier(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    buffer.seek(0)
    return Restorer(buffer).load()


def contraction_path(label_lists, keep, sizes, optimize: Optimizer = AUTO
                     ) -> tuple[tuple[tuple[int, ...], ...], int]:
    """The contraction order `optimize` finds for operands with these labels, keeping the
    labels `keep` (in the result), and its FLOPs (opt_einsum's count)."""
    names: dict[int, int] = {}
    numbered = tuple(tuple(names.setdefault(ix, len(names)) for ix in ls) for ls in label_lists)
    kept = tuple(names.setdefault(ix, len(names)) for ix in keep)
    shapes = tuple(tuple(sizes[ix] for ix in ls) for ls in label_lists)
    return _path(numbered, kept, shapes, optimize)


@functools.lru_cache(maxsize=4096)
def _path(label_lists, keep, shapes, optimize: Optimizer):
    equation = ",".join(symbols(ls) for ls in label_lists) + "->" + symbols(keep)
    path, info = opt_einsum.contract_path(equation, *shapes, shapes=True,
                                          optimize=optimize.for_one())
    return tuple(map(tuple, path)), int(info.opt_cost)


caches.register_cache(_path.cache_clear)


class Orders:
    """The contraction orders of one planning session, found by its `optimizer` and kept by
    the labels and shapes themselves: asked again for the same (the chunks of a sliced
    term), an order is found without renumbering."""

    def __init__(self, optimize: Optimizer = AUTO):
        self.optimizer = optimize
        self.cache: dict = {}

    def path(self, label_lists, keep, sizes):
        """The order for operands with these labels keeping `keep`, and its FLOPs."""
        key = (tuple(map(tuple, label_lists)), tuple(keep),
               tuple(tuple(sizes[ix] for ix in ls) for ls in label_lists))
        if (hit := self.cache.get(key)) is None:
            hit = self.cache[key] = contraction_path(label_lists, keep, sizes, self.optimizer)
        return hit


def symbols(labels) -> str:
    return "".join(opt_einsum.get_symbol(i) for i in labels)
