"""The log of the real server process (``fhirbridge serve --access-log``): uvicorn's lines pass
the service's handler too, so its access log line names the request it logs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from bench.server import ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.mark.postgres_only  # the process, not the database, is under test
def test_the_access_log_line_names_its_request(database_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with ServiceProcess(
        database_url,
        log_path,
        {"FHIRBRIDGE_AUTH": "off", "FHIRBRIDGE_OUTBOX_WORKER": "off", "FHIRBRIDGE_LOG_LEVEL": "info"},
        arguments=["--access-log"],
    ) as service:
        answer = httpx.get(
            f"http://127.0.0.1:{service.port}/fhir/Patient", headers={"X-Request-ID": "e2e-access-1"}, timeout=30
        )
        assert answer.status_code == 200
        assert answer.headers["x-request-id"] == "e2e-access-1"
    lines = log_path.read_text().splitlines()
    access = [line for line in lines if " uvicorn.access " in line and "/fhir/Patient" in line]
    assert access, lines
    assert all("[e2e-access-1]" in line for line in access), access
