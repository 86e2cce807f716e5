"""SCALE: its operand times a scalar, in a dtype numpy's promotion decided (in api.py)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ir import Node, Op
from .add import lower_sum
from .base import Drawing, OpDef, register_op

__all__ = ["ScaleArgs", "SCALE"]


class ScaleArgs(NamedTuple):
    coeff: object  # a Python int, float or complex
    dtype: np.dtype  # the result's


def abstract(src, arg: ScaleArgs):
    (a,) = src
    return a.shape, arg.dtype


def describe(node: Node) -> str:
    return f"scale[{node.arg.coeff!r}]"


def draw(node: Node) -> Drawing:
    return Drawing(f"× {node.arg.coeff!r}")


# lowered with the sums around it: a scaling is a sum of one operand, times `coeff`
SCALE = register_op(OpDef(Op.SCALE, ScaleArgs, abstract, lower_sum, describe, draw,
                          sum_scale=lambda node: node.arg.coeff))
