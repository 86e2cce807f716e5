"""DOT drawings of an expression DAG and of its plan, and their rendering with Graphviz."""

from __future__ import annotations

import html
import math
import os
import shutil
import subprocess

import networkx as nx
import numpy as np

from .errors import LazyeinError
from .ir import Node, Op, definition, toposort
from .printing import format_bytes, letters
from .steps import Accumulate, ChunkLoop, Contract, Elementwise, Reshape, View, Zeros

__all__ = ["expression_graph", "expression_dot", "plan_graph", "plan_dot", "visualize",
           "mimebundle", "GraphvizNotFoundError"]


class GraphvizNotFoundError(LazyeinError, RuntimeError):
    """Graphviz's ``dot`` program, which renders the drawings, is not installed."""


_INSTALL_GRAPHVIZ = (
    "Rendering needs Graphviz's `dot` program, which was not found on PATH. Install Graphviz: "
    "`apt-get install graphviz` (Debian, Ubuntu), `conda install -c conda-forge graphviz`, "
    "`brew install graphviz` (macOS), or see https://graphviz.org/download/. Without it, "
    "`to_dot()` still gives the DOT source.")

# filename extensions that name a Graphviz output format (dask infers the format the same way)
_FORMATS = frozenset({"svg", "png", "pdf", "jpg", "jpeg", "gif", "dot", "gv", "ps", "eps",
                      "json", "plain"})

# the drawing's vocabulary: inputs blue, values computed in full amber, results green
_INPUT = {"shape": "box", "style": "filled", "fillcolor": "#dbeafe"}
_STRUCTURED = {"shape": "box", "style": "dashed"}
_OPERATION = {"shape": "box", "style": "rounded"}
_VIEW = {"shape": "box", "style": "dashed,rounded", "color": "#6b7280"}
_MATERIALIZED = {"shape": "box", "style": "filled", "fillcolor": "#fde68a"}
_RESULT = {"style": "filled,rounded", "fillcolor": "#dcfce7", "peripheries": "2"}
_ADD_INTO = {"shape": "box", "style": "rounded,filled", "fillcolor": "#f3f4f6"}
_NOTE = {"shape": "note", "style": "filled", "fillcolor": "#fef3c7"}
_DEFAULTS = {"graph": {"rankdir": "TB", "fontname": "Helvetica", "fontsize": "12"},
             "node": {"fontname": "Helvetica", "fontsize": "11"},
             "edge": {"fontname": "Helvetica", "fontsize": "9", "color": "#4b5563"}}


# -- labels -----------------------------------------------------------------------------------

def _text(value) -> str:
    """`value` as the text of a Graphviz HTML-like label: markup escaped, newlines as line
    breaks, and characters no XML parser accepts (control characters, lone surrogates) shown
    as Python escapes, so any user's name gives a label Graphviz and pydot both parse.

    >>> _text('a<b> & "c"\\nd\\x00')
    'a&lt;b&gt; &amp; &quot;c&quot;<BR/>d\\\\x00'
    """
    shown = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in str(value))
    return html.escape(shown, quote=True).replace("\n", "<BR/>")


def _label(title, *details, left: bool = False) -> str:
    """An HTML-like label: `title` in bold over smaller lines of `details` (None skipped)."""
    br = '<BR ALIGN="LEFT"/>' if left else "<BR/>"
    lines = br.join(_text(d) for d in details if d is not None)
    small = f'<FONT POINT-SIZE="9">{lines}{br if left else ""}</FONT>' if lines else ""
    bold = f"<B>{_text(title)}</B>" if title else ""  # Graphviz rejects an empty <B></B>
    return f"<{bold}{br if lines else ''}{small}>"


def _plain(text: str) -> str:
    """A label of plain text; an empty one for no text."""
    return f"<{_text(text)}>" if text else ""


def _type(shape, dtype) -> str:
    return f"{np.dtype(dtype).name}[{', '.join(map(str, shape))}]"


