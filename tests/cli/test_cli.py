"""The fhirbridge command as an operator uses it: db upgrade, demo, load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirbridge.cli.main import main
from fhirbridge.config import get_settings
from tests.support import builders


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FHIRBRIDGE_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


def test_db_upgrade_then_demo_twice_changes_nothing_the_second_time(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("db", "upgrade") == 0
    assert run("demo", "--patients", "3") == 0
    first = capsys.readouterr().out
    assert "0 rejected" in first
    assert run("demo", "--patients", "3") == 0
    second = capsys.readouterr().out
    assert second.startswith("0 written")


def test_load_reports_rejections_and_loads_out_of_order_files(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = dict(builders.patient(), id="pat-1")
    plan = dict(builders.care_plan("pat-1"), id="plan-1")
    bad = {
        "resourceType": "Goal",
        "lifecycleStatus": "bogus",
        "description": {"text": "x"},
        "subject": {"reference": "Patient/pat-1"},
    }
    path = tmp_path / "contracts.ndjson"
    # The plan comes before the patient it refers to: the loader retries it after the others.
    path.write_text("\n".join(json.dumps(r) for r in (plan, bad, patient)) + "\n{not json\n")
    assert run("load", str(path)) == 1
    out = capsys.readouterr().out
    assert out.startswith("2 written, 0 unchanged, 2 rejected")
    assert "Goal.lifecycleStatus" in out
    assert f"{path}:4" in out


def test_load_a_bundle(database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": builders.patient()}, {"resource": builders.practitioner()}],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert run("load", str(path)) == 0
    assert capsys.readouterr().out.startswith("2 written")


def test_unsupported_database_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FHIRBRIDGE_DATABASE_URL", "mysql://x/y")
    get_settings.cache_clear()
    try:
        assert run("db", "upgrade") == 2
    finally:
        get_settings.cache_clear()
    assert "Unsupported database URL" in capsys.readouterr().err


def test_worker_delivers_what_the_outbox_owes_and_stops_on_sigterm(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fhirbridge worker`` as an operator runs it beside servers that do not deliver."""
    import http.server
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    received: list[str] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.headers.get("Authorization", ""))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/hook"
    # A receiver on this machine: development mode (http) and the allow-list, for the load and the worker.
    monkeypatch.setenv("FHIRBRIDGE_AUTH", "off")
    monkeypatch.setenv("FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS", f"127.0.0.1:{server.server_address[1]}")
    get_settings.cache_clear()
    practitioner = dict(builders.practitioner(), id="karin")
    patient = dict(builders.patient(), id="tolvan")
    subscription = dict(
        builders.subscription(
            "Communication?recipient=Practitioner/karin", endpoint, header=["Authorization: Bearer t"]
        ),
        id="karins-journal",
    )
    message = dict(builders.communication("tolvan", "karin"), id="signal-1")
    path = tmp_path / "resources.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in (practitioner, patient, subscription, message)) + "\n")
    assert run("load", str(path)) == 0

    environment = dict(os.environ, FHIRBRIDGE_DATABASE_URL=database, FHIRBRIDGE_OUTBOX_POLL_SECONDS="0.1")
    command = [str(Path(sys.executable).parent / "fhirbridge"), "worker"]
    worker = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=20)
        server.shutdown()
    assert received == ["Bearer t"], stderr.decode()
    assert worker.returncode == 0
    assert b"delivering notifications" in stdout
