"""What every interaction handler gets besides the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fhirbridge.access.guarded import GuardedRepository
from fhirbridge.config import Settings

if TYPE_CHECKING:
    from fhirbridge.audit.log import AuditLog
    from fhirbridge.export.worker import ExportWorker


@dataclass(frozen=True)
class ServiceContext:
    repository: GuardedRepository
    settings: Settings
    audit: AuditLog | None = None
    exports: ExportWorker | None = None
    """The export worker, woken by a kick-off (:mod:`fhirbridge.rest.operations.export`)."""
    report_exact: bool = False
    """The follow-up report without its cell-key perturbation: for tests that compare hand-counted
    figures only, set on the context by the test itself; no setting or request reaches it."""
