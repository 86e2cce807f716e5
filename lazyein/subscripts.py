"""Parse numpy's einsum grammar (string and interleaved forms) into integer labels."""

from __future__ import annotations

import functools
import operator
import re
import string

from .errors import LabelSizeError, SubscriptError

__all__ = ["parse_einsum", "split_interleaved"]

_LETTERS = frozenset(string.ascii_letters)
# numpy numbers sublist labels 0-25 as A-Z and 26-51 as a-z, so implicit output sorts by int;
# past those, characters from U+00C0 up (as opt_einsum's `get_symbol`), in the same order
_SUBLIST_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def split_interleaved(args) -> tuple[str, list]:
    """Turn ``(op, sublist, op, sublist, ..., [output])`` into ``(subscripts, operands)``."""
    operands, terms = list(args[0::2]), [_listed(sub) for sub in args[1::2]]
    output = None
    if len(args) % 2 == 1:
        output = _listed(operands.pop())
    if output is not None and not _is_sublist(output):
        raise SubscriptError(f"the interleaved form ends with an output sublist; got {output!r}")
    for i, sub in enumerate(terms):
        if not _is_sublist(sub):
            raise SubscriptError(f"operand {i} must be followed by a sublist of ints and Ellipsis; "
                                 f"got {sub!r}")
    # any non-negative ints: numbered by rank, so that letters sort as the ints do (numpy's
    # implicit output lists its labels in increasing order)
    ranks = {x: k for k, x in enumerate(sorted({_label(x) for sub in terms + [output or []]
                                                for x in sub if x is not Ellipsis}))}
    spec = ",".join(_sublist_letters(sub, ranks) for sub in terms)
    if output is not None:
        spec += "->" + _sublist_letters(output, ranks)
    return spec, operands


def _listed(sub):
    """A sublist given as a 1-D integer array (numpy accepts one) as a list of ints."""
    if type(sub).__module__ == "numpy" and getattr(sub, "ndim", None) == 1 and \
            sub.dtype.kind in "iu":
        return sub.tolist()
    return sub


def _is_sublist(obj) -> bool:
    return isinstance(obj, (list, tuple)) and all(
        x is Ellipsis or (isinstance(x, int) and not isinstance(x, bool)) or hasattr(x, "__index__")
        for x in obj)


def _label(x) -> int:
    x = operator.index(x)
    if x < 0:
        raise SubscriptError(f"sublist label {x} is out of range: labels are non-negative ints")
    return x


def _sublist_letters(sub, ranks: dict[int, int]) -> str:
    return "".join("..." if x is Ellipsis else _symbol(ranks[operator.index(x)]) for x in sub)


def _symbol(rank: int) -> str:
    """The letter of the `rank`-th smallest sublist label: A-Z, a-z, then characters from
    U+00C0 up, skipping surrogates and whitespace (increasing, so sorting letters sorts the
    labels; a space-like character would be read as a separator)."""
    if rank < len(_SUBLIST_LETTERS):
        return _SUBLIST_LETTERS[rank]
    while len(_MORE_LETTERS) <= rank - len(_SUBLIST_LETTERS):
        code = ord(_MORE_LETTERS[-1]) + 1 if _MORE_LETTERS else 0xC0
        while 0xD800 <= code < 0xE000 or chr(code).isspace():
            code += 1
        _MORE_LETTERS.append(chr(code))
    return _MORE_LETTERS[rank - len(_SUBLIST_LETTERS)]


_MORE_LETTERS: list[str] = []  # the letters past A-Z, a-z, made as far as asked for


def parse_einsum(subscripts: str, shapes: tuple[tuple[int, ...], ...]):
    """Resolve `subscripts` against operand `shapes`.

    Labels become small ints numbered by first appearance, ``...`` dimensions included.

    Returns:
        ``(inputs, output, sizes)``: one label tuple per operand, the output label tuple, and
        each label's size after size-1 broadcasting.

    Raises:
        SubscriptError: malformed subscripts, or ones that do not fit the operands.
        LabelSizeError: a label given two sizes that do not broadcast.

    >>> parse_einsum("ij,jk", ((2, 3), (3, 4)))
    (((0, 1), (1, 2)), (0, 2), {0: 2, 1: 3, 2: 4})
    """
    if not isinstance(subscripts, str):
        raise SubscriptError(f"einsum subscripts must be a str; got {type(subscripts).__name__}")
    for run in re.findall(r"\.+", subscripts):
        if len(run) != 3:
            raise SubscriptError(f"einsum subscripts {subscripts!r} contain {run!r}: a '.' must "
                                 "be part of an unbroken '...'")
    return _parse(subscripts.replace(" ", ""), tuple(map(tuple, shapes)))


