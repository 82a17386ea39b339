"""The suppression rule on its own: small counts hidden, a complement hidden with them, small
totals hidden whole."""

from __future__ import annotations

from fhirbridge.report.suppression import hidden_cells, shown_total


def test_a_lone_small_cell_takes_the_smallest_other_with_it() -> None:
    assert hidden_cells({"a": 7, "b": 6, "c": 1}, 5) == {"b", "c"}


def test_two_small_cells_that_add_up_to_little_take_a_third() -> None:
    assert hidden_cells({"a": 1, "b": 1, "c": 9, "d": 20}, 5) == {"a", "b", "c"}


def test_two_small_cells_that_reach_the_minimum_are_enough() -> None:
    assert hidden_cells({"a": 3, "b": 4, "c": 9}, 5) == {"a", "b"}


def test_zeros_are_shown_and_a_small_total_hides_everything() -> None:
    assert hidden_cells({"a": 0, "b": 5}, 5) == set()
    assert hidden_cells({"a": 0, "b": 3, "c": 1}, 5) == {"b", "c"}
    assert shown_total(4, 5) is None
    assert shown_total(0, 5) == 0


def test_a_minimum_of_one_hides_nothing() -> None:
    assert hidden_cells({"a": 1, "b": 2}, 1) == set()


def test_no_hidden_cell_can_be_derived() -> None:
    """For many tables: whatever is hidden is at least two cells adding up to the minimum."""
    import itertools

    for values in itertools.product(range(0, 8), repeat=3):
        counts = dict(zip("abc", values, strict=True))
        hidden = hidden_cells(counts, 5)
        if hidden and sum(values) >= 5:
            assert len(hidden) >= 2 and sum(counts[k] for k in hidden) >= 5, counts
        assert all(counts[k] >= 5 for k in counts if k not in hidden and counts[k] > 0) or sum(values) < 5
