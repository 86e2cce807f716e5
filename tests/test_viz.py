"""DOT drawings of expressions and plans: they parse, match the DAG, survive hostile names,
and render through Graphviz."""

import dataclasses
import html
import os
import re
import shutil
import sys
import types
import xml.etree.ElementTree as ET

import numpy as np
import pydot
import pytest
from hypothesis import HealthCheck, given, settings

import lazyein as le
import strategies
from lazyein import viz
from lazyein.ir import toposort
from lazyein.steps import ChunkLoop, Contract, View

# pydot's DOT parser calls pyparsing names that pyparsing 3.3 deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pydot.dot_parser")

IN_CI = bool(os.environ.get("CI"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not IN_CI,
                               reason="Graphviz's dot is not installed (CI installs it)")

HOSTILE = ['say "hi"', "{braces}", "<b>&amp;</b>", "back\\slash", "two\nlines", "a|b",
           "x -> y; ]", "\x07bell", "naïve ∑", ""]


def problem2(n=4, q=5):
    rng = np.random.default_rng(0)
    A = le.lazy(rng.normal(size=(n, n)), name="A")
    B = le.lazy(rng.normal(size=q), name="B")
    Y2 = le.lazy(rng.normal(size=n), name="Y2")
    Z2 = le.lazy(rng.normal(size=(q, n)), name="Z2")
    C = le.lazy_einsum("i,jk->ijk", B, A)
    C2 = le.lazy_einsum("j,ik->ijk", Y2, Z2)
    return le.lazy_einsum("ijk,ikj->k", C + C2, C + C2)


def problem1(blocks=4):
    W0 = le.lazy(np.ones((3, 7)), name="W0")
    data = le.lazy(np.ones((6, blocks * 7)), name="data")
    return le.kron(le.eye(blocks), W0) @ data.T


def parse(source: str):
    (graph,) = pydot.graph_from_dot_data(source)
    return graph


def all_nodes(graph):
    """Vertices declared anywhere in `graph`, clusters included (not the defaults)."""
    found = [n for n in graph.get_nodes() if n.get_name() not in ("node", "edge", "graph")]
    for sub in graph.get_subgraphs():
        found += all_nodes(sub)
    return found


def label_text(label: str) -> str:
    """The text an HTML-like label shows, line breaks as newlines."""
    inner = label[1:-1]
    return html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<BR[^>]*>", "\n", inner)))


EXPRESSIONS = {
    "problem 2": problem2,
    "problem 1": problem1,
    "pad, scale, weak scalar": lambda: 2.5 * le.pad(le.lazy(np.ones((2, 3)), name="x"),
                                                    ((1, 0), (0, 2)), constant_values=7) + 1,
    "stack and concatenate": lambda: le.concatenate(
        [le.stack([le.eye(3), le.eye(3, k=1)]), le.lazy(np.ones((1, 3, 3)))], axis=0),
    "reshape": lambda: le.lazy(np.arange(12.0), name="v").reshape(3, 4) @ le.eye(4, 2),
}


@pytest.mark.parametrize("make", EXPRESSIONS.values(), ids=EXPRESSIONS.keys())
def test_expression_dot_has_one_vertex_per_node_and_one_edge_per_operand(make):
    t = make()
    order = toposort(t.node)
    graph = parse(viz.expression_dot(t.node))
    assert len(all_nodes(graph)) == len(order)
    assert len(graph.get_edges()) == sum(len(n.src) for n in order)


def test_shared_subexpressions_appear_once_with_an_edge_per_use():
    t = problem2()
    graph = parse(viz.expression_dot(t.node))
    labels = {n.get_name(): label_text(n.get_label()) for n in all_nodes(graph)}
    (add,) = [name for name, text in labels.items() if text.startswith("+\n")]
    uses = [e for e in graph.get_edges() if e.get_source() == add]
    assert len(uses) == 2 and {e.get_destination() for e in uses} == {
        name for name, text in labels.items() if text.startswith("einsum abc,acb->c")}
    # the operands' positions and subscripts label the edges
    assert sorted(label_text(e.get_label()) for e in uses) == ["0: abc", "1: acb"]


def test_labels_name_operations_shapes_dtypes_and_leaves():
    x = le.lazy(np.ones((2, 3), np.float32), name="x")
    t = le.stack([le.kron(le.eye(2), x), 3 * le.pad(le.kron(le.eye(2), x), ((0, 0), (0, 0)))])
    text = "\n".join(label_text(n.get_label()) for n in all_nodes(parse(viz.expression_dot(
        t.node))))
    for expected in ["x\nfloat32[2, 3]\n24 B", "eye N=2 M=2 k=0", "einsum ab,cd->acbd",
                     "kron: reshape\nfloat64[4, 6]", "× 3", "pad 0:0, 0:0",
                     "stack axis=0", "float64[2, 4, 6]\n384 B, the result"]:
        assert expected in text
    u = le.pad(le.lazy(np.ones(2), name="u"), (1, 2), constant_values=5)
    v = le.concatenate([u, u], axis=0)
    text = "\n".join(label_text(n.get_label()) for n in all_nodes(parse(viz.expression_dot(
        v.node))))
    assert "pad 1:2 with 5" in text and "concat axis=0" in text


def test_unnamed_inputs_are_numbered_as_the_plan_numbers_them():
    t = le.lazy(np.ones(3)) @ le.lazy(np.ones(3), name="b")
    text = [label_text(n.get_label()) for n in all_nodes(parse(viz.expression_dot(t.node)))]
    assert any(s.startswith("input 0\n") for s in text) and any(s.startswith("b\n") for s in text)


def test_expression_dot_golden():
    x = le.lazy(np.ones((2, 3)), name="x")
    assert viz.expression_dot((x + x).node) == "\n".join([
        "digraph G {",
        "rankdir=TB;",
        "fontname=Helvetica;",
        "fontsize=12;",
        "ordering=in;",
        "node [fontname=Helvetica, fontsize=11];",
        'edge [fontname=Helvetica, fontsize=9, color="#4b5563"];',
        'n0 [label=<<B>x</B><BR/><FONT POINT-SIZE="9">float64[2, 3]<BR/>48 B</FONT>>, '
        'shape=box, style=filled, fillcolor="#dbeafe"];',
        'n1 [label=<<B>+</B><BR/><FONT POINT-SIZE="9">float64[2, 3]<BR/>48 B, the result</FONT>>'
        ', shape=box, style="filled,rounded", fillcolor="#dcfce7", peripheries=2];',
        "n0 -> n1 [label=<0>];",
        "n0 -> n1 [label=<1>];",
        "}",
        ""])


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_hostile_names_give_dot_that_parses_and_keeps_the_name(name):
    x = le.lazy(np.ones(3), name=name)
    source = viz.expression_dot((x @ x).node)
    nodes = all_nodes(parse(source))
    shown = [label_text(n.get_label()) for n in nodes]
    printable = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in name)
    printable = printable or "input 0"  # as the plan calls an input named ""
    assert any(s.startswith(printable + "\nfloat64[3]") for s in shown)
    # the plan shows the name too
    plan_text = [label_text(n.get_label()) for n in all_nodes(parse(viz.plan_dot(
        (x @ x).explain())))]
    assert any(s.startswith(printable + "\ninput") for s in plan_text)


