"""Swedish person and organisation identifiers.

* personnummer (12 digits ``YYYYMMDDNNNC``) and samordningsnummer (day + 60), whose check
  digit C is the Luhn digit over the ten digits ``YYMMDDNNN`` (weights 2,1,2,…; digit sums);
* national reserve numbers (Inera's NRID: twelve characters, digits and capital letters);
* HSA-ids of people, roles and units: ``SE`` + the organisation number + ``-`` + a local part.

:func:`identifier_problem` says in plain words what is wrong with a value of one of these
systems, for the OperationOutcome of a rejected write.

The systems are those of the HL7 Sweden base profiles (``hl7se.fhir.base``).
"""

from __future__ import annotations

import random
import re
from datetime import date

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER_SYSTEM = "http://electronichealth.se/identifier/samordningsnummer"
RESERVNUMMER_SYSTEM = "http://electronichealth.se/identifier/nationelltReservnummer"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
ORGANISATION_NUMBER_SYSTEM = "urn:oid:2.5.4.97"

# ASCII only ([0-9], not \d) and no trailing newline (fullmatch, not $): a look-alike digit
# would pass the check and never match a search.
_TWELVE_DIGITS = re.compile(r"[0-9]{12}")
_HSA_ID = re.compile(r"SE([0-9]{10}|[0-9]{12})-[A-Za-z0-9]+")
_HSA_ID_MAX_LENGTH = 31
_RESERVE_NUMBER = re.compile(r"[0-9A-Z]{12}")


def luhn_digit(digits: str) -> int:
    """The Luhn check digit of ``digits`` (the nine digits YYMMDDNNN)."""
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def is_valid_personnummer(value: str) -> bool:
    """Twelve digits, a real birth date, and the right Luhn digit: ``191212121212``."""
    return _person_number_problem(value, 0, "personnummer") is None


def is_valid_samordningsnummer(value: str) -> bool:
    """Like a personnummer with 60 added to the day: ``197010632391``."""
    return _person_number_problem(value, 60, "samordningsnummer") is None


def is_valid_hsa_id(value: str) -> bool:
    """``SE`` + a 10- or 12-digit organisation number + ``-`` + letters or digits, 31 at most."""
    return len(value) <= _HSA_ID_MAX_LENGTH and _HSA_ID.fullmatch(value) is not None


def is_valid_reserve_number(value: str) -> bool:
    """Twelve digits or capital letters, without separators: ``98240301AA06``.

    Only the form is checked: the national format's series and check character are not
    published in a form this service can verify, and older regional numbers still circulate.
    """
    return _RESERVE_NUMBER.fullmatch(value) is not None


def _person_number_problem(value: str, day_offset: int, name: str) -> str | None:
    if not _TWELVE_DIGITS.fullmatch(value):
        return f"A {name} is twelve digits YYYYMMDDNNNC without a hyphen, not {value!r}"
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8]) - day_offset
    try:
        date(year, month, day)
    except ValueError:
        shifted = " (the day of a samordningsnummer is the birth day + 60)" if day_offset else ""
        return f"The {name} {value} does not hold a real date{shifted}"
    if luhn_digit(value[2:11]) != int(value[11]):
        return f"The check digit of the {name} {value} is wrong (Luhn over YYMMDDNNN gives {luhn_digit(value[2:11])})"
    return None


def identifier_problem(system: str, value: str) -> str | None:
    """What is wrong with ``value`` as an identifier of ``system``; None when it is fine.

    Systems other than the Swedish ones named in this module are not checked.
    """
    if system == PERSONNUMMER_SYSTEM:
        return _person_number_problem(value, 0, "personnummer")
    if system == SAMORDNINGSNUMMER_SYSTEM:
        return _person_number_problem(value, 60, "samordningsnummer")
    if system == RESERVNUMMER_SYSTEM and not is_valid_reserve_number(value):
        return f"A national reserve number is twelve digits or capital letters without separators, not {value!r}"
    if system == HSA_SYSTEM and not is_valid_hsa_id(value):
        return (
            f"An HSA-id is SE, the organisation number, a hyphen and letters or digits"
            f" (at most 31 characters, e.g. SE2321000016-15CQ), not {value!r}"
        )
    return None


def make_personnummer(birth: date, serial: int, *, samordning: bool = False) -> str:
    """A valid number for ``birth`` and a three-digit ``serial`` (odd: man, even: woman)."""
    day = birth.day + (60 if samordning else 0)
    body = f"{birth.year:04d}{birth.month:02d}{day:02d}{serial % 1000:03d}"
    return body + str(luhn_digit(body[2:11]))


def random_personnummer(
    rng: random.Random, *, born_from: int = 1925, born_to: int = 2005, female: bool | None = None
) -> str:
    birth = date.fromordinal(rng.randint(date(born_from, 1, 1).toordinal(), date(born_to, 12, 31).toordinal()))
    serial = rng.randrange(0, 1000)
    # The second-to-last digit (the last of the serial) is even for women and odd for men.
    if female is not None and (serial % 2 == 0) != female:
        serial = (serial + 1) % 1000
    return make_personnummer(birth, serial)


def gender_of(personnummer: str) -> str:
    """``female`` or ``male`` from the ninth digit of the serial (the 11th of 12)."""
    return "female" if int(personnummer[10]) % 2 == 0 else "male"


def hsa_id(organisation_number: str, local: str) -> str:
    return f"SE{organisation_number}-{local}"
