"""Helpers the examples share: result checks, wall times and tracemalloc peaks, byte formats."""

from __future__ import annotations

import gc
import time
import tracemalloc

import numpy as np

from lazyein.printing import format_bytes

__all__ = ["check", "best_time", "peak_working_bytes", "human", "report_memory", "report_time"]


human = format_bytes  # lazyein's own byte format, as explain() prints it


def check(what: str, got, expected, rtol: float = 1e-7, atol: float = 1e-9) -> bool:
    """Print the max abs difference of `got` from `expected` and PASS or FAIL."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        print(f"  check {what}: FAIL (shape {got.shape}, expected {expected.shape})")
        return False
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    ok = bool(np.allclose(got, expected, rtol=rtol, atol=atol))
    print(f"  check {what}: max |diff| = {diff:.3g}  {'PASS' if ok else 'FAIL'}")
    return ok


def best_time(fn, repeat: int = 3) -> float:
    """Best wall time of `repeat` calls of `fn`, in seconds (tracemalloc off)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_working_bytes(fn) -> int:
    """tracemalloc peak while `fn()` runs, minus the bytes of the array it returns: the
    working memory of the call, as `compute(max_bytes=...)` counts it."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - np.asarray(result).nbytes


def report_time(lazy_s: float, eager_label: str, eager_s: float):
    ratio = lazy_s / eager_s
    print(f"  time: lazyein {lazy_s * 1e3:.2f} ms vs {eager_label} "
          f"{eager_s * 1e3:.2f} ms  (lazyein takes {ratio:.2f}x the time)")


def report_memory(lazy_b: int, eager_label: str, eager_b: int, ran: bool = True):
    how = "measured" if ran else "would need (not run)"
    print(f"  memory: lazyein working {human(lazy_b)} vs {eager_label} {how} {human(eager_b)}")
