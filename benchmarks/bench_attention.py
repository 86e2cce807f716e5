"""PROBLEMS.md problem 3: multi-head attention scores einsum('bhmd,bhnd->bhmn', Q, K), float32."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import opt_einsum

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402

B, H, M, N, D = 8, 8, 256, 256, 64
EQ = "bhmd,bhnd->bhmn"
REPEAT = 21
SLOW = "np.einsum (optimize=False)"  # a C loop without BLAS: one call per round is plenty


def candidates(Q, K) -> dict:
    return {
        "Q @ K.swapaxes(-1, -2)": lambda: Q @ K.swapaxes(-1, -2),
        "np.einsum (optimize=True)": lambda: np.einsum(EQ, Q, K, optimize=True),
        SLOW: lambda: np.einsum(EQ, Q, K, optimize=False),
        "opt_einsum.contract": lambda: opt_einsum.contract(EQ, Q, K),
        "lazyein build + compute": lambda: le.lazy_einsum(EQ, Q, K).compute(),
    }


def main() -> str:
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((B, H, M, D), dtype=np.float32)
    K = rng.standard_normal((B, H, N, D), dtype=np.float32)
    cands = candidates(Q, K)
    base = "Q @ K.swapaxes(-1, -2)"
    medians = run(cands, baseline=base, repeat=REPEAT, rtol=1e-4, atol=1e-4,
                  calls={name: 1 if name == SLOW else 5 for name in cands})
    return rows(f"attention {B}x{H}x{M}x{N}x{D} f32", medians, base,
                others=("np.einsum (optimize=True)",))


if __name__ == "__main__":
    print(HEADER)
    print(main())
