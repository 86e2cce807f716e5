"""Per-call overhead: einsum('ij,jk,kl->il') of 10x10 float64 operands, new arrays every call."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import opt_einsum

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HEADER, rows, run  # noqa: E402

import lazyein as le  # noqa: E402

EQ = "ij,jk,kl->il"
POOL = 64      # distinct operand triples, cycled through: same shapes, new arrays each call
CALLS = 200    # calls per round, so a round's time gives microseconds per call
REPEAT = 41


def candidates(pool) -> dict:
    """Each candidate takes the next triple of its own cycle over the pool on every call."""

    def cycling(fn):
        it = itertools.cycle(pool)
        return lambda: fn(*next(it))

    return {
        "np.einsum (optimize=True)": cycling(lambda a, b, c: np.einsum(EQ, a, b, c,
                                                                       optimize=True)),
        "opt_einsum.contract": cycling(lambda a, b, c: opt_einsum.contract(EQ, a, b, c)),
        "a @ b @ c (floor)": cycling(lambda a, b, c: a @ b @ c),
        "lazyein build + compute": cycling(lambda a, b, c: le.lazy_einsum(EQ, a, b, c)
                                           .compute()),
    }


def main() -> str:
    rng = np.random.default_rng(0)
    pool = [tuple(rng.standard_normal((10, 10)) for _ in range(3)) for _ in range(POOL)]
    # the check compares one call of each candidate: all cycles start at the same triple
    cands = candidates(pool)
    base = "np.einsum (optimize=True)"
    medians = run(cands, baseline=base, repeat=REPEAT, calls=CALLS)
    return rows("overhead ij,jk,kl->il 10x10 f64 (per call)", medians, base,
                others=("opt_einsum.contract",))


if __name__ == "__main__":
    print(HEADER)
    print(main())
