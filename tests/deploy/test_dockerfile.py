"""The Dockerfile, read (no Docker engine runs here): an exact base image, the locked
dependencies in a layer of their own before any code, a non-root user, liveness on /healthz."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINES = [
    line.strip()
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]
EXACT = re.compile(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?|python@sha256:[0-9a-f]{64}")


def test_the_base_image_is_an_exact_release() -> None:
    [default] = [line.split("=", 1)[1] for line in LINES if line.startswith("ARG PYTHON_IMAGE=")]
    assert EXACT.fullmatch(default), default
    assert [line for line in LINES if line.startswith("FROM")] == [
        "FROM ${PYTHON_IMAGE} AS build",
        "FROM ${PYTHON_IMAGE}",
    ]


def test_the_locked_dependencies_are_installed_before_the_code_arrives() -> None:
    stage = LINES[LINES.index("FROM ${PYTHON_IMAGE}") :]  # the image that runs
    lock = next(i for i, line in enumerate(stage) if line.startswith("COPY requirements/runtime.lock"))
    install = next(i for i, line in enumerate(stage) if "--require-hashes" in line and "runtime.lock" in line)
    code = next(i for i, line in enumerate(stage) if line.startswith("COPY --from=build"))
    assert lock < install < code
    assert not any(line.startswith("COPY src") for line in stage)
    assert "--no-deps" in stage[code + 1]  # fhirbridge itself adds nothing unlocked


def test_it_runs_as_a_user_and_checks_liveness() -> None:
    user = next(line for line in LINES if line.startswith("USER "))
    assert user not in ("USER root", "USER 0")
    healthcheck = next(line for line in LINES if line.startswith("HEALTHCHECK"))
    assert "/healthz" in healthcheck
