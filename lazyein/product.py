"""One product of an einsum: a term per operand tied into a single term through its letters.

Each letter ties the labels that index it in the operands (``label = x - offset``, solved by
a union-find over label offsets); an axis merged from parts (a kron's) splits the plain axes
across from it to match; a window axis (``x = u + a``) is substituted into the views of the
other operands. Where no strided view does it, `NeedsDense` names the operand to compute
first.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .ir import Node
from .regroup import NoView, split_label
from .sop import Axis, Factor, Sub, Term, full_axis

__all__ = ["NeedsDense", "combine"]


class NeedsDense(Exception):
    """The einsum operand at `operand` must be computed on its own before it is contracted."""

    def __init__(self, operand: int):
        super().__init__(operand)
        self.operand = operand


def combine(node: Node, terms: list[Term], fresh) -> Term | None:
    """The single term of the einsum `node` over `terms`, one per operand, no two sharing a
    label (`fresh` gives new ones); None when it is zero.

    Raises:
        NeedsDense: an operand's placement has no strided view against the others'.
    """
    letter_size = _letter_sizes(node)
    if 0 in letter_size.values():
        return None
    product = _Product(node, _split_across_merges(node, terms, letter_size, fresh),
                       letter_size, fresh)
    for letter, occ in product.occurrences().items():
        product.tie(letter, occ)
    return product.solved()


def _letter_sizes(node: Node) -> dict[int, int]:
    """Each einsum letter's length (a length-1 axis broadcasts against a longer one)."""
    letter_size: dict[int, int] = {}
    for labels, src in zip(node.arg.inputs, node.src):
        for ix, d in zip(labels, src.shape):
            letter_size[ix] = max(letter_size.get(ix, 1), d)
    return letter_size


def _split_across_merges(node: Node, terms: list[Term], letter_size, fresh) -> list[Term]:
    """Where a plain label meets a merged axis (a kron's) across an einsum letter and its
    own term places it on other axes too (an eye's diagonal), split it in that whole term
    to match, so that every axis it indexes is merged alike: ``kron(A, B) @ eye(n)``
    then costs nothing, where splitting one axis alone would have no strided view."""
    terms = list(terms)
    while (split := _split_across_a_merge(node, terms, letter_size, fresh)) is not None:
        i, term = split
        terms[i] = term
    return terms


def _split_across_a_merge(node: Node, terms: list[Term], letter_size, fresh):
    """The first operand term that `_split_across_merges` splits, as ``(operand, term
    split)``; None if there is none."""
    occurrences = defaultdict(list)
    for i, (t, labels, src) in enumerate(zip(terms, node.arg.inputs, node.src)):
        for ax, letter, d in zip(t.out, labels, src.shape):
            if d != 1:
                occurrences[letter].append((i, ax))
    for letter, occ in occurrences.items():
        n = letter_size[letter]
        pattern = next((ax for _, ax in occ if len(ax.subs) > 1 and ax.steps is None
                        and ax.start == 0 and ax.length == n), None)
        if pattern is None:
            continue
        for i, ax in occ:
            if len(ax.subs) != 1 or ax.steps is not None or ax.start:
                continue
            (sub,) = ax.subs
            elsewhere = any(s.label == sub.label for o in terms[i].out if o is not ax
                            for s in o.subs)
            if sub.dim == n and not sub.offset and terms[i].sizes[sub.label] == n and elsewhere:
                try:
                    return i, split_label(terms[i], sub.label, [s.dim for s in pattern.subs],
                                          fresh)
                except NoView:
                    continue
    return None


