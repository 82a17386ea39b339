"""Swedish person and organisation identifiers.

* personnummer (12 digits ``YYYYMMDDNNNC``) and samordningsnummer (day + 60), whose check
  digit C is the Luhn digit over the ten digits ``YYMMDDNNN`` (weights 2,1,2,…; digit sums);
* HSA-ids of people, roles and units: ``SE`` + the organisation number + ``-`` + a local part.

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

_TWELVE_DIGITS = re.compile(r"^\d{12}$")
_HSA_ID = re.compile(r"^SE\d{10}-[A-Za-z0-9]{1,31}$")


def luhn_digit(digits: str) -> int:
    """The Luhn check digit of ``digits`` (the nine digits YYMMDDNNN)."""
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _valid_person_number(value: str, day_offset: int) -> bool:
    if not _TWELVE_DIGITS.match(value):
        return False
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8]) - day_offset
    try:
        date(year, month, day)
    except ValueError:
        return False
    return luhn_digit(value[2:11]) == int(value[11])


def is_valid_personnummer(value: str) -> bool:
    """Twelve digits, a real birth date, and the right Luhn digit: ``191212121212``."""
    return _valid_person_number(value, 0)


def is_valid_samordningsnummer(value: str) -> bool:
    """Like a personnummer with 60 added to the day: ``197010632391``."""
    return _valid_person_number(value, 60)


def is_valid_hsa_id(value: str) -> bool:
    """``SE`` + a ten-digit organisation number + ``-`` + 1-31 letters or digits."""
    return _HSA_ID.match(value) is not None


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
