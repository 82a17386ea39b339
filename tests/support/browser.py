"""The real service in a subprocess with the demo data, as `make run` starts it, for the tests
that open fhirbridge's own pages in Debian's headless Chromium.  CI installs Chromium and sets
FHIRBRIDGE_REQUIRE_BROWSER=1, so there these tests cannot be skipped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def require_chromium() -> None:
    """Skip the calling test module on a machine without Chromium (fail under CI's flag)."""
    if not CHROMIUM.exists():
        if os.environ.get("FHIRBRIDGE_REQUIRE_BROWSER") == "1":
            raise RuntimeError("Chromium is required (FHIRBRIDGE_REQUIRE_BROWSER=1): apt-get install chromium")
        pytest.skip("no Chromium on this machine (apt-get install chromium)", allow_module_level=True)


@contextmanager
def demo_service(folder: Path, patients: int) -> Iterator[str]:
    """``fhirbridge demo`` into a fresh SQLite file, then ``fhirbridge serve`` on a free port
    (authentication off); yields the base address."""
    environment = dict(os.environ, FHIRBRIDGE_DATABASE_URL=f"sqlite:///{folder / 'demo.db'}", FHIRBRIDGE_AUTH="off")
    command = str(Path(sys.executable).parent / "fhirbridge")
    subprocess.run([command, "demo", "--patients", str(patients)], env=environment, check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [command, "serve", "--port", str(port)], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
