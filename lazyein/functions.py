"""`le.function`: expressions over placeholders planned once; a call checks its arrays and runs
the plan's compiled steps, nothing else."""

from __future__ import annotations

import numpy as np

from . import runtime
from .backends.numpy import NUMPY, template
from .errors import LazyeinError, ShapeError
from .execute import compiled
from .ir import NUMPY_LIBRARIES, Leaf, Node, Op, common_library, toposort
from .paths import optimizer
from .steps import Plan
from .validate import check_out, parse_bytes

__all__ = ["Function", "function"]

# plans kept per function for inputs laid out otherwise than in C order (rarely more than one)
_LAYOUTS = 16


def function(inputs, outputs, max_bytes=None, optimize="auto") -> Function:
    """Compile `outputs`, expressions over the placeholders `inputs`, into a function of
    arrays: planned once within `max_bytes`; a call checks its arrays and runs the plan.

    Args:
        inputs: a placeholder (`le.placeholder`) or a list of them: the call's arrays, in
            this order.
        outputs: a LazyTensor, or a list of them (computed together, sharing their work).
        max_bytes: bound on a call's working memory (bytes, or a string such as ``"64MB"``).
        optimize: what orders each term's contraction, as `LazyTensor.compute` takes it.

    Returns:
        A `Function`: ``f(*arrays, out=None)`` returns a new ndarray (a tuple of them for a
        list of outputs), or `out` filled; ``f.explain()`` is its plan.

    Raises:
        TypeError: an input is not a placeholder, or an output not a LazyTensor, or the
            expression holds arrays of a library other than numpy.
        LazyeinError: an output depends on a placeholder that is not among `inputs`.
        MemoryBudgetError: no plan fits in `max_bytes`.
        ValueError: `optimize` is neither a name opt_einsum knows nor a path optimizer.

    >>> import numpy as np, lazyein as le
    >>> x, y = le.placeholder((2,), name="x"), le.placeholder((2,), int, name="y")
    >>> f = le.function([x, y], [x + y, x @ y])
    >>> f(np.array([1.0, 2.0]), np.array([3, 4]))
    (array([4., 6.]), array(11.))
    """
    return Function(inputs, outputs, max_bytes, optimize)


class _Program:
    """A plan bound to a value table: the table with the constants in their slots, the slot
    of each input, and the compiled steps each with the values dead after it."""

    __slots__ = ("plan", "env", "slots", "steps", "outputs")

    def __init__(self, plan: Plan, arrays: list, leaves: list[Leaf]):
        assert len(arrays) == plan.num_leaves, (len(arrays), plan)
        where = {id(a): k for k, a in enumerate(arrays)}
        env = list(arrays) + [None] * (plan.num_values - plan.num_leaves)
        slots = []
        for leaf in leaves:
            k = where.get(id(leaf.array))
            if k is None:  # an input that no output reads: a slot of its own, never read
                k = len(env)
                env.append(None)
            env[k] = None  # the stand-in is never read: the call's array goes here
            slots.append(k)
        self.plan, self.env, self.slots, self.outputs = plan, env, tuple(slots), plan.outputs
        self.steps = tuple(zip(compiled(plan.steps, NUMPY, plan), plan.frees))