@functools.lru_cache(maxsize=4096)
def _parse(spec: str, shapes):
    if spec.count("->") > 1:
        raise SubscriptError(f"einsum subscripts {spec!r} contain '->' more than once")
    lhs, arrow, rhs = spec.partition("->")
    if "-" in lhs or ">" in lhs or "-" in rhs or ">" in rhs:
        raise SubscriptError(f"einsum subscripts {spec!r}: '-' and '>' may only appear together "
                             "as one '->'")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise SubscriptError(f"einsum subscripts {spec!r} name {len(terms)} operand(s), "
                             f"but {len(shapes)} were given")
    parsed = [_split_term(t, f"operand {i}") for i, t in enumerate(terms)]
    output = _split_term(rhs, "the output") if arrow else None

    ell_rank = 0
    expanded = []  # per operand: letters, with ellipsis dims as ints counted from the right
    for i, ((letters, ell_at), shape) in enumerate(zip(parsed, shapes)):
        n_ell = len(shape) - len(letters)
        if ell_at is None and n_ell != 0:
            raise SubscriptError(
                f"einsum operand {i} has {len(shape)} dimension(s) but its subscripts "
                f"{terms[i]!r} name {len(letters)}; add '...' to broadcast the extra dimensions")
        if n_ell < 0:
            raise SubscriptError(f"einsum operand {i} has {len(shape)} dimension(s), fewer than "
                                 f"the {len(letters)} labels in {terms[i]!r}")
        ell_rank = max(ell_rank, n_ell)
        expanded.append(letters[:ell_at] + [-(n_ell - k) for k in range(n_ell)]
                        + letters[ell_at:] if ell_at is not None else list(letters))

    if output is None:
        counts = {}
        for term in expanded:
            for ix in term:
                if isinstance(ix, str):
                    counts[ix] = counts.get(ix, 0) + 1
        out = [-(ell_rank - k) for k in range(ell_rank)]
        out += sorted(ix for ix, c in counts.items() if c == 1)
    else:
        letters, ell_at = output
        if ell_at is None and ell_rank:
            raise SubscriptError(
                f"einsum output {rhs!r} has no '...' but the operands have {ell_rank} broadcast "
                "dimension(s); add '...' to the output or drop it from the inputs")
        ell = [-(ell_rank - k) for k in range(ell_rank)]
        out = letters[:ell_at] + ell + letters[ell_at:] if ell_at is not None else list(letters)
        seen = set()
        inputs_letters = {ix for term in expanded for ix in term}
        for ix in letters:
            if ix in seen:
                raise SubscriptError(f"einsum output {rhs!r} repeats label {ix!r}")
            if ix not in inputs_letters:
                raise SubscriptError(f"einsum output label {ix!r} does not appear in any input "
                                     f"of {spec!r}")
            seen.add(ix)

    numbering, sizes = {}, {}
    inputs = []
    for i, (term, shape) in enumerate(zip(expanded, shapes)):
        labels = []
        within = {}
        for ix, d in zip(term, shape):
            name = f"'{ix}'" if isinstance(ix, str) else "'...'"
            if ix in within and within[ix] != d:
                raise LabelSizeError(f"einsum operand {i} repeats label {name} on dimensions of "
                                     f"sizes {within[ix]} and {d}; a diagonal needs equal sizes")
            within[ix] = d
            n = numbering.setdefault(ix, len(numbering))
            if sizes.get(n, 1) == 1:
                sizes[n] = d
            elif d not in (1, sizes[n]):
                raise LabelSizeError(f"einsum label {name} has size {sizes[n]} in an earlier "
                                     f"operand but size {d} in operand {i} (shape {shape})")
            labels.append(n)
        inputs.append(tuple(labels))
    for ix in out:  # an ellipsis dimension absent from every operand cannot arise; letters checked
        numbering.setdefault(ix, len(numbering))
    output_labels = tuple(numbering[ix] for ix in out)
    return tuple(inputs), output_labels, sizes


def _split_term(term: str, where: str):
    """Letters of one comma-separated term and the index where its '...' stood (or None)."""
    ell_at = None
    if "." in term:
        if term.count(".") != 3 or "..." not in term:
            raise SubscriptError(f"einsum subscripts of {where} ({term!r}) contain a '.' that is "
                                 "not part of one '...'")
        ell_at = term.index("...")
        term = term.replace("...", "")
    for ch in term:
        if ch not in _LETTERS and (ch.isascii() or ch.isspace()):
            raise SubscriptError(f"einsum subscripts of {where} ({term!r}) contain {ch!r}; "
                                 "labels must be letters: a-z, A-Z or non-ASCII letters")
    return list(term), ell_at
