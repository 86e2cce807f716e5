"""The exception hierarchy of lazyein."""

__all__ = ["LazyeinError", "SubscriptError", "ShapeError", "MemoryBudgetError", "LabelSizeError"]


class LazyeinError(Exception):
    """Base of every error lazyein raises on purpose."""


class SubscriptError(LazyeinError, ValueError):
    """Malformed einsum subscripts, or subscripts that do not match the operands."""


class ShapeError(LazyeinError, ValueError):
    """Operand shapes that do not fit together."""


class LabelSizeError(ShapeError, SubscriptError):
    """One einsum label given two different sizes: both a subscript and a shape fault."""


class MemoryBudgetError(LazyeinError, MemoryError):
    """No plan meets the requested ``max_bytes``."""

    def __init__(self, message: str, required_bytes: int):
        super().__init__(message)
        self.required_bytes = required_bytes