class _Product:
    """One product being tied: the operands' factors and label sizes, and what each letter's
    labels are tied to so far."""

    def __init__(self, node: Node, terms: list[Term], letter_size: dict[int, int], fresh):
        self.node, self.terms, self.letter_size, self.fresh = node, terms, letter_size, fresh
        self.coeff = math.prod(t.coeff for t in terms)
        self.dtype = np.result_type(*(t.dtype for t in terms)) if terms else np.dtype(bool)
        self.sizes = {ix: d for t in terms for ix, d in t.sizes.items()}
        self.factors = [f for t in terms for f in t.factors]
        self.parts_of: dict[int, list[int]] = {}  # letter -> the labels of its parts
        self.starts: dict[int, int] = {}  # letter -> where its merged axes start
        self.windows: dict[int, Axis] = {}  # letter -> the window axis that indexes it
        self.substitute: dict[int, tuple[int, Axis]] = {}  # label -> (shift, window): moved
        self.ties: list[tuple[int, int, int]] = []  # (label, x, c): label = x - c

    def occurrences(self) -> dict[int, list[tuple[int, Axis]]]:
        """Per letter, the ``(operand, axis)`` pairs that index it: a length-1 axis
        broadcasts and ties nothing, and a single index (a stacked slice) pins the letter
        there, as a label of size 1."""
        occurrences = defaultdict(list)
        for i, (t, labels, src) in enumerate(zip(self.terms, self.node.arg.inputs, self.node.src)):
            for ax, letter, d in zip(t.out, labels, src.shape):
                if d == 1:
                    continue
                if not ax.subs:
                    pin = self.fresh()
                    self.sizes[pin] = 1
                    ax = Axis(ax.start, (Sub(pin, 1, 0),))
                occurrences[letter].append((i, ax))
        return occurrences

    def tie(self, letter: int, occ):
        """Tie the labels that index `letter` in the operands (`occ`, see `occurrences`)."""
        if any(ax.steps is not None for _, ax in occ):
            self.windows[letter] = self.tie_window(occ)
        elif any(len(ax.subs) > 1 for _, ax in occ):
            self.tie_merged(letter, occ)
        else:
            x = self.fresh()  # letter = x: each operand's label is x moved by its offset
            self.sizes[x] = self.letter_size[letter]
            self.parts_of[letter] = [x]
            self.ties += [(ax.subs[0].label, x, ax.start + ax.subs[0].offset) for _, ax in occ]

    def tie_window(self, occ) -> Axis:
        """One einsum letter indexed by a window axis (``x = u + a``) in one operand: every
        other operand's label for that letter is replaced, in its factors, by the window
        itself, so the factor is viewed through the window (a convolution's input seen as
        overlapping patches, a strided view). Returns the window, for the letter's output."""
        (_, win), *rest = sorted(occ, key=lambda o: o[1].steps is None)
        low = win.start + sum(s.offset * st for s, st in zip(win.subs, win.steps))
        high = low + sum((self.sizes[s.label] - 1) * st for s, st in zip(win.subs, win.steps))
        for i, ax in rest:
            if ax.steps is not None or len(ax.subs) != 1:
                raise NeedsDense(i)  # two windows, or a window against a split axis
            (sub,) = ax.subs
            base = ax.start + sub.offset  # the letter is base + label
            others = [o for o in self.terms[i].out if o is not ax]
            # the label must cover the window, and index nothing else but whole axes
            in_outs = any(s.label == sub.label for o in others for s in o.subs)
            in_parts = any(s.label == sub.label and (len(a.subs) > 1 or a.steps is not None)
                           for f in self.terms[i].factors for a in f.axes for s in a.subs)
            if low - base < 0 or high - base >= self.sizes[sub.label] or in_outs or in_parts:
                raise NeedsDense(i)
            self.substitute[sub.label] = (win.start - base, win)
        return win

    def tie_merged(self, letter: int, occ):
        """A letter that an operand's axis merges from parts (a kron's): a fresh label per
        part, tied to the matching sub of every merged axis (all must split alike); a plain
        axis across from them is split to match."""
        i0, pattern = next((i, ax) for i, ax in occ if len(ax.subs) > 1)
        dims = [s.dim for s in pattern.subs]
        # the merged axis may cover a sub-range of the letter (a padded kron): then the
        # other operands' axes are sliced to it before they are split
        start = pattern.start
        if start + pattern.length > self.letter_size[letter]:
            raise NeedsDense(i0)
        self.starts[letter] = start
        parts = self.parts_of[letter] = [self.fresh() for _ in dims]
        self.sizes.update(zip(parts, dims))
        for i, ax in occ:
            if len(ax.subs) == 1:
                self.split_plain(ax, self.letter_size[letter], parts, start, i0)
            elif [s.dim for s in ax.subs] != dims or ax.start != start:
                raise NeedsDense(i)
            else:
                # each part of the letter ties to a sub, which may cover a sub-range
                # of it (a kron's offset eye, a reshaped pad): the tie restricts it
                self.ties += [(s.label, x, s.offset) for s, x in zip(ax.subs, parts)]

    def split_plain(self, ax: Axis, n: int, parts: list[int], start: int, blame: int):
        """The plain axis `ax` (of a letter of length `n`) across from merged ones, split
        to match: a free view. Its label becomes pieces, each tied to a part; it must index
        the whole letter and appear on no other output axis of its term."""
        a = ax.subs[0].label
        if ax.start or ax.subs[0] != Sub(a, n, 0) or self.sizes[a] != n or any(
                s.label == a for t in self.terms for o in t.out if o is not ax for s in o.subs):
            raise NeedsDense(blame)
        pieces = [self.fresh() for _ in parts]
        self.sizes.update((p, self.sizes[x]) for p, x in zip(pieces, parts))
        self.factors = self.split_everywhere(a, pieces, blame, start)
        self.ties += [(p, x, 0) for p, x in zip(pieces, parts)]

    def split_everywhere(self, label: int, parts: list[int], blame: int, shift: int = 0):
        """The factors with `label` replaced by `parts`; with `shift`, the parts cover
        only ``[shift, shift + their product)`` of the label's range, and each axis it
        indexes must be that label alone (its start moves by `shift`)."""
        sizes = self.sizes
        whole = Sub(label, sizes[label], 0)

        def split(ax: Axis) -> Axis:
            if not any(s.label == label for s in ax.subs):
                return ax
            if ax.steps is not None or any(s.label == label and s != whole for s in ax.subs):
                raise NeedsDense(blame)
            if shift or math.prod(sizes[p] for p in parts) != sizes[label]:
                if len(ax.subs) != 1:
                    raise NeedsDense(blame)
                return Axis(ax.start + shift, tuple(Sub(p, sizes[p], 0) for p in parts))
            return ax._replace(subs=tuple(
                q for s in ax.subs
                for q in ((Sub(p, sizes[p], 0) for p in parts) if s.label == label else (s,))))

        return [Factor(f.source, tuple(map(split, f.axes))) for f in self.factors]

    def solved(self) -> Term | None:
        """The product with its ties solved: each group of tied labels one fresh label over
        the range where all of them are in bounds; None where a group has no such range
        (the product is zero)."""
        factors = self.factors
        if self.substitute:
            factors = [Factor(f.source, tuple(_substituted(ax, self.substitute)
                                              for ax in f.axes)) for f in factors]
        placement = _solve(self.ties, self.sizes, self.fresh)
        if placement is None:
            return None
        new_sizes, moved = placement
        self.sizes.update(new_sizes)
        term = Term(self.coeff, tuple(factors), self.output_axes(), self.sizes, self.dtype)
        return self.free_labels_summed(_moved_term(term, moved), moved)

    def output_axes(self) -> tuple[Axis, ...]:
        """The einsum's output axes: a letter's window, or its parts (where its merged axes
        start), or where every operand broadcasts it, a fresh label of its own."""
        out = []
        for letter in self.node.arg.output:
            n = self.letter_size[letter]
            parts = self.parts_of.get(letter)
            if n == 1:
                out.append(Axis(0, ()))
            elif letter in self.windows:
                out.append(self.windows[letter])
            elif parts is None:
                x = self.fresh()
                self.sizes[x] = n
                out.append(full_axis(x, n))
            else:
                out.append(Axis(self.starts.get(letter, 0),
                                tuple(Sub(x, self.sizes[x], 0) for x in parts)))
        return tuple(out)

    def free_labels_summed(self, term: Term, moved) -> Term:
        """`term` with each tied label, or window's label, that indexes nothing summed away:
        a sum over a range of ones is its size (the copies of a stack summed away count each
        copy), a factor of the coefficient. Sizes are kept for the labels used only."""
        used = {s.label for f in term.factors for ax in f.axes for s in ax.subs}
        used |= {s.label for ax in term.out for s in ax.subs}
        summed = {u for u, _ in moved.values()}
        summed |= {_moved_sub(s, moved).label for letter, win in self.windows.items()
                   if letter not in self.node.arg.output for s in win.subs}
        coeff = term.coeff * math.prod(self.sizes[u] for u in summed - used)
        return term._replace(coeff=coeff, sizes={ix: self.sizes[ix] for ix in used})


