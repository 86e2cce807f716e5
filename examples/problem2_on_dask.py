"""PROBLEMS.md problem 2 on dask: A and Z2 are arrays of several GB on disk.

    python examples/problem2_on_dask.py                      # n = q = 20000: 3.2 GB each
    python examples/problem2_on_dask.py --n 4000 --chunk 1000  # a quick run
    python examples/problem2_on_dask.py --cluster            # on a distributed.LocalCluster

The inputs are written once to memory-mapped files (in --dir, a temporary directory by
default, removed at the end), wrapped in dask arrays, and E = einsum('ijk,ikj->k', C + C2,
C + C2) is built lazily over them: nothing is read until it is computed. lazyein expands the
sums into four products and runs each in blocks that follow the files' chunks, every task
within --max-bytes, with dask's progress bar. The check is the four hand-expanded einsums,
computed by numpy over the same memory maps.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import check, human  # noqa: E402

import lazyein as le  # noqa: E402

HAND = ("i,jk,i,kj->k", "j,ik,k,ij->k", "i,jk,k,ij->k", "j,ik,i,kj->k")


def on_disk(path: Path, shape, seed: int) -> np.memmap:
    """A float64 memory map of `shape` at `path`, filled with normal samples a slab at a time
    (the whole array is never in memory)."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=shape)
    rng = np.random.default_rng(seed)
    rows = max(1, (64 << 20) // (8 * shape[1]))
    for start in range(0, shape[0], rows):
        stop = min(start + rows, shape[0])
        array[start:stop] = rng.normal(size=(stop - start, shape[1]))
    array.flush()
    return np.load(path, mmap_mode="r")  # read-only from here on


@functools.cache
def mapped(path: Path) -> np.memmap:
    """The file mapped once per process (each map of it would count its pages again)."""
    return np.load(path, mmap_mode="r")


def from_npy(path: Path, chunks) -> da.Array:
    """The `.npy` file at `path` as a dask array whose tasks each map the file and read their
    chunk: the graph holds the file's name, never its data (`da.from_array` of a memory map
    would pickle all of it into the graph sent to a cluster)."""
    header = np.load(path, mmap_mode="r")
    shape, dtype = header.shape, header.dtype
    del header

    def load(block_info=None):
        where = block_info[None]["array-location"]
        # a view of the mapped file: pages are read as the task touches them
        return mapped(path)[tuple(slice(a, b) for a, b in where)]

    return da.map_blocks(load, chunks=da.core.normalize_chunks(chunks, shape, dtype=dtype),
                         dtype=dtype, meta=np.empty((0,) * len(shape), dtype))


def hand_expanded(A, B, Y2, Z2) -> np.ndarray:
    ops = ((B, A, B, A), (Y2, Z2, Y2, Z2), (B, A, Y2, Z2), (Y2, Z2, B, A))
    return sum(np.einsum(eq, *o, optimize="optimal") for eq, o in zip(HAND, ops))


def main(argv=None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="n = q (default %(default)s)")
    parser.add_argument("--chunk", type=int, default=2500,
                        help="the dask chunks of A and Z2: chunk x chunk (default %(default)s)")
    parser.add_argument("--max-bytes", default="256MB",
                        help="bound on each dask task's memory (default %(default)s)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the inputs")
    parser.add_argument("--cluster", action="store_true",
                        help="run on a distributed.LocalCluster of 2 workers")
    args = parser.parse_args(argv)
    n = q = args.n

    with contextlib.ExitStack() as stack:
        where = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        start = time.perf_counter()
        A = on_disk(where / "A.npy", (n, n), seed=1)
        Z2 = on_disk(where / "Z2.npy", (q, n), seed=2)
        rng = np.random.default_rng(3)
        B, Y2 = rng.normal(size=q), rng.normal(size=n)
        print(f"problem 2 on dask, n = q = {n}: A and Z2 on disk, {human(A.nbytes)} each "
              f"(written in {time.perf_counter() - start:.1f} s); eager numpy would hold two "
              f"{human(8 * n * n * q)} arrays")

        dA = from_npy(where / "A.npy", (args.chunk, args.chunk))
        dZ2 = from_npy(where / "Z2.npy", (args.chunk, args.chunk))
        A_, Z2_ = le.lazy(dA, name="A"), le.lazy(dZ2, name="Z2")
        B_, Y2_ = le.lazy(B, name="B"), le.lazy(Y2, name="Y2")
        C = le.lazy_einsum("i,jk->ijk", B_, A_)     # (q, n, n): nothing is read or built
        C2 = le.lazy_einsum("j,ik->ijk", Y2_, Z2_)
        E = le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)
        print(E.explain())

        graph = E.to_dask(max_bytes=args.max_bytes)
        print(f"dask graph: {len(graph.__dask_graph__()):,} tasks, chunks of A "
              f"{dA.chunksize}, each task within {args.max_bytes}")
        if args.cluster:
            from distributed import Client, LocalCluster

            cluster = stack.enter_context(LocalCluster(
                n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None))
            scheduler = stack.enter_context(Client(cluster))
        else:
            scheduler = "threads"
        start = time.perf_counter()
        e = E.compute(max_bytes=args.max_bytes, scheduler=scheduler, progress=True)
        lazy_s = time.perf_counter() - start
        print(f"  lazyein on dask: {lazy_s:.1f} s")

        start = time.perf_counter()
        expected = hand_expanded(A, B, Y2, Z2)
        print(f"  numpy, hand-expanded over the memory maps: {time.perf_counter() - start:.1f} s")
        return check("E against the hand-expanded einsums", e, expected, rtol=1e-8, atol=1e-6)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
