"""Regenerate the README's figures: the expression DAG and the plan of problems 1 and 2.

    python docs/make_figures.py

needs pydot (``pip install -e ".[viz]"``) and Graphviz's ``dot``. The inputs have the sizes of
PROBLEMS.md but no data: each is a C-ordered layout over one element, which planning reads
the strides of and never the values, so the figures cost no memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import lazyein as le
from lazyein import viz
from lazyein.execute import layout

DOCS = Path(__file__).resolve().parent


def placeholder(shape, name: str) -> le.LazyTensor:
    """A named input of `shape` holding no data: only to be planned, never computed."""
    return le.lazy(layout(shape, np.float64), name=name)


def problem1() -> le.LazyTensor:
    """kron(eye(30), W0) @ data.T, as examples/problem1_kron.py builds it."""
    sizes, rows = [784, 30, 10], 1666
    W0 = placeholder((sizes[1], sizes[0]), "W0")
    data = placeholder((rows, sizes[1] * sizes[0]), "data")
    return le.kron(le.eye(sizes[1]), W0) @ data.T


def problem2() -> le.LazyTensor:
    """einsum('ijk,ikj->k', C + C2, C + C2) at n = q = 1000, as the README's example."""
    n = q = 1000
    A, B = placeholder((n, n), "A"), placeholder((q,), "B")
    Y2, Z2 = placeholder((n,), "Y2"), placeholder((q, n), "Z2")
    C = le.lazy_einsum("i,jk->ijk", B, A)
    C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
    return le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)


def main():
    for stem, t in (("problem1", problem1()), ("problem2", problem2())):
        for kind, source in (("expression", viz.expression_dot(t.node)),
                             ("plan", viz.plan_dot(t.explain()))):
            path = DOCS / f"{stem}_{kind}.svg"
            viz.visualize(source, filename=path)
            print(f"wrote {path.relative_to(DOCS.parent)}")


if __name__ == "__main__":
    main()
