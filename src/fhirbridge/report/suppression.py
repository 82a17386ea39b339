"""Small-cell suppression: no figure of the report identifies a patient.

The rule, for a set of counts that partition a published total (contracts per unit, patients
per age band, responses per unit behind a yes-rate):

1. a count from 1 to ``minimum - 1`` is hidden (zero is shown: it identifies nobody);
2. complementary suppression: while the hidden counts are fewer than two, or add up to less
   than ``minimum``, the smallest shown non-zero count is hidden too, so the total minus the
   shown counts never gives away one hidden count (two hidden counts of 1 summing to 2 would);
3. a total below ``minimum`` is hidden with every count under it.

A rate is hidden with its denominator (a yes-rate over three answers tells what each said).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def hidden_cells(counts: Mapping[K, int], minimum: int) -> set[K]:
    """The keys of ``counts`` to hide so that none can be told from the others and their total."""
    if minimum <= 1:
        return set()
    total = sum(counts.values())
    if 0 < total < minimum:
        return {key for key, value in counts.items() if value > 0}
    hidden = {key for key, value in counts.items() if 0 < value < minimum}
    shown = sorted((value, str(key), key) for key, value in counts.items() if value >= minimum)
    while hidden and (len(hidden) < 2 or sum(counts[key] for key in hidden) < minimum) and shown:
        hidden.add(shown.pop(0)[2])
    return hidden


def shown_total(total: int, minimum: int) -> int | None:
    """The total as published: None when it is itself a small count."""
    return None if 0 < total < minimum else total
