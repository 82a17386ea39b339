"""Small-cell suppression: no figure of the report identifies a patient.

The rule, for a set of counts that partition a published total (contracts per unit, patients
per age band, responses per unit behind a yes-rate):

1. a count from 1 to ``minimum - 1`` is hidden (zero is shown, except in figures of patients'
   attributes, where it is hidden like a small count: "no patient of unit A has a mental
   disorder" is about every patient of unit A);
2. complementary suppression: while the hidden counts are fewer than two, or add up to less
   than ``minimum``, the smallest shown non-zero count is hidden too, so the total minus the
   shown counts never gives away one hidden count (two hidden counts of 1 summing to 2 would);
3. a total below ``minimum`` is hidden with every count under it.

A rate is hidden with its denominator (a yes-rate over three answers tells what each said), and
its numerator is hidden when the numerator or its complement (denominator − numerator) is from 1
to ``minimum - 1`` (four yes of five tells the fifth said no) — with a second numerator of the
same split (:func:`hidden_numerators`).

Hierarchies are suppressed consistently (:func:`hidden_in_hierarchy`): the units of one
caregiver are protected against that caregiver's published count, their complement is found
among the same caregiver's units, and a hidden caregiver hides at least one of its units.

Suppression works on the true counts; what is shown is then perturbed by the cell-key method
(:mod:`fhirbridge.report.cellkey`), which is what protects one report against another.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


P = TypeVar("P", bound=Hashable)


def hidden_cells(
    counts: Mapping[K, int], minimum: int, forced: frozenset[K] = frozenset(), *, zeros: bool = False
) -> set[K]:
    """The keys of ``counts`` to hide so that none can be told from the others and their total;
    ``forced`` are hidden whatever their count (a caregiver one of whose units is).  With
    ``zeros`` a 0 is hidden like a small count: in a figure of patients' attributes a published
    0 would say what no patient of the unit is (and, beside one full cell, what every one is)."""
    if minimum <= 1:
        return set()
    total = sum(counts.values())
    if 0 < total < minimum:
        return {key for key, value in counts.items() if value > 0 or zeros}
    hidden = {key for key, value in counts.items() if 0 < value < minimum or (zeros and value == 0 and total)}
    hidden |= forced & counts.keys()
    shown = sorted((value, str(key), key) for key, value in counts.items() if value >= minimum and key not in hidden)
    while hidden and (len(hidden) < 2 or sum(counts[key] for key in hidden) < minimum) and shown:
        hidden.add(shown.pop(0)[2])
    return hidden


def shown_total(total: int, minimum: int) -> int | None:
    """The total as published: None when it is itself a small count."""
    return None if 0 < total < minimum else total


def protected(counts: Mapping[K, int], hidden: set[K], minimum: int) -> bool:
    """Whether ``hidden`` cannot be told from the total: none, or two or more adding up to ``minimum``."""
    return not hidden or (len(hidden) >= 2 and sum(counts[key] for key in hidden) >= minimum)


def hidden_in_hierarchy(
    parents: Mapping[P, int], children: Mapping[K, int], parent_of: Callable[[K], P], minimum: int
) -> tuple[set[P], set[K]]:
    """The parents (caregivers) and children (their units) to hide when both are published: a
    child's complement is found among its own parent's children (never in another parent, whose
    published count would give it back), a parent whose children cannot protect each other is
    hidden too, and a hidden parent hides at least one of its children (its smallest), so that
    its shown children never add up to it."""
    if minimum <= 1:
        return set(), set()
    groups: dict[P, dict[K, int]] = {}
    for child, value in children.items():
        groups.setdefault(parent_of(child), {})[child] = value
    hidden_children = {parent: hidden_cells(members, minimum) for parent, members in groups.items()}
    forced = frozenset(p for p, members in groups.items() if not protected(members, hidden_children[p], minimum))
    hidden_parents = hidden_cells(parents, minimum, forced)
    hidden: set[K] = set()
    for parent, members in groups.items():
        hidden |= hidden_children[parent]
        shown = sorted((v, str(c), c) for c, v in members.items() if v > 0 and c not in hidden_children[parent])
        if parent in hidden_parents and not hidden_children[parent] and shown:
            hidden.add(shown[0][2])  # else its shown units would add up to it
    return hidden_parents, hidden


def small(value: int, minimum: int) -> bool:
    return 0 < value < minimum


def hidden_numerators(pairs: Mapping[K, tuple[int, int]], minimum: int, *, split: bool) -> set[K]:
    """The rates (numerator, denominator) whose numerator is hidden: the numerator or its
    complement is small; and, when the rates ``split`` one published rate (per unit), a second
    one beside a lone hidden numerator, so the published numerator minus the shown ones does
    not give it back."""
    if minimum <= 1:
        return set()
    hidden = {key for key, (num, den) in pairs.items() if small(num, minimum) or small(den - num, minimum)}
    if split and len(hidden) == 1:
        others = sorted((den, str(key), key) for key, (num, den) in pairs.items() if key not in hidden and den > 0)
        if others:
            hidden.add(others[0][2])
    return hidden
