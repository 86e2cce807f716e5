"""Run every benchmark in one process and print one markdown table (optionally into README.md).

    python benchmarks/run_all.py                 # print the table
    python benchmarks/run_all.py --write-readme  # also replace the README's bench section
    python benchmarks/run_all.py --threads 1     # single-threaded BLAS: steadier on a busy box
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import os
import platform
import re
import sys
import time
from pathlib import Path

# numpy, and so BLAS, is imported only after --threads is applied: BLAS reads its thread
# count from the environment once, when it loads
HERE = Path(__file__).resolve().parent
MODULES = ("bench_overhead", "bench_attention", "bench_problem2", "bench_problem1", "bench_reuse",
           "bench_problem4", "bench_chain", "bench_sums", "bench_index", "bench_function",
           "bench_dask", "bench_vocab")
# run only when this package is installed
OPTIONAL = {"bench_dask": "dask", "bench_function": "scipy"}
README = HERE.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _blas() -> str:
    """The BLAS numpy uses, from threadpoolctl when installed, else numpy's build config."""
    import numpy as np
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                return (f"{info.get('internal_api')} {info.get('version')}, "
                        f"{info.get('num_threads')} threads")
    threads = next((f", {v}={os.environ[v]}" for v in THREAD_VARS if v in os.environ), "")
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}{threads}"
    except Exception:  # older numpy: show_config only prints
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            np.show_config()
        found = re.search(r"blas\w*_info:?\s*\n.*?libraries = \[?'?([\w-]+)", buf.getvalue(), re.S)
        return (found.group(1) if found else "unknown") + threads


def machine_info() -> str:
    import numpy as np
    import opt_einsum

    import lazyein
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = f", load average {os.getloadavg()[0]:.1f} at the end" if hasattr(os, "getloadavg") \
        else ""
    return (f"Python {platform.python_version()}, numpy {np.__version__}, "
            f"opt_einsum {opt_einsum.__version__}, lazyein {lazyein.__version__}; "
            f"BLAS: {_blas()}; CPU: {cpu}, {os.cpu_count()} logical cores{load}")


def write_readme(text: str, path: Path = README) -> bool:
    """Replace the text between the bench markers of `path`; False if there are none."""
    if not path.exists():
        return False
    old = path.read_text()
    i, j = old.find(START), old.find(END)
    if i < 0 or j < i:
        return False
    path.write_text(old[:i + len(START)] + "\n" + text + "\n" + old[j:])
    return True


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", action="store_true",
                        help=f"replace the text between {START} and {END} in the README")
    parser.add_argument("--readme", type=Path, default=README,
                        help="the README to write (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads (sets " + ", ".join(THREAD_VARS) + ")")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if "numpy" in sys.modules:
            print("--threads ignored: numpy was imported before run_all", file=sys.stderr)
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    sys.path.insert(0, str(HERE))
    from harness import HEADER

    start = time.perf_counter()
    parts, notes = [], []
    for name in MODULES:
        if name in OPTIONAL and importlib.util.find_spec(OPTIONAL[name]) is None:
            print(f"{name}: skipped, {OPTIONAL[name]} is not installed", file=sys.stderr)
            continue
        t = time.perf_counter()
        result = importlib.import_module(name).main()  # rows, or (rows, a note below)
        rows, note = result if isinstance(result, tuple) else (result, None)
        parts.append(rows)
        notes += [note] if note else []
        print(f"{name}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    text = (f"{machine_info()}\n\nMedian of interleaved rounds; ratios are time / baseline's "
            f"time (< 1 is faster).\n\n{HEADER}\n" + "\n".join(parts)
            + "".join(f"\n\n{note}" for note in notes))
    print(text)
    print(f"total: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if args.write_readme:
        done = write_readme(text, args.readme)
        print(f"{args.readme} {'updated' if done else 'not updated: no bench markers'}",
              file=sys.stderr)
    return text


if __name__ == "__main__":
    main()