class Function:
    """Expressions over placeholders, planned once (see `function`)."""

    __slots__ = ("_roots", "_leaves", "_budget", "_optimize", "_program", "_layouts", "_specs",
                 "_single", "_out0", "_n")

    def __init__(self, inputs, outputs, max_bytes=None, optimize="auto"):
        self._leaves = _input_leaves(inputs)
        self._single = not isinstance(outputs, (list, tuple))
        self._roots = _output_roots(outputs, self._leaves)
        self._budget = parse_bytes(max_bytes)
        self._optimize = optimizer(optimize)
        self._program = self._planned(self._leaves, self._roots)
        self._layouts: dict = {}  # strides of the inputs (None: C order) -> _Program
        # per input: what a call's array must match to run the plan as it is, unconverted
        self._specs = tuple((leaf.array.shape, leaf.array.dtype, leaf.array.strides)
                            for leaf in self._leaves)
        self._n = len(self._leaves)
        self._out0 = self._program.outputs[0]

    def _planned(self, leaves, roots) -> _Program:
        plan, arrays = runtime.plan_for(roots, self._budget, optimize=self._optimize)
        return _Program(plan, arrays, leaves)

    def __call__(self, *arrays, out=None):
        program = self._program
        if out is None and len(arrays) == self._n:
            # the fast path: arrays exactly as planned (type, dtype, shape, C strides)
            env = program.env.copy()
            for a, slot, (shape, dtype, strides) in zip(arrays, program.slots, self._specs):
                if type(a) is not np.ndarray or a.dtype is not dtype or a.shape != shape \
                        or a.strides != strides:
                    break
                env[slot] = a
            else:
                for fn, dead in program.steps:
                    fn(env)
                    for v in dead:
                        env[v] = None
                if self._single:
                    return env[self._out0]
                return tuple(_results(env, program.outputs))
        return self._call(arrays, out)

    def _call(self, arrays, out):
        """A call whose arrays need converting, casting or another plan, or with `out`."""
        if len(arrays) != self._n:
            raise TypeError(f"this function takes {self._n} array(s) ({self._signature()}), "
                            f"got {len(arrays)}")
        arrays = [_bound(a, leaf, k) for k, (a, leaf) in enumerate(zip(arrays, self._leaves))]
        outs = self._check_out(out)
        layout = tuple(None if a.flags.c_contiguous else a.strides for a in arrays)
        program = self._program if not any(layout) else self._laid_out(layout)
        env = program.env.copy()
        for a, slot in zip(arrays, program.slots):
            env[slot] = a
        del arrays
        for fn, dead in program.steps:
            fn(env)
            for v in dead:
                env[v] = None
        results = _results(env, program.outputs)
        del env
        if outs is not None:
            for target, result in zip(outs, results):
                if target is not None:
                    np.copyto(target, result, casting="safe")
            results = [r if o is None else o for r, o in zip(results, outs)]
        return results[0] if self._single else tuple(results)

    def _check_out(self, out) -> list | None:
        """`out` as one target (or None) per output, each checked as `compute` checks it."""
        if out is None:
            return None
        if self._single:
            outs = [out]
        elif not isinstance(out, tuple) or len(out) != len(self._roots):
            raise TypeError(f"out must be a tuple of {len(self._roots)} arrays (or None), one "
                            f"per output, not {type(out).__name__}"
                            + (f" of {len(out)}" if isinstance(out, tuple) else ""))
        else:
            outs = list(out)
        for target, root in zip(outs, self._roots):
            if target is not None:
                check_out(target, root.shape, root.dtype)
        return outs

    def _laid_out(self, layout: tuple) -> _Program:
        """The program for inputs of these strides (None: C order), planned on first use:
        which reshapes of an input copy, so what fits the budget, depends on its strides."""
        program = self._layouts.get(layout)
        if program is None:
            if len(self._layouts) >= _LAYOUTS:
                del self._layouts[next(iter(self._layouts))]
            leaves = [leaf if strides is None else Leaf(
                template(leaf.array.shape, leaf.array.dtype, strides), leaf.name,
                library="numpy", placeholder=True)
                for leaf, strides in zip(self._leaves, layout)]
            roots = _substituted(self._roots, dict(zip(self._leaves, leaves)))
            program = self._layouts[layout] = self._planned(leaves, roots)
        return program

    def explain(self) -> Plan:
        """The plan a call runs (for inputs in C order): terms, contraction orders, FLOPs,
        peak working bytes and chunks, as `LazyTensor.explain` reports them."""
        return self._program.plan

    def _signature(self) -> str:
        return ", ".join(_describe(leaf) for leaf in self._leaves)

    def __repr__(self):
        outputs = ", ".join(f"{list(r.shape)} {r.dtype}" for r in self._roots)
        return f"<lazyein function ({self._signature()}) -> ({outputs})>"


def _results(env: list, outputs) -> list:
    """The output values of a run, each an array of its own (outputs may share a value)."""
    results = [env[v] for v in outputs]
    for k in range(1, len(results)):
        results[k] = NUMPY.own(results[k], results[:k])
    return results


def _describe(leaf: Leaf) -> str:
    what = f"{list(leaf.array.shape)} {leaf.array.dtype}"
    return f"{leaf.name} {what}" if leaf.name else f"placeholder {what}"


