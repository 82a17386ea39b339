"""Reading a patient's care network: their live CareTeams and the PractitionerRoles,
Practitioners and Organizations (with the caregivers they belong to) that the teams point at.

``$fixed-contacts`` and the NPÖ GetCareManagers adapter both answer from this.  It reads
through the repository's search, with the caller's identity, so the access rules that will
filter searches (issue 6) filter this too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.fhir.jsonio import loads
from fhirbridge.identity import Identity
from fhirbridge.repository import FhirRepository
from fhirbridge.search.query import parse_query
from fhirbridge.storage.records import StoredResource

Resources = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class CareNetwork:
    teams: list[dict[str, Any]]
    resolved: Resources
    """Every resource the teams lead to, by local reference (``Organization/org-1``)."""


async def load_care_network(
    repository: FhirRepository, identity: Identity, patient_id: str, base_url: str | None, limit: int
) -> CareNetwork:
    query = parse_query(
        "CareTeam",
        [
            ("subject", f"Patient/{patient_id}"),
            ("_include", "CareTeam:participant"),
            ("_include:iterate", "PractitionerRole:practitioner"),
            ("_include:iterate", "PractitionerRole:organization"),
            ("_total", "none"),
        ],
        strict=True,
        default_count=limit,
        max_count=limit,
    )
    page = await repository.search(identity, query, base_url)
    teams = [_json(record) for record in page.matches]
    resolved = {f"{r.resource_type}/{r.resource_id}": _json(r) for r in page.included}
    wanted = [str((p.get("onBehalfOf") or {}).get("reference")) for team in teams for p in team.get("participant", [])]
    wanted += [str((org.get("partOf") or {}).get("reference")) for org in list(resolved.values())]
    for reference in wanted:  # the units participants act for, and the caregivers units belong to
        await _resolve(repository, identity, reference, resolved)
    for org in [r for r in list(resolved.values()) if r.get("resourceType") == "Organization"]:
        await _resolve(repository, identity, str((org.get("partOf") or {}).get("reference")), resolved)
    return CareNetwork(teams, resolved)


async def _resolve(repository: FhirRepository, identity: Identity, reference: str, resolved: Resources) -> None:
    if not reference.startswith("Organization/") or reference in resolved:
        return
    record = await repository.read(identity, "Organization", reference.split("/", 1)[1])
    if record is not None and not record.deleted:
        resolved[reference] = _json(record)


def _json(record: StoredResource) -> dict[str, Any]:
    resource: dict[str, Any] = loads(record.content or b"{}")
    return resource