@needs_dot
def test_hostile_names_render_and_survive_in_the_svg():
    leaves = [le.lazy(np.ones(2), name=name) for name in HOSTILE]
    t = leaves[0]
    for leaf in leaves[1:]:
        t = t + leaf
    svg = viz.visualize(viz.expression_dot(t.node))
    text = "\n".join(e.text or "" for e in ET.fromstring(svg).iter())  # well-formed XML
    for name in HOSTILE:
        printable = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in name)
        for line in printable.split("\n"):
            assert line in text


@needs_dot
def test_visualize_renders_svg_naming_the_leaves():
    t = problem2()
    svg = viz.visualize(viz.expression_dot(t.node))
    assert isinstance(svg, bytes) and b"<svg" in svg
    for name in ["A", "B", "Y2", "Z2"]:
        assert f">{name}<".encode() in svg
    planned = viz.visualize(viz.plan_dot(t.explain()))
    assert b"<svg" in planned and b"term 3" in planned and b">Z2<" in planned


@needs_dot
def test_visualize_writes_files_as_dask_names_them(tmp_path):
    source = viz.expression_dot(problem1().node)
    viz.visualize(source, filename=tmp_path / "graph")  # no extension: the format's is added
    assert (tmp_path / "graph.svg").read_bytes().lstrip().startswith(b"<")
    viz.visualize(source, filename=str(tmp_path / "graph.png"))  # an extension names a format
    assert (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")
    viz.visualize(source, filename=tmp_path / "graph.v1", format="pdf")
    assert (tmp_path / "graph.v1.pdf").read_bytes().startswith(b"%PDF")


@needs_dot
def test_visualize_rejects_a_format_graphviz_does_not_know():
    with pytest.raises(ValueError, match="Graphviz could not render format 'nonsense'"):
        viz.visualize("digraph { a }", format="nonsense")


@needs_dot
def test_visualize_inside_ipython_returns_a_display_object(monkeypatch):
    class SVG:
        def __init__(self, data):
            self.data = data

    display = types.SimpleNamespace(SVG=SVG, Image=None)
    ipython = types.SimpleNamespace(get_ipython=lambda: object(), display=display)
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    shown = viz.visualize("digraph { a -> b }")
    assert isinstance(shown, SVG) and b"<svg" in shown.data
    ipython.get_ipython = lambda: None  # IPython installed, but not running
    assert isinstance(viz.visualize("digraph { a -> b }"), bytes)


def test_visualize_without_graphviz_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no dot program
    with pytest.raises(viz.GraphvizNotFoundError) as caught:
        viz.visualize("digraph { a }")
    assert isinstance(caught.value, RuntimeError) and isinstance(caught.value, le.LazyeinError)
    message = str(caught.value)
    for hint in ["apt-get install graphviz", "conda install -c conda-forge graphviz",
                 "brew install graphviz", "https://graphviz.org/download/"]:
        assert hint in message


def test_mimebundle_never_raises(monkeypatch, tmp_path):
    assert viz.mimebundle("not DOT at all {", "text") == {"text/plain": "text"}
    monkeypatch.setenv("PATH", str(tmp_path))
    assert viz.mimebundle("digraph { a }", "text") == {"text/plain": "text"}


@needs_dot
def test_mimebundle_carries_the_svg():
    bundle = viz.mimebundle(viz.expression_dot(problem1().node), "repr")
    assert bundle["text/plain"] == "repr" and "W0" in bundle["image/svg+xml"]


def test_without_pydot_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'lazyein[viz]'")):
        viz.expression_dot(problem1().node)


def test_ci_has_the_rendering_toolchain():
    """CI must run the rendering tests, never skip them: .ci/run installs Graphviz."""
    if not IN_CI:
        pytest.skip("only CI promises Graphviz")
    assert shutil.which("dot"), "Graphviz's dot is missing in CI: .ci/run should install it"


# -- plans ------------------------------------------------------------------------------------

def clusters(graph) -> dict:
    """Every cluster under `graph`, by name: (label text, vertex names, sub-clusters)."""
    found = {}
    for sub in graph.get_subgraphs():
        names = {n.get_name() for n in sub.get_nodes()}
        found[sub.get_name()] = (label_text(sub.get_label()), names)
        found.update(clusters(sub))
    return found


def test_plan_dot_shows_terms_inputs_and_the_result():
    t = problem2()
    plan = t.explain()
    graph = parse(viz.plan_dot(plan))
    found = clusters(graph)
    assert sorted(found) == [f"cluster_term{k}" for k in range(4)]
    for k, term in enumerate(plan.terms):
        title, _ = found[f"cluster_term{k}"]
        assert f"term {k}: einsum('{term.equation}')" in title
        assert f"{term.flops:,} FLOPs, into result 0" in title
        assert "factor 3: " + term.factors[3] in title
    text = [label_text(n.get_label()) for n in all_nodes(graph)]
    assert sorted(s.split("\n")[0] for s in text if "input, read in place" in s) == [
        "A", "B", "Y2", "Z2"]
    assert sum(s.startswith("result 0\n") for s in text) == 1
    assert sum(s.startswith("contract ") for s in text) == sum(
        isinstance(s, Contract) for s in plan.steps)
    # the steps use the letters of their term's equation: term 0 is 'a,bc,a,cb->c'
    assert {"contract a,a->", "contract bc,cb->c"} <= {s.split("\n")[0] for s in text}
    assert "4 term(s), " in label_text(graph.get_label())


def test_plan_dot_shows_views_copies_and_why_something_is_materialized():
    x = le.lazy(np.ones((3, 4)), name="x")
    y = le.lazy(np.ones(12), name="y")
    plan = ((x.reshape(12) + y).reshape(4, 3) @ x).explain()
    assert plan.materialized
    text = [label_text(n.get_label()) for n in all_nodes(parse(viz.plan_dot(plan)))]
    note = next(s for s in text if s.startswith("computed in full, not expanded"))
    for what in plan.materialized:
        assert what in note
    assert any(s.startswith("computed add [12]\nzeros float64[12], 96 B") for s in text)
    assert any(s.startswith("reshape to [4, 3]") for s in text)
    kron = problem1().explain()
    text = [label_text(n.get_label()) for n in all_nodes(parse(viz.plan_dot(kron)))]
    assert "view: split\nno copy" in text
    assert any(s.startswith("+= the term\ninto a split view") for s in text)


def test_plan_bytes_are_the_ones_the_plan_records():
    plan = problem1().explain()
    # the bytes each value's step allocates, as the memory estimate counts them (a plan that
    # records them gives `value_bytes` and `step_scratch`)
    fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    recorded = types.SimpleNamespace(**(fields | {
        "value_bytes": tuple(range(1000, 1000 + plan.num_values)),
        "step_scratch": tuple(7 * 1024 if isinstance(s, Contract) else 0
                              for s in plan.steps)}))
    (contract,) = [s for s in plan.steps if isinstance(s, Contract)]
    text = [label_text(n.get_label()) for n in all_nodes(parse(viz.plan_dot(recorded)))]
    made = f"float64, {1000 + contract.out} B"
    assert any(made in s and "+ 7.0 KiB scratch" in s for s in text)


def diagonal_terms():
    """A plan of two terms sharing a diagonal view: the shape of one term in two chunks."""
    S = le.lazy(np.ones((4, 4)), name="S")
    y = le.lazy(np.ones((4, 5)), name="y")
    z = le.lazy(np.ones((4, 5)), name="z")
    return (le.einsum("ii,ij->j", S, y) + le.einsum("ii,ij->j", S, z)).explain()


def as_chunks(plan, steps=None, chunks=None):
    """`plan` with its two terms told as two chunks of its first term (`steps` and their
    `chunks` replacing the plan's, where given)."""
    steps = plan.steps if steps is None else steps
    extra = len(steps) - len(plan.steps)
    if chunks is None:
        chunks = tuple(1 if t == 1 else 0 for t in plan.step_terms) + (1,) * extra
    first = dataclasses.replace(plan.terms[0], num_chunks=2,
                                sliced=("a (kept, 10) in 2 chunks of 5",))
    return dataclasses.replace(
        plan, steps=steps, terms=(first,), num_chunks=2, step_chunks=chunks,
        step_terms=tuple(None if t is None else 0 for t in plan.step_terms) + (0,) * extra)


def test_a_chunked_term_draws_one_chunk_in_a_loop_and_shared_work_outside_it():
    plan = diagonal_terms()
    assert len(plan.terms) == 2
    views = [s for s in plan.steps if isinstance(s, View) and not s.spec.identity]
    assert len(views) == 1  # the diagonal of S, taken once for both terms
    chunked = as_chunks(plan)
    graph = parse(viz.plan_dot(chunked))
    found = clusters(graph)
    loop_label, in_loop = found["cluster_term0_chunk"]
    assert loop_label.startswith("for each of 2 chunks (one drawn)\nsliced: a (kept, 10)")
    _, in_term = found["cluster_term0"]
    assert f"v{views[0].out}" in in_term and f"v{views[0].out}" not in in_loop
    contracts = [n for n in all_nodes(graph) if label_text(n.get_label()).startswith("contract")]
    assert len(contracts) == 1 and contracts[0].get_name() in in_loop


def test_a_plan_under_a_budget_draws_its_loop_with_the_hoisted_work_outside():
    x, y = le.lazy(np.ones((20, 5)), name="x"), le.lazy(np.ones((5, 6)), name="y")
    z = le.lazy(np.ones((6, 2000)), name="z")
    plan = (2 * le.einsum("ab,bc,cd->da", x, y, z)).explain(max_bytes="64KB")
    (report,) = plan.terms
    assert report.num_chunks > 1 and any(isinstance(s, ChunkLoop) for s in plan.steps)
    graph = parse(viz.plan_dot(plan))
    found = clusters(graph)
    loop_label, in_loop = found["cluster_term0_chunk"]
    assert loop_label == (f"for each of {report.num_chunks} chunks (one drawn)\n"
                          f"sliced: {report.sliced[0]}\n")
    contracts = {n.get_name(): label_text(n.get_label()) for n in all_nodes(graph)
                 if label_text(n.get_label()).startswith("contract")}
    # x @ y does not depend on the sliced label: computed once, before the loop
    (hoisted,) = [name for name, text in contracts.items() if text.startswith("contract ab,bc")]
    assert hoisted in found["cluster_term0"][1] and hoisted not in in_loop
    assert len(contracts) == 2 and set(contracts) - {hoisted} <= in_loop


# pydot's parser is slow (~30 ms a graph): a few dozen random DAGs, each plan checked by
# Graphviz's own parser where it is installed
@settings(max_examples=30, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=strategies.exprs(min_ops=1, max_ops=6, share=True))
def test_random_dags_and_their_plans_give_dot_that_parses(case):
    t = case.lazy
    order = toposort(t.node)
    graph = parse(viz.expression_dot(t.node))
    assert len(all_nodes(graph)) == len(order)
    assert len(graph.get_edges()) == sum(len(n.src) for n in order)
    planned = viz.plan_dot(t.explain())
    if shutil.which("dot"):
        assert b"<svg" in viz.visualize(planned)
    else:
        parse(planned)


def test_lazy_tensor_draws_itself_and_le_dot_stays_a_function(tmp_path):
    x = le.lazy(np.ones((3, 4)), name="x")
    t = x @ x.T
    assert pydot.graph_from_dot_data(t.to_dot()) and "x</B>" in t.to_dot()
    assert "term 0" in t.to_dot(planned=True)
    assert callable(le.dot) and le.dot(np.ones(2), np.ones(2)).compute() == 2
    if shutil.which("dot"):
        assert b"<svg" in t.visualize()
        t.visualize(filename=tmp_path / "t", planned=True)
        assert (tmp_path / "t.svg").exists()
        assert "image/svg+xml" in t._repr_mimebundle_()


def test_repr_mimebundle_without_pydot_is_text(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)
    t = le.lazy(np.ones(2), name="x") * 2
    assert t._repr_mimebundle_() == {"text/plain": repr(t)}
