"""Reading a patient's care network and plans: their live CareTeams and CarePlans, and the
PractitionerRoles, Practitioners and Organizations (with the caregivers they belong to) that
these point at.

``$fixed-contacts``, the NPÖ adapters and the patient overview all answer from this.  It reads
through the repository's search, with the caller's identity, so the access rules that will
filter searches (issue 6) filter this too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.identity import Identity
from fhirbridge.search.query import parse_query
from fhirbridge.storage.records import StoredResource

if TYPE_CHECKING:
    from fhirbridge.reads import Reads

Resources = dict[str, dict[str, Any]]
RESOLVABLE = ("Practitioner", "PractitionerRole", "Organization")
FOLLOWED = ("practitioner", "organization", "partOf")
"""A role's practitioner and unit, a unit's caregiver."""


@dataclass(frozen=True)
class CareNetwork:
    teams: list[dict[str, Any]]
    resolved: Resources
    """Every resource the teams lead to, by local reference (``Organization/org-1``)."""


async def load_care_network(
    repository: Reads, identity: Identity, patient_id: str, base_url: str | None, limit: int
) -> CareNetwork:
    includes = [
        ("_include", "CareTeam:participant"),
        ("_include:iterate", "PractitionerRole:practitioner"),
        ("_include:iterate", "PractitionerRole:organization"),
    ]
    teams, resolved = await _patients("CareTeam", includes, repository, identity, patient_id, base_url, limit)
    await resolve(repository, identity, named_by_teams(teams, keys=("onBehalfOf",)), resolved)
    return CareNetwork(teams, resolved)


async def load_plans(
    repository: Reads, identity: Identity, patient_id: str, base_url: str | None, limit: int
) -> tuple[list[dict[str, Any]], Resources]:
    """The patient's live CarePlans, and their Goals, authors and contributors (with the people
    and units behind them)."""
    includes = [("_include", "CarePlan:goal")]
    plans, resolved = await _patients("CarePlan", includes, repository, identity, patient_id, base_url, limit)
    await resolve(repository, identity, named_by_plans(plans), resolved)
    return plans, resolved


def named_by_teams(teams: list[dict[str, Any]], keys: tuple[str, ...] = ("member", "onBehalfOf")) -> list[str]:
    """The references of the teams' participants under ``keys`` (who takes part, for which unit)."""
    return [
        str((participant.get(key) or {}).get("reference"))
        for team in teams
        for participant in team.get("participant", [])
        for key in keys
    ]


def named_by_plans(plans: list[dict[str, Any]]) -> list[str]:
    """The references of the plans' authors and contributors."""
    named = [str((plan.get("author") or {}).get("reference")) for plan in plans]
    return named + [str(c.get("reference")) for plan in plans for c in plan.get("contributor", [])]


async def _patients(
    resource_type: str,
    includes: list[tuple[str, str]],
    repository: Reads,
    identity: Identity,
    patient_id: str,
    base_url: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A patient's live resources of one type (``subject``), and what the includes brought."""
    return await search_contents(
        repository, identity, resource_type, [("subject", f"Patient/{patient_id}"), *includes], base_url, limit
    )


async def search_contents(
    repository: Reads,
    identity: Identity,
    resource_type: str,
    pairs: list[tuple[str, str]],
    base_url: str | None,
    limit: int,
    *,
    heavy: bool = True,
) -> tuple[list[dict[str, Any]], Resources]:
    """The first ``limit`` matches of a search as JSON, and its included resources by reference
    (``heavy=False``: see :meth:`fhirbridge.repository.FhirRepository.search`)."""
    query = parse_query(resource_type, [*pairs, ("_total", "none")], strict=True, default_count=limit, max_count=limit)
    page = await repository.search(identity, query, base_url, heavy=heavy)
    found = [content(record) for record in page.matches]
    return found, {f"{r.resource_type}/{r.resource_id}": content(r) for r in page.included}


Directory = dict[str, dict[str, Any] | None]
"""Directory resources already read, by local reference (None: none there); never changed by
those who consult it, since several patients' facts share its contents."""


async def resolve(
    repository: Reads,
    identity: Identity,
    references: list[str],
    resolved: Resources,
    known: Directory | None = None,
) -> None:
    """Read into ``resolved`` every Practitioner, PractitionerRole and Organization that
    ``references`` (and the resources already in ``resolved``) lead to, following a role to its
    practitioner and unit, and a unit to the caregiver it belongs to.  ``known`` holds what was
    read before, for an identity that may read the whole directory: consulted first, and added to."""
    seen: set[str] = set()
    pending = [*references, *resolved]
    while pending:
        reference = unversioned(pending.pop())
        if reference in seen:
            continue
        seen.add(reference)
        kind, _, resource_id = reference.partition("/")
        if reference not in resolved:
            if kind not in RESOLVABLE or not resource_id:
                continue
            if known is not None and reference in known:
                found = known[reference]
            else:
                record = await repository.read(identity, kind, resource_id)
                found = None if record is None or record.deleted or record.content is None else content(record)
                if known is not None:
                    known[reference] = found
            if found is None:
                continue
            resolved[reference] = found
        resource = resolved[reference]
        pending += [str(resource[key].get("reference")) for key in FOLLOWED if isinstance(resource.get(key), dict)]


def unversioned(reference: str) -> str:
    """``Type/id`` for a local reference in any form (``Type/id/_history/2``); the text otherwise."""
    parsed = parse_reference(reference)
    if parsed is None or parsed.kind != "local" or not parsed.resource_type or not parsed.resource_id:
        return reference
    return f"{parsed.resource_type}/{parsed.resource_id}"


def content(record: StoredResource) -> dict[str, Any]:
    resource: dict[str, Any] = loads(record.content or b"{}")
    return resource
