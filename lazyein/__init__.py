"""lazyein: lazy tensor expressions, expanded, de-structured and contracted within a budget."""

from . import ops  # noqa: F401 (registers every op's definition; api.py imports it too)
from .api import (
                  LazyTensor,
                  add,
                  compute,
                  concatenate,
                  diagonal,
                  dot,
                  einsum,
                  eye,
                  kron,
                  lazy,
                  lazy_einsum,
                  matmul,
                  moveaxis,
                  multiply,
                  pad,
                  placeholder,
                  reshape,
                  stack,
                  subtract,
                  swapaxes,
                  tensordot,
                  trace,
                  transpose,
)
from .api_numpy import (
                        astype,
                        broadcast_to,
                        conj,
                        diag,
                        expand_dims,
                        full,
                        imag,
                        inner,
                        ones,
                        outer,
                        real,
                        squeeze,
                        vdot,
                        zeros,
)
from .api_views import flip, roll
from .errors import LazyeinError, MemoryBudgetError, ShapeError, SubscriptError
from .functions import Function, function
from .linear_operator import aslinearoperator
from .steps import Plan

__all__ = [
    "LazyTensor", "Plan", "Function", "lazy", "placeholder", "function", "aslinearoperator",
    "eye", "lazy_einsum", "einsum", "add", "subtract", "multiply",
    "matmul", "dot", "tensordot", "transpose", "moveaxis", "swapaxes", "reshape", "kron", "pad",
    "stack", "concatenate", "trace", "diagonal", "flip", "roll", "compute",
    "zeros", "ones", "full", "diag", "conj", "real", "imag", "astype", "squeeze", "expand_dims",
    "broadcast_to", "outer", "inner", "vdot",
    "LazyeinError", "SubscriptError", "ShapeError", "MemoryBudgetError",
]
__version__ = "0.1.0"
