"""Every module-level cache of lazyein, and `clear()`, which empties them all."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["register_cache", "clear", "memo", "forget", "PLAN_CACHE", "PLAN_CACHE_SIZE",
           "ROOT_PLANS", "ROOT_GRAPHS", "BACKENDS"]

_CLEARS: list[Callable[[], None]] = []


def register_cache(clear_fn: Callable[[], None]) -> Callable[[], None]:
    """Have `clear()` call `clear_fn` as well (a backend registers its caches when imported,
    so nothing reaches into a backend that was never loaded); returns `clear_fn`."""
    _CLEARS.append(clear_fn)
    return clear_fn


def clear():
    """Empty every registered cache: the next compute of anything plans afresh."""
    global _generation
    _generation += 1  # every node's memo is stale
    for clear_fn in _CLEARS:
        clear_fn()


def memo(node) -> dict:
    """What is kept with `node` (an `ir.Node`) since the last `clear()`: a dict that later
    stages fill (its signature, its terms), dropped with the node. Kept on the node itself,
    not in a table keyed weakly by nodes: a node's terms may name the node (a reshape that
    views it whole), which would keep a table's key alive for ever."""
    found = node.memo
    if found is None or found[_GENERATION] != _generation:
        found = {_GENERATION: _generation}
        object.__setattr__(node, "memo", found)
    return found


def forget(node, key):
    """Drop `key` from `node`'s memo, and the memo itself once empty (a chain of thousands
    of nodes would otherwise keep an empty dict on each)."""
    found = memo(node)
    del found[key]
    if len(found) == 1:  # only its generation
        object.__setattr__(node, "memo", None)


_generation = 0
_GENERATION = object()  # the key, in a node's memo, of the generation it was made in


# plans by the structure of what they compute (runtime's `structure` key), their budget,
# backend and optimizer (an optimizer object by identity, held by the key), least recently
# used first
PLAN_CACHE: OrderedDict = OrderedDict()
PLAN_CACHE_SIZE = 256

# per expression (an interned root node): its plans by budget and optimizer, with its inputs
# in plan order, so computing the same expression again walks no graph; a big one (a
# convolution operator built from thousands of pads) would otherwise take longer to
# recognize than to compute
ROOT_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# per expression, its dask arrays by budget and optimizer, kept like its numpy plans (a
# graph over the same inputs computes the same again)
ROOT_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# per expression in another array-API library, the backend that runs it
BACKENDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

for _cache in (PLAN_CACHE, ROOT_PLANS, ROOT_GRAPHS, BACKENDS):
    register_cache(_cache.clear)
del _cache
