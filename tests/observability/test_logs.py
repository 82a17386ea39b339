"""No identifier in clear in any log line: requests carrying personnummer, samordningsnummer and
HSA-ids in their query strings, paths and bodies, answered, refused and failed, and every log
record written meanwhile scanned for them (the service's handler's lines, and every record any
handler captured)."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.observability.logs import service_handler
from fhirbridge.observability.masking import HSA_ID_MASK, PERSON_NUMBER_MASK, mask_identifiers
from fhirbridge.sweden.identifiers import HSA_SYSTEM, PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM
from tests.observability.conftest import LogLines
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token
from tests.support import builders
from tests.support.api import network_client

SAMORDNINGSNUMMER = "197010632391"
MISTYPED = "191212121213"  # a personnummer with the wrong check digit
HSA_ID = "SE2321000198-P0KL1"


def shapes(number: str) -> set[str]:
    """The forms a 12-digit number is written in."""
    return {number, f"{number[:8]}-{number[8:]}", number[2:], f"{number[2:8]}-{number[8:]}"}


async def test_no_identifier_is_logged_in_clear(
    secure_app: FastAPI,
    anyone: httpx.AsyncClient,
    rsa: SigningKey,
    world: World,
    log_lines: LogLines,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("fhirbridge").setLevel(logging.DEBUG)
    doctor = user_token(rsa, world, "doctor", "hospital")
    admin = bearer(mint(rsa, scope="system/*.cruds", client_id="region-integration"))
    anna = world.numbers["anna"]
    fresh = builders.personnummer()
    hyphened = f"{anna[:8]}-{anna[8:]}"
    answers = [
        await anyone.get("/fhir/Patient", params={"identifier": f"{PERSONNUMMER_SYSTEM}|{anna}"}, headers=doctor),
        await anyone.get("/fhir/Patient", params={"identifier": hyphened}, headers=doctor),
        await anyone.get(
            "/fhir/Patient", params={"identifier": f"{SAMORDNINGSNUMMER_SYSTEM}|{SAMORDNINGSNUMMER}"}, headers=doctor
        ),
        await anyone.get("/fhir/Practitioner", params={"identifier": f"{HSA_SYSTEM}|{HSA_ID}"}, headers=doctor),
        await anyone.get("/fhir/CarePlan", params={"subject:Patient.identifier": anna}, headers=doctor),
        await anyone.get(f"/fhir/Patient/{anna}", headers=doctor),  # refused: no such Patient
        await anyone.get(f"/fhir/Patient/{hyphened}", headers=doctor),  # refused: not an id
        await anyone.get("/fhir/Patient", params={"identifier": anna}),  # refused: no token
        await anyone.get("/fhir/Patient", params={"birthdate": anna}, headers=doctor),  # refused: not a date
        await anyone.post("/fhir/Patient", json=builders.patient(MISTYPED), headers=admin),  # refused: check digit
        await anyone.post("/fhir/Patient", json=builders.patient(anna), headers=admin),  # refused: taken
        await anyone.post("/fhir/Patient", json=builders.patient(fresh), headers=admin),
        await anyone.post("/fhir/Practitioner", json=builders.practitioner(f"{HSA_ID}x"), headers=admin),
        await anyone.post("/fhir/Patient", content=f'{{"resourceType": "Patient", "id": "{anna}"', headers=admin),
    ]
    statuses = [answer.status_code for answer in answers]
    assert 200 in statuses and 201 in statuses and 401 in statuses, statuses
    assert any(400 <= status < 500 and status != 401 for status in statuses), statuses

    async def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"a driver bug while reading {anna} and {HSA_ID}")

    monkeypatch.setattr(secure_app.state.context.repository, "read", fail)
    async with network_client(secure_app) as wire:
        assert (await wire.get(f"/fhir/Patient/{anna}", headers=doctor)).status_code == 500

    written = "\n".join(log_lines.lines())
    assert PERSON_NUMBER_MASK in written and HSA_ID_MASK in written  # the refusals and the fault were logged
    assert "Traceback" in written
    records = [record.getMessage() + "\n" + (record.exc_text or "") for record in caplog.records]
    secrets = shapes(anna) | shapes(fresh) | shapes(MISTYPED) | shapes(SAMORDNINGSNUMMER) | {HSA_ID}
    for text in (written, *records):
        found = [secret for secret in secrets if secret in text]
        assert not found, f"{found} in {text[:2000]}"


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("GET /fhir/Patient?identifier=191212121212", f"GET /fhir/Patient?identifier={PERSON_NUMBER_MASK}"),
        ("19121212-1212 and 121212+1212", f"{PERSON_NUMBER_MASK} and {PERSON_NUMBER_MASK}"),
        ("note=19121212%2D1212", f"note={PERSON_NUMBER_MASK}"),
        (f"samordningsnummer {SAMORDNINGSNUMMER}", f"samordningsnummer {PERSON_NUMBER_MASK}"),
        (f"wrong check digit: {MISTYPED}", f"wrong check digit: {PERSON_NUMBER_MASK}"),
        (f"{HSA_SYSTEM}|SE2321000016-abc1", f"{HSA_SYSTEM}|{HSA_ID_MASK}"),
        # counts, times and organisation numbers are kept
        ("1733590000 s, 2321000016, 12 ms, 2026-12-07", "1733590000 s, 2321000016, 12 ms, 2026-12-07"),
        ("batch of 100000000000 rows", "batch of 100000000000 rows"),
    ],
)
def test_identifier_shapes_are_masked_and_other_numbers_kept(line: str, masked: str) -> None:
    assert mask_identifiers(line) == masked


def test_a_json_line_carries_the_request_id_and_a_masked_exception() -> None:
    try:
        raise ValueError("the personnummer 191212121212 is taken")
    except ValueError:
        record = logging.LogRecord("fhirbridge.x", logging.ERROR, __file__, 1, "refused %s", ("191212121212",), None)
        record.exc_info = sys.exc_info()
    stream = io.StringIO()
    service_handler(stream, "json").handle(record)
    line, end = stream.getvalue().split("\n")
    assert end == ""
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "fhirbridge.x"
    assert entry["request_id"] == "-"
    assert entry["message"] == f"refused {PERSON_NUMBER_MASK}"
    assert "ValueError" in entry["exception"] and "191212121212" not in entry["exception"]
    assert entry["time"].endswith("+00:00")