def _moved_sub(s: Sub, moved) -> Sub:
    """`s` with its label replaced as `moved` says (``label = u + shift``)."""
    if s.label not in moved:
        return s
    u, shift = moved[s.label]
    return Sub(u, s.dim, s.offset + shift)


def _moved_term(term: Term, moved) -> Term:
    """`term` with each label in `moved` replaced (see `_moved_sub`); a factor it does not
    index is kept as it is (a long product's factors mostly are)."""
    def axes(ax_list):
        if not any(s.label in moved for ax in ax_list for s in ax.subs):
            return ax_list
        return tuple(ax._replace(subs=tuple(_moved_sub(s, moved) for s in ax.subs))
                     for ax in ax_list)

    factors = tuple(f if (a := axes(f.axes)) is f.axes else Factor(f.source, a)
                    for f in term.factors)
    return term._replace(factors=factors, out=axes(term.out))


def _substituted(ax: Axis, substitute) -> Axis:
    """`ax` with a label that a window replaces (see `_Product.tie_window`) replaced."""
    if not any(s.label in substitute for s in ax.subs):
        return ax
    (sub,) = ax.subs  # `tie_window` allowed the label nowhere else
    shift, win = substitute[sub.label]
    return win._replace(start=ax.start + sub.offset + shift)


