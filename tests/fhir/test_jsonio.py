"""FHIR JSON keeps a decimal's digits wherever a number stands (R4 datatypes.html#decimal), and
does not take a time inside a string for one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fhirbridge.fhir import jsonio


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        (b'{"value":0.010}', ("value",), Decimal("0.010")),
        (b'{"value": 1.50 }', ("value",), Decimal("1.50")),
        (b'{"a":[1,2.0]}', ("a", 1), Decimal("2.0")),
        (b'{"a":[2.50,1]}', ("a", 0), Decimal("2.50")),
        (b'{"v":1e3}', ("v",), Decimal("1e3")),
        (b'{"v":-1.5E-2}', ("v",), Decimal("-1.5E-2")),
        (b'{"v":\n  3.140\n}', ("v",), Decimal("3.140")),
        (b'{"t":"10:00:00.5","v":0.10}', ("v",), Decimal("0.10")),
    ],
)
def test_a_number_with_a_fraction_or_exponent_keeps_its_digits(body: bytes, path: tuple, expected: Decimal) -> None:
    value = jsonio.loads(body)
    for step in path:
        value = value[step]
    assert isinstance(value, Decimal)
    assert str(value) == str(expected)
    assert str(expected) in jsonio.dumps(jsonio.loads(body)).decode()


@pytest.mark.parametrize(
    "body",
    [
        b'{"meta":{"lastUpdated":"2026-12-07T10:00:00.123456+00:00"},"n":1}',
        b'{"start":"2026-12-07T10:00:00.5Z"}',
        b'{"time":"10:00:00.25"}',
        b'{"count":[1,2,3],"id":"x"}',
    ],
)
def test_times_in_strings_and_whole_numbers_are_read_without_a_closer_look(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every stored resource has a time with a fraction (``meta.lastUpdated``): reading it must
    not walk the whole document looking for a decimal."""

    def closer_look(value: object) -> bool:
        raise AssertionError("walked the document for decimals")

    monkeypatch.setattr(jsonio, "_has_float", closer_look)
    assert jsonio.loads(body) == jsonio.orjson.loads(body)
