"""Run a plan's steps on numpy arrays: views of the leaves, BLAS for contractions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .sop import Axis, take_view

__all__ = ["View", "Contract", "Zeros", "Accumulate", "Reshape", "pair_labels", "run_steps"]


def pair_labels(la, lb, keep) -> tuple[tuple, tuple, tuple, tuple]:
    """Split the labels of a pairwise contraction into (batch, left, contracted, right)."""
    sb = set(lb)
    batch = tuple(ix for ix in la if ix in sb and ix in keep)
    contracted = tuple(ix for ix in la if ix in sb and ix not in keep)
    left = tuple(ix for ix in la if ix not in sb and ix in keep)
    right = tuple(ix for ix in lb if ix not in set(la) and ix in keep)
    return batch, left, contracted, right


def result_labels(la, lb, keep) -> tuple:
    batch, left, _, right = pair_labels(la, lb, keep)
    return batch + left + right


def _sum_unused(x, labels, needed):
    """Sum `x` over its labels that `needed` lacks; return the array and its labels."""
    drop = tuple(i for i, ix in enumerate(labels) if ix not in needed)
    if drop:
        x = x.sum(axis=drop)
        labels = tuple(ix for ix in labels if ix in needed)
    return x, labels


def _as_matrices(x, labels, batch, rows, cols):
    """`x` as a (batch, rows, cols) stack of matrices, a view where the strides allow."""
    perm = [labels.index(ix) for ix in batch + rows + cols]
    shape = [x.shape[p] for p in perm]
    nb, nr = len(batch), len(rows)
    return x.transpose(perm).reshape(math.prod(shape[:nb]), math.prod(shape[nb:nb + nr]),
                                     math.prod(shape[nb + nr:]))


def contract_pair(a, la, b, lb, keep):
    """Contract two arrays over their shared labels not in `keep`, through matmul (BLAS).

    The result's labels are ``result_labels(la, lb, keep)``.
    """
    la, lb = tuple(la), tuple(lb)
    a, la = _sum_unused(a, la, set(lb) | set(keep))
    b, lb = _sum_unused(b, lb, set(la) | set(keep))
    batch, left, contracted, right = pair_labels(la, lb, keep)
    size = dict(zip(la, a.shape)) | dict(zip(lb, b.shape))
    out_shape = tuple(size[ix] for ix in batch + left + right)
    if not contracted:  # an outer or Hadamard product: broadcasting, no BLAS to gain
        ea = a.transpose([la.index(ix) for ix in batch + left])
        eb = b.transpose([lb.index(ix) for ix in batch + right])
        ea = ea.reshape(ea.shape + (1,) * len(right))
        eb = eb.reshape(eb.shape[:len(batch)] + (1,) * len(left) + eb.shape[len(batch):])
        return np.multiply(ea, eb)
    if not left and not right:  # batched dot products: einsum streams them with no copies
        spec = _letters(la) + "," + _letters(lb) + "->" + _letters(batch)
        return np.einsum(spec, a, b)
    ma = _as_matrices(a, la, batch, left, contracted)
    mb = _as_matrices(b, lb, batch, contracted, right)
    out = np.matmul(ma, mb)
    return out.reshape(out_shape)


def _letters(labels) -> str:
    import opt_einsum

    return "".join(opt_einsum.get_symbol(i) for i in labels)


@dataclass(frozen=True, slots=True)
class View:
    """``env[out] = the view of env[src] that `axes` describe``."""

    out: int
    src: int
    axes: tuple[Axis, ...]
    sizes: Any

    def run(self, env):
        env[self.out] = take_view(env[self.src], self.axes, self.sizes)[0]


@dataclass(frozen=True, slots=True)
class Contract:
    """``env[out] = contraction of env[args]`` keeping the labels `keep`."""

    out: int
    args: tuple[int, ...]
    labels: tuple[tuple[int, ...], ...]
    keep: tuple[int, ...]

    def run(self, env):
        if len(self.args) == 1:
            env[self.out] = _sum_unused(env[self.args[0]], self.labels[0], set(self.keep))[0]
        else:
            (a, b), (la, lb) = self.args, self.labels
            env[self.out] = contract_pair(env[a], la, env[b], lb, set(self.keep))


@dataclass(frozen=True, slots=True)
class Zeros:
    """``env[out] = zeros(shape, dtype)``: a result buffer that terms accumulate into."""

    out: int
    shape: tuple[int, ...]
    dtype: np.dtype

    def run(self, env):
        env[self.out] = np.zeros(self.shape, self.dtype)


@dataclass(frozen=True, slots=True)
class Reshape:
    """``env[out] = env[src].reshape(shape)`` of a freshly computed (contiguous) array."""

    out: int
    src: int
    shape: tuple[int, ...]

    def run(self, env):
        env[self.out] = env[self.src].reshape(self.shape)


@dataclass(frozen=True, slots=True)
class Accumulate:
    """``region of env[target] += coeff * env[src]``, broadcasting labels `src` lacks."""

    target: int
    src: int | None
    labels: tuple[int, ...]  # of env[src]
    coeff: Any
    axes: tuple[Axis, ...]
    sizes: Any

    def run(self, env):
        region, region_labels = take_view(env[self.target], self.axes, self.sizes)
        if self.src is None:
            value = self.coeff
        else:
            value = env[self.src]
            if tuple(self.labels) != tuple(ix for ix in region_labels if ix in self.labels):
                value = value.transpose([self.labels.index(ix) for ix in region_labels
                                         if ix in self.labels])
            if len(self.labels) != len(region_labels):
                value = value.reshape([self.sizes[ix] if ix in self.labels else 1
                                       for ix in region_labels])
            if self.coeff != 1:
                value = np.multiply(value, self.coeff)
        np.add(region, value, out=region, casting="unsafe")


def run_steps(steps, frees, env, progress=None):
    """Run `steps` in order over the value table `env`, dropping each value after its last use."""
    for step, dead in zip(steps, frees):
        step.run(env)
        for ix in dead:
            env[ix] = None
        if progress is not None:
            progress.update(1)
    return env
