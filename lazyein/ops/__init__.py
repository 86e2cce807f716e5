"""Every op's definition, one module each: its typed arguments, shape and dtype rule, lowering
rule, and how it prints and draws (`OpDef`), registered in `DEFINITIONS` as imported here."""

# importing each op's module registers its definition
from . import (  # noqa: F401 (each module registers its op)
    add,
    concat,
    diag,
    einsum,
    elementwise,
    eye,
    full,
    index,
    leaf,
    pad,
    reshape,
    scale,
)
from .add import AddArgs
from .base import (
    DEFINITIONS,
    Drawing,
    OpDef,
    describe_fields,
    draw_fields,
    get_op,
    register_op,
    show,
)
from .concat import ConcatArgs
from .diag import DiagArgs
from .einsum import EinsumArgs
from .elementwise import ElementwiseArgs
from .eye import EyeArgs
from .full import FullArgs
from .index import IndexArgs
from .pad import PadArgs
from .reshape import ReshapeArgs
from .scale import ScaleArgs

__all__ = ["OpDef", "Drawing", "DEFINITIONS", "register_op", "get_op", "describe_fields",
           "draw_fields", "show",
           "AddArgs", "ConcatArgs", "DiagArgs", "EinsumArgs", "ElementwiseArgs", "EyeArgs",
           "FullArgs", "IndexArgs", "PadArgs", "ReshapeArgs", "ScaleArgs"]
