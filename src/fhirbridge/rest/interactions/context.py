"""What every interaction handler gets besides the request."""

from __future__ import annotations

from dataclasses import dataclass

from fhirbridge.config import Settings
from fhirbridge.repository import FhirRepository


@dataclass(frozen=True)
class ServiceContext:
    repository: FhirRepository
    settings: Settings