def _solve(ties, sizes, fresh):
    """Solve ``label = x - c`` ties with a union-find over label offsets.

    Returns ``(new_sizes, moved)``, where ``moved[label] = (u, shift)`` means label = u + shift
    for a fresh label u per group of tied labels, over the range on which every label of the
    group is in bounds; None if some group has no such range (the term is zero).
    """
    parent: dict[int, tuple[int, int]] = {}  # label -> (parent, offset): label = parent + offset

    def find(ix):
        path = []
        while ix in parent:
            path.append(ix)
            ix = parent[ix][0]
        total = 0
        for node in reversed(path):  # compress, accumulating offsets from the root down
            total += parent[node][1]
            parent[node] = (ix, total)
        return ix, (parent[path[0]][1] if path else 0)

    for label, x, c in ties:
        ra, oa = find(label)
        rx, ox = find(x)
        if ra == rx:
            if oa != ox - c:
                return None  # two different diagonals of one axis pair never meet
        else:
            parent[ra] = (rx, ox - c - oa)
    groups = defaultdict(list)
    for ix in {ix for label, x, _ in ties for ix in (label, x)}:
        root, offset = find(ix)
        groups[root].append((ix, offset))
    new_sizes, moved = {}, {}
    for members in groups.values():
        lo = max(-d for _, d in members)
        hi = min(sizes[ix] - d for ix, d in members)
        if hi <= lo:
            return None
        u = fresh()
        new_sizes[u] = hi - lo
        for ix, d in members:
            moved[ix] = (u, lo + d)
    return new_sizes, moved