# -- the expression DAG -----------------------------------------------------------------------

def expression_graph(node: Node) -> nx.MultiDiGraph:
    """The DAG under `node` as a networkx graph: one vertex per DAG node (a shared node once),
    one edge per operand, from operand to operation, labelled with its position.

    >>> import numpy as np, lazyein as le
    >>> x = le.lazy(np.ones((2, 3)), name="x")
    >>> g = expression_graph((x + x).node)
    >>> g.number_of_nodes(), g.number_of_edges()
    (2, 2)
    """
    order = toposort(node)
    ids = {n: f"n{k}" for k, n in enumerate(order)}
    leaves = {n: i for i, n in enumerate(n for n in order if n.op is Op.LEAF)}
    graph = nx.MultiDiGraph()
    # operands enter in order, left to right
    graph.graph.update(_DEFAULTS, graph=_DEFAULTS["graph"] | {"ordering": "in"})
    for n in order:
        title, details, style, operands = _describe(n, leaves, root=n is node)
        graph.add_node(ids[n], label=_label(title, *details), **style)
        for s, operand in zip(n.src, operands, strict=True):
            graph.add_edge(ids[s], ids[n], label=_plain(operand))
    return graph


def expression_dot(node: Node) -> str:
    """The DAG under `node` as DOT source (through pydot, the ``viz`` extra).

    Raises:
        ImportError: pydot is not installed.

    >>> import numpy as np, lazyein as le
    >>> w = le.lazy(np.ones((3, 4)), name="W")
    >>> source = expression_dot((le.eye(3) @ w).node)
    >>> "W</B>" in source and "eye N=3 M=3 k=0" in source
    True
    """
    return _to_dot(expression_graph(node))


def _describe(node: Node, leaves: dict[Node, int], root: bool) -> tuple[str, list, dict, list]:
    """(title, detail lines, style, edge labels) of `node`'s vertex, as its op draws it
    (`ops.OpDef.draw`); `leaves` numbers the inputs as the plan does. Only the `root` is
    always built."""
    drawing = definition(node.op).draw(node)
    operands = drawing.operands
    if operands is None:  # positions, where there is more than one
        operands = [str(k) if len(node.src) > 1 else "" for k in range(len(node.src))]
    size = format_bytes(node.size * node.dtype.itemsize)
    kind = _type(node.shape, node.dtype)
    match drawing.kind:
        case "input":
            details, style = [kind, size], _INPUT
        case "structured":
            details, style = [kind, "index arithmetic, never built"], _STRUCTURED
        case "operation" if root:
            details, style = [kind, f"{size}, the result"], _OPERATION | _RESULT
        case "operation":
            details, style = [kind, f"{size} if built"], _OPERATION
        case _:
            raise AssertionError(drawing)
    if drawing.details is not None:
        details = list(drawing.details)
    title = drawing.title
    if title is None:  # an unnamed input, numbered
        assert drawing.kind == "input", (node.op, drawing)
        title = f"input {leaves[node]}"
    return title, details, style, operands


# -- the plan ---------------------------------------------------------------------------------

