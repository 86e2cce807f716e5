"""Shared timing helper: interleaved (round-robin) repetitions, medians, ratios, markdown rows."""

from __future__ import annotations

import itertools
import random
import statistics
import time

import numpy as np

__all__ = ["HEADER", "POOL", "run", "rows", "time_once", "fmt_seconds", "fmt_ratio", "cycling"]

HEADER = ("| benchmark | candidate | median | ratio vs baseline | other ratios |\n"
          "|---|---|---:|---:|---|")


def time_once(fn, calls: int = 1) -> float:
    """Seconds per call of `fn` over `calls` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def fmt_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _check(name, result, expected, rtol, atol):
    result, expected = np.asarray(result), np.asarray(expected)
    if result.shape != expected.shape or not np.allclose(result, expected, rtol=rtol, atol=atol):
        diff = np.max(np.abs(result - expected)) if result.shape == expected.shape else "n/a"
        raise AssertionError(f"candidate {name!r} disagrees with the baseline: shapes "
                             f"{result.shape} vs {expected.shape}, max |diff| {diff}")


def run(candidates: dict, baseline: str, repeat: int = 5, calls: int | dict = 1,
        rtol: float = 1e-5, atol: float = 1e-8, check=lambda name: True) -> dict[str, float]:
    """Median seconds per call of each candidate (name -> zero-argument callable).

    A warm-up round runs every candidate once and checks its result against `baseline`'s
    with np.allclose (those for which ``check(name)`` holds: a reference workload such as a
    plain matmul computes something else). Then each of `repeat` rounds runs every candidate
    once (`calls` back-to-back calls, to time short calls; a dict gives each name its own
    count, default 1),
    in a new random order each round, so slow drifts of the machine (clock boost, caches,
    other load) and the traces one candidate leaves for the next hit every candidate alike.
    """
    names = list(candidates)
    assert baseline in names, f"baseline {baseline!r} is not one of {names}"
    expected = candidates[baseline]()
    for name in names:
        if name != baseline and check(name):
            _check(name, candidates[name](), expected, rtol, atol)
    del expected
    times = {name: [] for name in names}
    # a fresh (seeded) order each round: a rotation keeps each candidate behind the same
    # neighbour, and what that neighbour leaves behind (freed memory, caches) biases it
    shuffle = random.Random(0).sample
    for _ in range(repeat):
        for name in shuffle(names, len(names)):
            n = calls.get(name, 1) if isinstance(calls, dict) else calls
            times[name].append(time_once(candidates[name], n))
    return {name: statistics.median(ts) for name, ts in times.items()}


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}x" if r >= 0.1 else f"1/{1 / r:,.0f}x"


def rows(title: str, medians: dict[str, float], baseline: str, others=(), extra=None) -> str:
    """One markdown row per candidate: its median, its ratio to `baseline` (< 1 is faster)
    and to each of `others`, and `extra[name]` when given."""
    out = []
    for name, t in medians.items():
        ratio = "baseline" if name == baseline else fmt_ratio(t / medians[baseline])
        notes = [f"{fmt_ratio(t / medians[o])} vs {o}" for o in others if o != name]
        notes = "; ".join(notes + ([extra[name]] if extra and name in extra else []))
        out.append(f"| {title} | {name} | {fmt_seconds(t)} | {ratio} | {notes} |")
    return "\n".join(out)


POOL = 8  # distinct inputs a benchmark cycles through: a new array on each call


def cycling(fn, pool):
    """A call of `fn` on the next argument tuple of `pool`, round and round: each call meets
    arrays it has not just seen (as an operator applied to new data does)."""
    it = itertools.cycle(pool)
    return lambda: fn(*next(it))
