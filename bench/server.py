"""The service under test, as a separate process: ``fhirbridge serve`` with one worker.

It runs exactly as an operator would start it (uvicorn, uvloop and httptools from
``uvicorn[standard]``, no HTTP access log), against the database URL it is given, in the
environment of a mode (:mod:`bench.modes`: authentication on or off), with its output in a
log file.  The benchmark waits for ``/readyz`` (the database answers) before sending load.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

REPOSITORY = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fhirbridge_command() -> str:
    """The ``fhirbridge`` script beside this interpreter (the virtualenv's), else on PATH."""
    beside = Path(sys.executable).parent / "fhirbridge"
    if beside.exists():
        return str(beside)
    found = shutil.which("fhirbridge")
    if found is None:
        raise RuntimeError("the fhirbridge command is not installed; run `pip install -e .` in the virtualenv")
    return found


def wait_until_ready(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early when ``process`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f} s")


class ServiceProcess:
    """``with ServiceProcess(url, log, environment) as service: service.port, service.pid``."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        environment: dict[str, str],
        *,
        port: int | None = None,
        arguments: Sequence[str] = (),
    ) -> None:
        self.arguments = tuple(arguments)
        """More arguments of ``fhirbridge serve`` (``--access-log``)."""
        self.database_url = database_url
        self.log_path = log_path
        self.environment = environment
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 120) -> ServiceProcess:
        # Unthrottled: the load generator is one client sending thousands of requests a second.
        env = {
            **os.environ,
            "FHIRBRIDGE_DATABASE_URL": self.database_url,
            "FHIRBRIDGE_RATE_LIMIT_PER_SECOND": "0",
            **self.environment,
        }
        self._log = self.log_path.open("wb")
        command = [fhirbridge_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        command += self.arguments
        self.process = subprocess.Popen(command, env=env, cwd=REPOSITORY, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(f"http://127.0.0.1:{self.port}/readyz", timeout_s, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