def plan_graph(plan) -> nx.MultiDiGraph:
    """The schedule of `plan` as a networkx graph. Vertices are the inputs, the values steps
    make (views, contractions, reshapes, zeroed results) and the additions into results; edges
    carry data. Each term's steps share a cluster (``graph.graph["clusters"]``, named by each
    vertex's ``cluster`` attribute), and a term computed in chunks shows one chunk's steps in
    a cluster that names the loop.

    >>> import numpy as np, lazyein as le
    >>> x = le.lazy(np.ones((2, 3)), name="x")
    >>> g = plan_graph((x @ x.T).explain())
    >>> sorted(g.graph["clusters"])
    ['term0']
    """
    steps = plan.steps
    producer = {step.out: k for k, step in enumerate(steps) if _out(step) is not None}
    owners = _owners(plan, producer)
    drawn, once = _first_chunks(plan, owners)
    # a view that changes nothing is drawn as what it views
    alias = {}
    for k in drawn:
        step = steps[k]
        if isinstance(step, View) and step.spec.identity:
            alias[step.out] = alias.get(step.src, step.src)

    def vertex(value):
        return f"v{alias.get(value, value)}"

    graph = nx.MultiDiGraph()
    graph.graph.update(_DEFAULTS)
    graph.graph["graph"] = _DEFAULTS["graph"] | {
        "label": _label(_summary(plan), "dashed: views of inputs, nothing copied; amber: "
                        "computed in full; green: results"),
        "labelloc": "t"}
    graph.graph["clusters"] = _term_clusters(plan, owners, drawn)
    names = plan.leaf_names
    term_letters = _term_letters(plan, owners, drawn)
    readers: dict[int, set] = {}  # per value, the terms whose steps read it
    filled: dict[int, set] = {}   # per value, the terms that add into it
    for k, step in enumerate(steps):
        for value in _operands(step):
            readers.setdefault(value, set()).add(owners[k])
        if isinstance(step, Accumulate) and owners[k] is not None:
            filled.setdefault(step.target, set()).add(plan.terms[owners[k]].into)
    for k in drawn:
        step, term = steps[k], owners[k]
        where = f"term{term}" if k in once else _cluster_of(plan, term)
        for value in _operands(step):
            if alias.get(value, value) < plan.num_leaves:
                leaf = alias.get(value, value)
                graph.add_node(f"v{leaf}", label=_label(names[leaf] if names else
                                                        f"input {leaf}", "input, read in place"),
                               **_INPUT)
        if isinstance(step, View) and step.spec.identity:
            continue
        if isinstance(step, Accumulate):
            node = f"s{k}"
            graph.add_node(node, cluster=where, **_accumulation(step, _scratch(plan, k)))
            if step.src is not None:
                graph.add_edge(vertex(step.src), node)
            graph.add_edge(node, vertex(step.target))
            continue
        others = sorted(t for t in readers.get(step.out, set()) - {term} if t is not None)
        label, style = _value_vertex(plan, k, term_letters.get(term, {}), others,
                                     sorted(filled.get(step.out, ())))
        graph.add_node(vertex(step.out), label=label, cluster=where, **style)
        for value, edge in zip(_operands(step), _edge_labels(step, term_letters.get(term, {}))):
            graph.add_edge(vertex(value), vertex(step.out), label=edge)
    if plan.materialized:
        graph.add_node("materialized", label=_label("computed in full, not expanded",
                                                    *plan.materialized, left=True), **_NOTE)
    return graph


def plan_dot(plan) -> str:
    """The schedule of `plan` (`LazyTensor.explain()`) as DOT source, through pydot.

    Raises:
        ImportError: pydot is not installed.

    >>> import numpy as np, lazyein as le
    >>> x = le.lazy(np.ones((2, 3)), name="x")
    >>> "contract ab,cb-&gt;ac" in plan_dot((x @ x.T).explain())
    True
    """
    return _to_dot(plan_graph(plan))


def _summary(plan) -> str:
    return (f"{len(plan.terms)} term(s), {plan.flops:,} FLOPs, peak working memory "
            f"~{format_bytes(plan.peak_bytes)}, {plan.num_chunks} chunk(s)")


_DRAWN = (View, Contract, Reshape, Elementwise, Zeros, Accumulate)


def _out(step):
    return step.out if isinstance(step, _DRAWN) and not isinstance(step, Accumulate) else None


