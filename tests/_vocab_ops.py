"""The property suite's drawers of numpy's vocabulary (lazyein/api_numpy.py): structured
constants, diag, complex parts, casts, shape helpers and outer/inner/vdot (registered in
strategies.OPERATIONS)."""

from __future__ import annotations

from _builder import _MAX_SIZE, _Builder, _Node

__all__ = ["_op_constant", "_op_diag", "_op_complex", "_op_astype", "_op_shape", "_op_products"]


def _op_constant(b: _Builder, a: _Node | None = None, share: bool = False):
    """A new structured constant joins the pool: le.zeros, le.ones, le.full."""
    shape = b.shape(max_ndim=2)
    kind = b.choice(("ones", "zeros", "full", "full"))
    dtype = b.choice(("", "", ", dtype=np.float32", ", dtype=np.int64", ", dtype=complex"))
    if kind == "full":
        value = b.choice(("2", "-0.5", "3", "1j", "True"))
        if "int" in dtype and value in ("-0.5", "1j"):
            value = "2"
        call = f"full({shape!r}, {value}{dtype})"
    else:
        call = f"{kind}({shape!r}{dtype})"
    return b.node("le." + call, "np." + call, [])


def _op_diag(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.diag of a 1-D node (never built) or of a 2-D one (its diagonal), offsets included."""
    if a is None:
        a = b.pick(lambda n: n.ndim in (1, 2), lambda: b.shape(min_ndim=1, max_ndim=1))
    k = b.choice((0, 0, 1, -1, 2))
    call = "diag({0})" if k == 0 and b.chance(2) else f"diag({{0}}, k={k})"
    return b.node("le." + call, "np." + call, [(a, False)])


def _op_complex(b: _Builder, a: _Node | None = None, share: bool = False):
    """conj, .conj(), .real, .imag, le.real, le.imag (identity or zeros on real dtypes)."""
    a = b.pick() if a is None else a
    fn = b.choice(("conj", "real", "imag"))
    method = "{0}.conj()" if fn == "conj" else f"{{0}}.{fn}"
    lazy, ref = b.choice(((f"le.{fn}({{0}})", f"np.{fn}({{0}})"), (method, method)))
    abs_fmt = "np.asarray({0})"  # |Re x|, |Im x| and |conj x| are bounded by |x|
    return b.node(lazy, ref, [(a, False)], abs_fmt)


def _op_astype(b: _Builder, a: _Node | None = None, share: bool = False):
    """.astype to a dtype numpy casts to without losing what the integer-valued data hold."""
    a = b.pick() if a is None else a
    targets = {"c": ("np.complex64", "complex"), "f": ("np.float32", "np.float64", "complex"),
               "i": ("float", "np.int32", "bool"), "b": ("np.int64", "float")}
    dtype = b.choice(targets.get(a.dtype.kind, ("float",)))
    return b.node(f"{{0}}.astype({dtype})", f"{{0}}.astype({dtype})", [(a, False)],
                  "np.asarray({0})")


def _op_shape(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.squeeze, le.expand_dims and le.broadcast_to."""
    a = b.pick() if a is None else a
    kind = b.choice(("squeeze", "expand_dims", "broadcast_to"))
    if kind == "squeeze":
        ones = [i for i, d in enumerate(a.shape) if d == 1]
        axis = "" if not ones or b.chance(2) else f", axis={b.choice(ones)}"
        call = f"squeeze({{0}}{axis})"
    elif kind == "expand_dims":
        call = f"expand_dims({{0}}, {b.integer(-a.ndim - 1, a.ndim)})"
    else:
        shape = tuple(b.choice((2, 3)) if d == 1 else d for d in a.shape)
        shape = (b.choice((2, 1)),) * b.integer(0, 1) + shape
        call = f"broadcast_to({{0}}, {shape!r})"
    return b.node("le." + call, "np." + call, [(a, False)])


def _op_products(b: _Builder, a: _Node | None = None, share: bool = False):
    """le.outer (flattened operands), le.inner (last axes) and le.vdot (conjugated, flat)."""
    a = b.pick() if a is None else a
    kind = b.choice(("outer", "inner", "vdot"))
    if share:
        other, raw = a, False
    elif kind == "outer":
        other, raw = b.partner(a, lambda n: n.value.size * a.value.size <= _MAX_SIZE,
                               lambda: b.shape(max_size=16))
    elif kind == "vdot":
        other, raw = b.partner(a, lambda n: n.value.size == a.value.size,
                               lambda: (a.value.size,))
    else:
        last = a.shape[-1:] or ()
        other, raw = b.partner(a, lambda n: n.shape[-1:] == last or not n.shape or not last,
                               lambda: (b.dim(),) + last)
    return b.node(f"le.{kind}({{0}}, {{1}})", f"np.{kind}({{0}}, {{1}})",
                  [(a, False), (other, raw)])
