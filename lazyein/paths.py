"""Contraction orders from opt_einsum, asked once per equation and shapes.

Labels are numbered by first appearance before asking, so the same maths over other labels
(the chunks of a chain of 300 products, each computed first; the terms of one shape in a
sum) asks opt_einsum once: for 32 operands each ask costs milliseconds.
"""

from __future__ import annotations

import functools

import opt_einsum

from . import caches

__all__ = ["contraction_path", "symbols"]


def contraction_path(label_lists, keep, sizes) -> tuple[tuple[tuple[int, ...], ...], int]:
    """opt_einsum's contraction order for operands with these labels, keeping the labels
    `keep` (in the result), and its FLOPs."""
    names: dict[int, int] = {}
    numbered = tuple(tuple(names.setdefault(ix, len(names)) for ix in ls) for ls in label_lists)
    kept = tuple(names.setdefault(ix, len(names)) for ix in keep)
    shapes = tuple(tuple(sizes[ix] for ix in ls) for ls in label_lists)
    return _path(numbered, kept, shapes)


@functools.lru_cache(maxsize=4096)
def _path(label_lists, keep, shapes):
    equation = ",".join(symbols(ls) for ls in label_lists) + "->" + symbols(keep)
    path, info = opt_einsum.contract_path(equation, *shapes, shapes=True, optimize="auto")
    return tuple(map(tuple, path)), int(info.opt_cost)


caches.register_cache(_path.cache_clear)


def symbols(labels) -> str:
    return "".join(opt_einsum.get_symbol(i) for i in labels)