def _first_chunks(plan, owners) -> tuple[list[int], set[int]]:
    """The steps to draw, a chunked term's first chunk standing for all of them, and among
    those the steps such a term runs once: work its further chunks reuse, or that work's
    inputs. Further chunks are a `ChunkLoop` running some of the first chunk's steps again,
    or the steps of a later chunk (the first of a group of another shape)."""
    steps, chunked = plan.steps, {t for t, r in enumerate(plan.terms) if r.num_chunks > 1}
    drawn = [k for k, step in enumerate(steps) if isinstance(step, _DRAWN)
             and (owners[k] not in chunked or plan.step_chunks[k] == 0)]
    body = [s for step in steps if isinstance(step, ChunkLoop) for s in step.body]
    looped = set(map(id, body))
    reused = {v for s in body for v in _operands(s)}
    reused.update(v for k, s in enumerate(steps)
                  if owners[k] in chunked and plan.step_chunks[k] > 0 for v in _operands(s))
    once = set()
    for k in reversed(drawn):  # after its readers, so a reused step's inputs are known
        step = steps[k]
        if (owners[k] in chunked and _out(step) in reused and id(step) not in looped):
            once.add(k)
            reused.update(_operands(step))
    return drawn, once


def _operands(step) -> tuple[int, ...]:
    """The values drawn as edges into `step`: what it reads (an addition's target is drawn
    as the edge out of it)."""
    if isinstance(step, Accumulate):
        return () if step.src is None else (step.src,)
    return step.reads


def _owners(plan, producer) -> list[int | None]:
    """The term each step works for. An addition into a result whose zeros were made just
    before it is recorded with the zeros' "no term"; it belongs to the term whose value it
    adds."""
    owners = list(plan.step_terms)
    for k, step in enumerate(plan.steps):
        if owners[k] is None and isinstance(step, Accumulate) and step.src in producer:
            owners[k] = owners[producer[step.src]]
    return owners


def _cluster_of(plan, term: int | None) -> str | None:
    if term is None:
        return None
    return f"term{term}_chunk" if plan.terms[term].num_chunks > 1 else f"term{term}"


def _term_clusters(plan, owners, drawn) -> dict[str, dict]:
    """One cluster per term with drawn steps, labelled with its equation, FLOPs and factors;
    inside it, for a term computed in chunks, the loop over one chunk."""
    clusters = {}
    for t in dict.fromkeys(owners[k] for k in drawn if owners[k] is not None):
        report = plan.terms[t]
        coeff = "" if report.coeff == 1 else f"{report.coeff!r} * "
        factors = [f"factor {j}: {what}" for j, what in enumerate(report.factors)]
        clusters[f"term{t}"] = {
            "label": _label(f"term {t}: {coeff}einsum('{report.equation}')",
                            f"{report.flops:,} FLOPs, into {report.into}", *factors, left=True),
            "style": "rounded", "color": "#9ca3af", "labeljust": "l"}
        if report.num_chunks > 1:
            clusters[f"term{t}_chunk"] = {
                "parent": f"term{t}", "style": "dashed", "color": "#2563eb", "labeljust": "l",
                "label": _label(f"for each of {report.num_chunks} chunks (one drawn)",
                                "sliced: " + "; ".join(report.sliced), left=True)}
    return clusters


def _term_letters(plan, owners, drawn) -> dict[int, dict[int, str]]:
    """Per term, a letter for each label its steps use: the letters its report records for
    its equation, then (for work shared with a term before it) by first appearance, so a
    label reads the same in the cluster's title and in each of its steps."""
    names: dict = {}
    for k in drawn:
        step, term = plan.steps[k], owners[k]
        if not isinstance(step, Contract):
            continue
        if term not in names:
            names[term] = dict(plan.terms[term].letters) if term is not None else {}
        seen = names[term]
        for ix in (*(ix for ls in step.labels for ix in ls), *step.result):
            if ix not in seen:
                seen[ix] = letters([len(seen)])
    return names


def _edge_labels(step, names: dict[int, str]) -> list[str]:
    if isinstance(step, Contract) and len(step.args) > 1:
        return [_plain("".join(names[ix] for ix in ls) or "scalar") for ls in step.labels]
    return [""] * len(_operands(step))


