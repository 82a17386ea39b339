"""What every interaction handler gets besides the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fhirbridge.config import Settings
from fhirbridge.repository import FhirRepository

if TYPE_CHECKING:
    from fhirbridge.audit.log import AuditLog


@dataclass(frozen=True)
class ServiceContext:
    repository: FhirRepository
    settings: Settings
    audit: AuditLog | None = None
