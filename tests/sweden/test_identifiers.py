from datetime import date

import pytest

from fhirbridge.sweden.identifiers import (
    HSA_SYSTEM,
    PERSONNUMMER_SYSTEM,
    RESERVNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
    gender_of,
    identifier_problem,
    is_valid_hsa_id,
    is_valid_personnummer,
    is_valid_samordningsnummer,
    luhn_digit,
    make_personnummer,
)


@pytest.mark.parametrize("number", ["191212121212", "194001019811", "200001012384"])
def test_valid_personnummer(number: str) -> None:
    assert is_valid_personnummer(number)


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("191212121213", "wrong check digit"),
        ("19121212121", "eleven digits"),
        ("1912121212122", "thirteen digits"),
        ("191302301212", "no 30 February... month 13"),
        ("190002291239", "1900 was not a leap year"),
        ("19121212-1212", "separator"),
    ],
)
def test_invalid_personnummer(number: str, why: str) -> None:
    assert not is_valid_personnummer(number), why


def test_samordningsnummer_adds_sixty_to_the_day() -> None:
    assert is_valid_samordningsnummer("197010632391")
    assert not is_valid_personnummer("197010632391")
    assert not is_valid_samordningsnummer("191212121212")


def test_luhn_digit_of_known_number() -> None:
    assert luhn_digit("121212121") == 2


def test_made_numbers_are_valid_and_carry_gender() -> None:
    woman = make_personnummer(date(1948, 2, 29), 124)
    man = make_personnummer(date(1948, 2, 29), 125)
    assert is_valid_personnummer(woman) and gender_of(woman) == "female"
    assert is_valid_personnummer(man) and gender_of(man) == "male"
    assert is_valid_samordningsnummer(make_personnummer(date(1970, 10, 3), 239, samordning=True))


def test_hsa_id_form() -> None:
    assert is_valid_hsa_id("SE2321000198-P0KL1")
    assert not is_valid_hsa_id("SE232100019-P0KL1")
    assert not is_valid_hsa_id("2321000198-P0KL1")
    assert not is_valid_hsa_id("SE2321000198-")
    assert is_valid_hsa_id("SE165565594230-1000")  # a twelve-digit organisation number
    assert not is_valid_hsa_id("SE2321000198-" + "A" * 19)  # 32 characters: one too many


def test_identifier_problem_says_what_is_wrong() -> None:
    assert identifier_problem(PERSONNUMMER_SYSTEM, "191212121212") is None
    assert "check digit" in (identifier_problem(PERSONNUMMER_SYSTEM, "191212121213") or "")
    assert "real date" in (identifier_problem(PERSONNUMMER_SYSTEM, "191213121212") or "")
    assert "twelve digits" in (identifier_problem(PERSONNUMMER_SYSTEM, "19121212-1212") or "")
    assert "+ 60" in (identifier_problem(SAMORDNINGSNUMMER_SYSTEM, "191212121212") or "")
    assert identifier_problem(RESERVNUMMER_SYSTEM, "98240301AA06") is None
    assert "HSA-id" in (identifier_problem(HSA_SYSTEM, "P0KL1") or "")
    assert identifier_problem("urn:oid:1.2.3", "anything") is None