def _value_vertex(plan, k: int, names: dict[int, str], reused_by: list[int],
                  filled_by: list[str]) -> tuple[str, dict]:
    """(label, style) of the value step `k` makes, which the terms `reused_by` read too and
    the terms of `filled_by` (their `into`) add into."""
    step = plan.steps[k]
    nbytes = _allocated(plan, step)
    made = None if nbytes is None else format_bytes(nbytes)
    result = [f"result {i}" for i, v in enumerate(plan.outputs) if v == step.out]
    match step:
        case View():
            title, details, style = f"view: {_view_kind(step.spec)}", ["no copy"], _VIEW
        case Contract():
            spec = ",".join("".join(names[ix] for ix in ls) for ls in step.labels)
            title = f"contract {spec}->{''.join(names[ix] for ix in step.result)}"
            details = [step.dtype.name + (f", {made}" if made else "")]
            if plan.step_flops and plan.step_flops[k]:
                details.append(f"{plan.step_flops[k]:,} FLOPs")
            scratch = _scratch(plan, k)
            if scratch:
                details.append(f"+ {format_bytes(scratch)} scratch: operand copies, sums")
            if reused_by:
                details.append("reused by term " + ", ".join(map(str, reused_by)))
            style = _OPERATION
        case Reshape():
            title = f"reshape to {list(step.shape)}"
            copy = None if nbytes is None else ("a view" if nbytes == 0 else f"a copy, {made}")
            details, style = [copy], _MATERIALIZED if nbytes else _OPERATION
        case Elementwise():
            title = f"astype {step.dtype.name}" if step.fn == "astype" else step.fn
            copy = None if nbytes is None else ("a view" if nbytes == 0 else f"a copy, {made}")
            details, style = [copy], _MATERIALIZED if nbytes else _OPERATION
        case Zeros():
            title = result[0] if result else ", ".join(filled_by) or "computed in full"
            details = [f"zeros {_type(step.shape, step.dtype)}, {made}", "terms add into it"]
            style = _ADD_INTO if result else _MATERIALIZED
        case _:
            raise AssertionError(step)
    if result and not isinstance(step, Zeros):
        details.insert(0, ", ".join(result))
    return _label(title, *details), style | (_RESULT if result else {})


def _view_kind(spec) -> str:
    """What a view does: an index, a slice, a split of axes, a diagonal, a sliding window."""
    return ", ".join(spec.kinds)


def _accumulation(step: Accumulate, scratch: int) -> dict:
    """Attributes of the vertex adding a term into its target (`scratch`: the bytes the plan
    counts for it)."""
    region = step.region
    where = "into " + (f"a {_view_kind(region)} view" if not region.identity else "all of it")
    coeff = "" if step.coeff == 1 else f" {step.coeff!r} ×"
    what = "the constant" if step.src is None else "the term"
    details = [where, "broadcast" if step.expand is not None else None,
               f"{format_bytes(scratch)} scratch" if scratch else None]
    return {"label": _label(f"+={coeff} {what}", *details), **_ADD_INTO}


def _allocated(plan, step) -> int | None:
    """Bytes the step allocates for its value, where the plan or the step tells."""
    if isinstance(step, View):
        return 0
    if isinstance(step, Zeros):
        return math.prod(step.shape) * np.dtype(step.dtype).itemsize
    return plan.value_bytes[step.out] if plan.value_bytes else None


def _scratch(plan, k: int) -> int:
    return plan.step_scratch[k] if plan.step_scratch else 0


# -- writing DOT ------------------------------------------------------------------------------

def _pydot():
    try:
        import pydot
    except ImportError as err:
        raise ImportError("DOT output is written with pydot, which is not installed: "
                          "pip install 'lazyein[viz]'", name="pydot") from err
    return pydot


