"""The log of the real server process (``fhirbridge serve``): uvicorn's lines and the service's
pass the same handler at the level of ``FHIRBRIDGE_LOG_LEVEL``, in the format of
``FHIRBRIDGE_LOG_FORMAT``; each names its request, and the access log keeps no identifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.server import ServiceProcess

from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.support import builders

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]  # the process, not the database, is under test

NUMBER = "191212121212"
MISTYPED = "191212121213"


def serve(database_url: str, log_path: Path, **environment: str) -> ServiceProcess:
    return ServiceProcess(
        database_url,
        log_path,
        {"FHIRBRIDGE_AUTH": "off", "FHIRBRIDGE_OUTBOX_WORKER": "off", **environment},
        arguments=["--access-log"],
    )


def json_lines(log_path: Path) -> list[dict[str, Any]]:
    """The log records (the lines ``fhirbridge serve`` prints at start are not records)."""
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]


def test_json_lines_name_their_request_and_no_identifier(database_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with serve(database_url, log_path, FHIRBRIDGE_LOG_LEVEL="info", FHIRBRIDGE_LOG_FORMAT="json") as service:
        base = f"http://127.0.0.1:{service.port}/fhir"
        search = httpx.get(
            f"{base}/Patient",
            params={"identifier": f"{PERSONNUMMER_SYSTEM}|{NUMBER}", "_count": "5"},
            headers={"X-Request-ID": "e2e-search-1"},
            timeout=30,
        )
        assert search.status_code == 200
        assert search.headers["x-request-id"] == "e2e-search-1"
        refused = httpx.post(
            f"{base}/Patient", json=builders.patient(MISTYPED), headers={"X-Request-ID": "e2e-refused-1"}, timeout=30
        )
        assert 400 <= refused.status_code < 500
    text = log_path.read_text()
    assert NUMBER not in text and MISTYPED not in text and "121212-1212" not in text
    records = json_lines(log_path)
    assert {"time", "level", "logger", "request_id", "message"} <= set(records[0])
    started = [r for r in records if r["logger"] == "fhirbridge" and "serving FHIR R4" in r["message"]]
    assert started, "the service's own INFO line reaches the log"
    assert started[0]["request_id"] == "-"
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    by_request = {r["request_id"]: r["message"] for r in access}
    assert "/fhir/Patient?identifier=[value]&_count=5" in by_request["e2e-search-1"]
    assert "POST /fhir/Patient " in by_request["e2e-refused-1"]
    refusal = [r for r in records if r["request_id"] == "e2e-refused-1" and r["logger"] == "fhirbridge"]
    assert refusal, "the refusal is logged, naming its request"


def test_the_log_level_reaches_every_logger(database_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with serve(database_url, log_path, FHIRBRIDGE_LOG_LEVEL="warning") as service:
        answer = httpx.get(f"http://127.0.0.1:{service.port}/fhir/Patient", timeout=30)
        assert answer.status_code == 200
    lines = [line for line in log_path.read_text().splitlines() if " [" in line]
    assert not [line for line in lines if " INFO " in line], lines  # neither uvicorn's nor the service's
    assert not [line for line in lines if " uvicorn.access " in line], lines
