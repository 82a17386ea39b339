"""A request id travels from the client's ``X-Request-ID`` to the answer, to every log line
written while the request is served, and to its AuditEvents (IHE BALP's XrequestId entity)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.audit.events import BALP_ENTITY_TYPE, REQUEST_IDS
from fhirbridge.observability.request_id import accepted_request_id
from tests.observability.conftest import LogLines
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token
from tests.support.api import network_client, outcome


def is_uuid4(value: str) -> bool:
    try:
        made = uuid.UUID(value)
    except ValueError:
        return False
    return made.version == 4 and made.variant == uuid.RFC_4122 and str(made) == value


def logged_request_ids(event: dict[str, Any]) -> list[str]:
    return [
        entity["what"]["identifier"]["value"]
        for entity in event.get("entity", [])
        if entity.get("type", {}).get("system") == BALP_ENTITY_TYPE and entity["type"]["code"] == "XrequestId"
    ]


async def audit_events(client: httpx.AsyncClient, key: SigningKey) -> list[dict[str, Any]]:
    answer = await client.get(
        "/fhir/AuditEvent", params={"_count": "500"}, headers=bearer(mint(key, scope="system/*.rs"))
    )
    assert answer.status_code == 200, answer.text
    return [entry["resource"] for entry in answer.json().get("entry", [])]


async def test_a_request_id_travels_from_header_to_answer_log_line_and_audit_event(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World, log_lines: LogLines
) -> None:
    doctor = user_token(rsa, world, "doctor", "hospital")
    read = await anyone.get(
        f"/fhir/CarePlan/{world['anna-plan']}", headers={**doctor, "X-Request-ID": "proxy-7f3a.42:read"}
    )
    assert read.status_code == 200, read.text
    assert read.headers["x-request-id"] == "proxy-7f3a.42:read"
    missing = await anyone.get("/fhir/CarePlan/no-such-plan", headers={**doctor, "X-Request-ID": "proxy-7f3a.43"})
    outcome(missing, 404)
    assert missing.headers["x-request-id"] == "proxy-7f3a.43"

    refusal_lines = [line for line in log_lines.service_lines() if "no-such-plan" in line]
    assert refusal_lines, log_lines.lines()
    assert all("[proxy-7f3a.43]" in line for line in refusal_lines), refusal_lines

    events = await audit_events(anyone, rsa)
    by_id = {request_id: event for event in events for request_id in logged_request_ids(event)}
    assert by_id["proxy-7f3a.42:read"]["outcome"] == "0"
    assert f"CarePlan/{world['anna-plan']}/_history/1" in {
        entity.get("what", {}).get("reference") for entity in by_id["proxy-7f3a.42:read"]["entity"]
    }
    assert by_id["proxy-7f3a.43"]["outcome"] == "4"

    found = await anyone.get(
        "/fhir/AuditEvent",
        params={"entity:identifier": f"{REQUEST_IDS}|proxy-7f3a.42:read"},
        headers=bearer(mint(rsa, scope="system/*.rs")),
    )
    assert [entry["resource"]["id"] for entry in found.json()["entry"]] == [by_id["proxy-7f3a.42:read"]["id"]]


async def test_without_a_request_id_the_service_makes_one_for_each_request(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    doctor = user_token(rsa, world, "doctor", "hospital")
    made = set()
    for _ in range(3):
        answer = await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=doctor)
        assert answer.status_code == 200
        assert is_uuid4(answer.headers["x-request-id"])
        made.add(answer.headers["x-request-id"])
    assert len(made) == 3
    unauthenticated = await anyone.get("/fhir/CarePlan")
    outcome(unauthenticated, 401)
    assert is_uuid4(unauthenticated.headers["x-request-id"])
    events = await audit_events(anyone, rsa)
    assert made <= {request_id for event in events for request_id in logged_request_ids(event)}


REPLACED = [
    "",
    "a" * 65,
    "two words",
    "line\r\nX-Injected: 1",
    "<script>",
    "åäö",
    "19121212-1212",  # a personnummer, in any of its shapes
    "191212121212",
    "121212-1212",
    "trace-197010632391-x",  # a samordningsnummer inside
    "SE2321000016-abc",  # an HSA-id: its organisation number
]


@pytest.mark.parametrize("offered", REPLACED)
def test_an_unsafe_or_identifying_request_id_is_replaced(offered: str) -> None:
    accepted = accepted_request_id(offered)
    assert accepted != offered
    assert is_uuid4(accepted)


@pytest.mark.parametrize("offered", ["a", "a" * 64, str(uuid.uuid4()), "00-4bf92f3577b34da6-01", "req:2026.12.07_1"])
def test_a_sane_request_id_is_kept(offered: str) -> None:
    assert accepted_request_id(offered) == offered


async def test_a_replaced_request_id_is_never_echoed_logged_or_audited(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World, log_lines: LogLines
) -> None:
    doctor = user_token(rsa, world, "doctor", "hospital")
    answer = await anyone.get("/fhir/CarePlan/no-such-plan", headers={**doctor, "X-Request-ID": "19121212-1212"})
    outcome(answer, 404)
    assert is_uuid4(answer.headers["x-request-id"])
    assert "19121212-1212" not in "\n".join(log_lines.lines())
    events = await audit_events(anyone, rsa)
    ids = {request_id for event in events for request_id in logged_request_ids(event)}
    assert answer.headers["x-request-id"] in ids
    assert "19121212-1212" not in ids


async def test_a_server_fault_answers_and_logs_with_its_request_id(
    secure_app: FastAPI, rsa: SigningKey, world: World, log_lines: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a driver bug")

    monkeypatch.setattr(secure_app.state.context.repository, "read", fail)
    async with network_client(secure_app) as wire:
        answer = await wire.get(
            f"/fhir/CarePlan/{world['anna-plan']}",
            headers={**user_token(rsa, world, "doctor", "hospital"), "X-Request-ID": "fault-1"},
        )
    outcome(answer, 500)
    assert answer.headers["x-request-id"] == "fault-1"
    fault_lines = [line for line in log_lines.service_lines() if "server fault" in line]
    assert fault_lines
    assert all("[fault-1]" in line for line in fault_lines)