def _to_dot(graph: nx.MultiDiGraph) -> str:
    """Write `graph` as DOT through pydot, putting each vertex into its ``cluster``."""
    pydot = _pydot()
    dot = pydot.Dot(graph_type="digraph", **graph.graph.get("graph", {}))
    dot.set_node_defaults(**graph.graph.get("node", {}))
    dot.set_edge_defaults(**graph.graph.get("edge", {}))
    where = {None: dot}
    for name, attrs in graph.graph.get("clusters", {}).items():  # parents come first
        cluster = pydot.Cluster(name, **{k: v for k, v in attrs.items() if k != "parent"})
        where[attrs.get("parent")].add_subgraph(cluster)
        where[name] = cluster
    for vertex, attrs in graph.nodes(data=True):
        attrs = {k: str(v) for k, v in attrs.items() if k != "cluster"}
        where[graph.nodes[vertex].get("cluster")].add_node(pydot.Node(vertex, **attrs))
    for u, v, attrs in graph.edges(data=True):
        dot.add_edge(pydot.Edge(u, v, **{k: str(x) for k, x in attrs.items() if x != ""}))
    return dot.to_string()


# -- rendering --------------------------------------------------------------------------------

def _dot_program() -> str:
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError(_INSTALL_GRAPHVIZ)
    return program


def _render(source: str, format: str, timeout: float | None = None) -> bytes:
    """`source` rendered by Graphviz's dot in `format`."""
    done = subprocess.run([_dot_program(), f"-T{format}"], input=source.encode("utf-8"),
                          capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise ValueError(f"Graphviz could not render format {format!r}: {message}")
    return done.stdout


def _target(filename, format: str) -> tuple[str, str]:
    """The file to write and its format: an extension that names a format decides it;
    otherwise `format` is used and its extension appended."""
    filename = os.fspath(filename)
    extension = os.path.splitext(filename)[1][1:].lower()
    if extension in _FORMATS:
        return filename, extension
    return f"{filename}.{format}", format


def visualize(source: str, filename=None, format: str = "svg"):
    """Render DOT `source` with Graphviz.

    Args:
        source: DOT source, as `LazyTensor.to_dot()` gives it.
        filename: where to write the rendering. A name ending in a format's extension
            (``.png``, ``.pdf``, ...) is rendered in that format; any other name gets
            ``.`` + `format` appended, as dask's ``visualize`` does.
        format: the Graphviz output format (``svg``, ``png``, ``pdf``, ...).

    Returns:
        Inside IPython, a display object (``IPython.display.SVG`` or ``Image``) for formats
        it shows; otherwise the rendered bytes.

    Raises:
        GraphvizNotFoundError: the ``dot`` program is not installed; the message says how
            to install it.
        ValueError: Graphviz cannot render `source` in `format`.
    """
    if filename is not None:
        filename, format = _target(filename, format)
    data = _render(source, format)
    if filename is not None:
        with open(filename, "wb") as f:
            f.write(data)
    return _display(data, format)


def _display(data: bytes, format: str):
    """An IPython display object for `data` when running inside IPython, else `data`."""
    try:
        import IPython
        import IPython.display
    except ImportError:
        return data
    if IPython.get_ipython() is None:
        return data
    if format == "svg":
        return IPython.display.SVG(data=data)
    if format in ("png", "jpg", "jpeg", "gif"):
        return IPython.display.Image(data=data, format=format)
    return data


# a notebook shows every LazyTensor it prints: give up on a drawing that takes longer than this
_REPR_TIMEOUT = 10.0


def mimebundle(source: str, text: str) -> dict:
    """A notebook's representation: `text`, and the SVG of `source` when Graphviz is
    installed. Never raises: a repr that fails hides the object it describes.

    >>> mimebundle("digraph { a -> b }", "a")["text/plain"]
    'a'
    """
    bundle = {"text/plain": text}
    try:
        bundle["image/svg+xml"] = _render(source, "svg", timeout=_REPR_TIMEOUT).decode("utf-8")
    except Exception:  # any failure to draw leaves the text alone
        pass
    return bundle
