"""Run the four PROBLEMS.md examples and the GP regression in one process; exit status 1 if
any check fails."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gp_regression  # noqa: E402
import problem1_kron  # noqa: E402
import problem2_lazy_einsum_sums  # noqa: E402
import problem3_einsum_language  # noqa: E402
import problem4_convolution  # noqa: E402

EXAMPLES = (problem1_kron, problem2_lazy_einsum_sums, problem3_einsum_language,
            problem4_convolution, gp_regression)


def main() -> bool:
    results = {}
    start = time.perf_counter()
    for module in EXAMPLES:
        t = time.perf_counter()
        results[module.__name__] = module.main()
        print(f"  [{module.__name__}: {time.perf_counter() - t:.1f} s]\n")
    print(f"all examples in {time.perf_counter() - start:.1f} s:")
    for name, ok in results.items():
        print(f"  {name}: {'PASS' if ok else 'FAIL'}")
    return all(results.values())


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
