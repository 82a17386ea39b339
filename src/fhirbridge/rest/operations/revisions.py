"""``GET [base]/CarePlan/{id}/$revisions`` (and CareTeam, Goal): the revision trail (issue 4).

An instance-level operation (R4 operations.html#instance) answering with a Parameters
resource: every version of the resource, oldest first, with who made it for which unit
(from its Provenance, :mod:`fhirbridge.writes.provenance`) and what changed against the
version before (:mod:`fhirbridge.contract.revisions`).
"""

from __future__ import annotations

import re
from typing import Any

from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.contract.revisions import Revision, differences, revision_parameters
from fhirbridge.errors import not_found
from fhirbridge.fhir.jsonio import loads
from fhirbridge.rest.interactions.common import require_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.search.query import parse_query

NAME = "revisions"
TYPES = ("CarePlan", "CareTeam", "Goal")
DEFINITION = f"{CANONICAL_BASE}/OperationDefinition/revisions"
MAX_VERSIONS = 1000


async def revisions(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type, resource_id = request.address()
    if resource_type not in TYPES:
        raise not_found(f"$revisions is defined for {', '.join(TYPES)}, not {resource_type}")
    require_id(resource_type, resource_id)
    page = await ctx.repository.history(
        request.identity,
        resource_type=resource_type,
        resource_id=resource_id,
        since=None,
        past=None,
        limit=MAX_VERSIONS,
    )
    versions = page.entries
    if not versions:
        raise not_found(f"{resource_type}/{resource_id} does not exist")
    provenances = await _provenances_by_version(ctx, request, f"{resource_type}/{resource_id}")
    trail = []
    previous: dict[str, Any] | None = None
    for entry in sorted(versions, key=lambda e: e.version):
        current = None if entry.content is None else loads(entry.content)
        trail.append(
            Revision(
                version=entry.version,
                last_updated=entry.last_updated,
                action="delete" if current is None else "create" if previous is None else "update",
                changes=differences(previous, current),
                provenance=provenances.get(entry.version),
            )
        )
        previous = current
    return FhirResponse(200, resource=revision_parameters(trail))


async def _provenances_by_version(ctx: ServiceContext, request: FhirRequest, address: str) -> dict[int, dict[str, Any]]:
    query = parse_query(
        "Provenance",
        [("target", address), ("_total", "none")],
        strict=True,
        default_count=ctx.settings.max_page_size,
        max_count=ctx.settings.max_page_size,
    )
    page = await ctx.repository.search(request.identity, query, request.base_url)
    versioned = re.compile(re.escape(address) + r"/_history/(\d+)$")
    found: dict[int, dict[str, Any]] = {}
    for record in page.matches:
        provenance = loads(record.content or b"{}")
        for target in provenance.get("target", []):
            match = versioned.search(str(target.get("reference", "")))
            if match:
                found.setdefault(int(match.group(1)), provenance)
    return found