def _bound(a, leaf: Leaf, k: int) -> np.ndarray:
    """The array `a` given for placeholder `leaf` (argument `k`), checked and cast safely."""
    from .api import LazyTensor
    from .inputs import is_array_api, is_dask_array

    if isinstance(a, LazyTensor) or is_dask_array(a) or is_array_api(a):
        raise TypeError(f"argument {k} ({_describe(leaf)}) must be a numpy array (or what "
                        f"np.asarray accepts), not {type(a).__name__}: a le.function runs "
                        "on numpy")
    shape, dtype = leaf.array.shape, leaf.array.dtype
    if type(a) in (bool, int, float, complex):
        # a Python scalar is weak, as in numpy's promotion (NEP 50): 1.5 binds a float32
        # placeholder, as float32 + 1.5 stays float32; 1.5 does not bind an int one
        if np.result_type(np.empty(0, dtype), a) != dtype:
            raise TypeError(f"argument {k} ({_describe(leaf)}) is the {type(a).__name__} "
                            f"{a!r}, which does not cast safely to the placeholder's {dtype}")
        a = np.asarray(a, dtype)
    if type(a) is not np.ndarray:
        a = np.asarray(a)  # lists; a subclass (np.matrix, a memmap) as a plain view
    if a.dtype.kind not in "biufc":
        raise TypeError(f"argument {k} ({_describe(leaf)}) has dtype {a.dtype}: lazyein "
                        "computes on numeric arrays")
    shape, dtype = leaf.array.shape, leaf.array.dtype
    if a.shape != shape:
        raise ShapeError(f"argument {k} ({_describe(leaf)}) has shape {a.shape}, expected "
                         f"{shape}")
    if a.dtype != dtype:
        if not np.can_cast(a.dtype, dtype, "safe"):
            raise TypeError(f"argument {k} ({_describe(leaf)}) has dtype {a.dtype}, which "
                            f"does not cast safely to the placeholder's {dtype}")
        a = a.astype(dtype, order="C")  # a copy: as an input, outside the plan's budget
    return a


def _input_leaves(inputs) -> list[Leaf]:
    """The placeholders `inputs` names (one, or a list), checked: placeholders, distinct."""
    from .api import LazyTensor

    many = isinstance(inputs, (list, tuple))
    leaves = []
    for k, t in enumerate(inputs if many else [inputs]):
        node = t.node if isinstance(t, LazyTensor) else None
        if node is None or node.op is not Op.LEAF or not node.arg.placeholder:
            what = f"a {type(t).__name__}" if node is None else f"a LazyTensor of {node.op.value}"
            raise TypeError(f"le.function's inputs must be placeholders (le.placeholder(shape, "
                            f"dtype)); input {k} is {what}")
        if node.arg in leaves:
            raise ValueError(f"le.function: input {k} ({_describe(node.arg)}) is given twice")
        leaves.append(node.arg)
    return leaves


def _output_roots(outputs, leaves: list[Leaf]) -> tuple[Node, ...]:
    """The outputs' nodes, checked: LazyTensors on numpy, over placeholders among `leaves`."""
    from .api import LazyTensor

    many = isinstance(outputs, (list, tuple))
    items = list(outputs) if many else [outputs]
    if not items:
        raise ValueError("le.function needs at least one output")
    for k, t in enumerate(items):
        if not isinstance(t, LazyTensor):
            raise TypeError(f"le.function's outputs must be LazyTensors; output {k} is a "
                            f"{type(t).__name__} (wrap an array with le.lazy)")
    roots = tuple(t.node for t in items)
    library = common_library(roots)
    if library not in NUMPY_LIBRARIES or library == "dask":
        raise TypeError(f"le.function runs on numpy; the outputs hold {library} arrays: "
                        "convert them with np.asarray, or compute without placeholders")
    known = set(leaves)
    for node in toposort(*roots):
        if node.op is Op.LEAF and node.arg.placeholder and node.arg not in known:
            raise LazyeinError(f"le.function: the outputs depend on placeholder "
                               f"{_describe(node.arg)}, which is not among the inputs "
                               f"({', '.join(map(_describe, leaves))}); add it to them")
    return roots


def _substituted(roots, leaves: dict) -> tuple[Node, ...]:
    """`roots` with each leaf in `leaves` replaced by its value there."""
    new: dict[Node, Node] = {}
    for node in toposort(*roots):
        if node.op is Op.LEAF:
            new[node] = node if node.arg not in leaves else Node(Op.LEAF, arg=leaves[node.arg])
        else:
            src = tuple(new[s] for s in node.src)
            new[node] = node if src == node.src else Node(node.op, src, node.arg)
    return tuple(new[r] for r in roots)

