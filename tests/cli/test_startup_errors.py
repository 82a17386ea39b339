"""The command line as an operator meets a bad configuration or an absent database, run as
processes: one line naming the setting or path and exit status 2 for what no wait cures; the
database waited for (``FHIRBRIDGE_DB_WAIT_SECONDS``), then one line and status 1; never a
traceback.  ``fhirbridge serve`` answers ``/healthz`` while it waits."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

COMMAND = [sys.executable, "-m", "fhirbridge"]


def fhirbridge(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command, run where ``nothing.ndjson`` is an empty file to load."""
    environment = {**os.environ, "FHIRBRIDGE_AUTH": "off", **env}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "nothing.ndjson").write_text("")
        return subprocess.run(
            [*COMMAND, *args], env=environment, capture_output=True, text=True, timeout=60, cwd=folder
        )


def one_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade"), ("load", "nothing.ndjson"), ("worker",)])
def test_a_bad_database_url_is_one_line_naming_the_setting(command: tuple[str, ...]) -> None:
    line = one_line(fhirbridge(*command, FHIRBRIDGE_DATABASE_URL="mysql://db.region.se/fhir"), 2)
    assert line.startswith("fhirbridge: FHIRBRIDGE_DATABASE_URL: ")
    assert "mysql" in line


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade"), ("demo",)])
def test_a_bad_setting_value_is_one_line_naming_the_setting(command: tuple[str, ...], tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db.db'}"
    line = one_line(fhirbridge(*command, FHIRBRIDGE_DATABASE_URL=database, FHIRBRIDGE_DB_POOL_SIZE="many"), 2)
    assert line.startswith("fhirbridge: FHIRBRIDGE_DB_POOL_SIZE: ")
    assert "many" not in line  # values are not echoed: some are secrets


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade"), ("db", "check"), ("report",)])
def test_a_data_folder_that_cannot_be_created_is_named(command: tuple[str, ...], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    database = blocker / "data" / "fhirbridge.db"
    line = one_line(fhirbridge(*command, FHIRBRIDGE_DATABASE_URL=f"sqlite:///{database}"), 2)
    assert f"the data folder {database.parent} cannot be created" in line


@contextlib.contextmanager
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write: by its mode, or (as root, whom modes do not stop) a read-only mount."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("running as root without the right to mount a read-only folder")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", [("serve",), ("load", "nothing.ndjson")])
def test_a_data_folder_that_cannot_be_written_is_named(command: tuple[str, ...], tmp_path: Path) -> None:
    with read_only_folder(tmp_path) as folder:
        line = one_line(fhirbridge(*command, FHIRBRIDGE_DATABASE_URL=f"sqlite:///{folder / 'fhirbridge.db'}"), 2)
    assert f"the data folder {folder} cannot be written" in line


def test_a_command_waits_for_the_database_then_gives_up_in_one_line() -> None:
    port = free_port()
    began = time.monotonic()
    result = fhirbridge(
        "db",
        "upgrade",
        FHIRBRIDGE_DATABASE_URL=f"postgresql://fhirbridge:secret@127.0.0.1:{port}/fhir",
        FHIRBRIDGE_DB_WAIT_SECONDS="2",
    )
    line = one_line(result, 1)
    assert time.monotonic() - began >= 1.5  # it waited
    assert f"postgresql://fhirbridge@127.0.0.1:{port}/fhir" in line
    assert "secret" not in line
    assert "connection refused" in line
    assert "FHIRBRIDGE_DB_WAIT_SECONDS" in line


@pytest.mark.e2e
def test_serve_answers_healthz_while_it_waits_and_exits_1_when_it_gives_up() -> None:
    db_port, port = free_port(), free_port()
    environment = {
        **os.environ,
        "FHIRBRIDGE_AUTH": "off",
        "FHIRBRIDGE_DATABASE_URL": f"postgresql://fhirbridge@127.0.0.1:{db_port}/fhir",
        "FHIRBRIDGE_DB_WAIT_SECONDS": "4",
    }
    server = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        statuses: dict[str, int] = {}
        deadline = time.monotonic() + 20
        while len(statuses) < 2 and time.monotonic() < deadline and server.poll() is None:
            for path in ("/healthz", "/readyz"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as answer:
                        statuses[path] = answer.status
                except urllib.error.HTTPError as refused:
                    statuses[path] = refused.code
                except OSError:
                    time.sleep(0.1)  # not listening yet
        assert statuses == {"/healthz": 200, "/readyz": 503}
        _, errors = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 1, errors
    assert "Traceback" not in errors
    gave_up = [line for line in errors.splitlines() if "cannot start" in line]
    assert len(gave_up) == 1, errors
    assert f"127.0.0.1:{db_port}" in gave_up[0]
