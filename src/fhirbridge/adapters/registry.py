"""The one place that lists the outbound formats, and their mapping tables.

An :class:`Adapter` names its mapping file in ``mappings/`` and the HTTP endpoints it serves;
the app registers every adapter listed in :data:`ADAPTERS`.  To add a format: write a module
with a pure mapping and an endpoint, a JSON file in ``mappings/``, and one line here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import fhirbridge
from fhirbridge.errors import FhirError
from fhirbridge.identity import Identity

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Adapter:
    """One outbound format: its name, its mapping table, and its HTTP endpoints."""

    name: str
    mapping: str
    """The file in ``mappings/`` (without ``.json``) that holds its codes, texts and choices."""
    routes: tuple[tuple[str, str, Endpoint], ...]
    """(method, path, endpoint) triples, outside the FHIR base, that answer with patient data:
    they need an authenticated caller, and are audited."""
    reads: str = "CarePlan"
    """The resource type whose read scope a caller needs (what the answer is mostly made of)."""
    documents: tuple[tuple[str, str, Endpoint], ...] = ()
    """Routes that serve public documents (a WSDL and its schemas): no caller needed."""
    refusal: Callable[[Request, FhirError], Response] | None = None
    """How the adapter answers a refusal or error of its routes (401, 403, 404…) in its own
    kind of answer; None: as the FHIR API does, with an OperationOutcome."""


def caller(request: Request) -> Identity:
    """The authenticated identity of an adapter's request (set by the app before the endpoint runs)."""
    identity: Identity = request.state.identity
    return identity


def mappings_directory() -> Path:
    """``mappings/``: packaged inside the wheel, or the repository's folder."""
    packaged = Path(fhirbridge.__file__).parent / "_mappings"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "mappings"


@cache
def mapping(name: str) -> dict[str, Any]:
    """A mapping table, read once."""
    table: dict[str, Any] = json.loads((mappings_directory() / f"{name}.json").read_text(encoding="utf-8"))
    return table


def adapters() -> tuple[Adapter, ...]:
    """Every outbound format this server speaks."""
    from fhirbridge.adapters.npo import get_care_managers, get_care_plans
    from fhirbridge.adapters.overview import endpoint as overview
    from fhirbridge.report import endpoint as report

    return (get_care_plans.ADAPTER, get_care_managers.ADAPTER, overview.ADAPTER, report.ADAPTER)
