"""What the access policy needs to know about one patient, read once per request.

- the **care relation**: the care units (and the caregivers they belong to) and the people on
  the patient's CareTeams and named on their CarePlans (author, contributors);
- **consent** to share (samtycke, PDL 6 kap.): an active FHIR Consent that permits a recipient
  (``provision.actor`` with role ``IRCP``, an Organization or a RelatedPerson);
- **blocks** (spärr, PDL 4 kap. 4 §, 6 kap. 2 §): an active Consent that denies, naming with role
  ``CST`` (custodian) the unit whose information is blocked for everyone outside it;
- **emergency access** (nödåtkomst, PDL 6 kap. 3 §): open grants, which are AuditEvents of
  subtype ``emergency-access`` whose ``period`` has not ended (see :mod:`fhirbridge.access.emergency`).

Role codes are from http://terminology.hl7.org/CodeSystem/v3-ParticipationType.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhirbridge.access.grants import open_grants
from fhirbridge.contract.care_network import (
    Directory,
    Resources,
    named_by_plans,
    named_by_teams,
    resolve,
    search_contents,
    unversioned,
)
from fhirbridge.contract.codes import ANSWERED_FOR_UNIT_EXTENSION, SHARE_ACTION_SYSTEM
from fhirbridge.fhir.references import parse_reference
from fhirbridge.identity import Identity
from fhirbridge.search.dates import first_instant, first_instant_after
from fhirbridge.search.query import MAX_VALUES

if TYPE_CHECKING:
    from fhirbridge.reads import Reads

RECIPIENT = "IRCP"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
CUSTODIAN = "CST"
PROPOSE = "foresla"
MAX_INSTANT = 2**63 - 1
MOST = 1000
"""The most teams, plans, active consents or grants read for one patient; one more is read to
tell whether there are more (:attr:`PatientFacts.cut`), and the policy then fails closed."""
UNIT_DEPTH = 6
"""The most levels of units below a blocked caregiver that are followed."""
CONSENTS_TOGETHER = MAX_VALUES
"""Patients whose consents one search asks for (:func:`service_facts_of_each`), as many values as
a search parameter may have: a change feed page of 1,000 versions names a hundred or so.  Each
is one index lookup, read inline (``heavy=False``) like the one-by-one reads it replaces."""


@dataclass(frozen=True)
class EmergencyGrant:
    subject: str
    unit: str | None
    reason: str
    ends: int


@dataclass(frozen=True)
class Share:
    """One consent's reach: the resource types it shares (None: all), less its exceptions."""

    types: frozenset[str] | None
    excluded: frozenset[str]
    nothing: bool = False
    only: frozenset[str] | None = None
    """``provision.data``: the resources shared (``CarePlan/1``), when the consent names them."""
    proposes: bool = False
    """``provision.action`` holds ``share-action#foresla``: the relative may also send the patient's
    proposals and questions about the contract (:mod:`fhirbridge.contract.patient_messages`)."""

    def covers(self, resource_type: str, reference: str) -> bool:
        if self.nothing or resource_type in self.excluded:
            return False
        if self.only is not None and reference not in self.only:
            return False
        return self.types is None or resource_type in self.types


ALWAYS_SHARED = frozenset({"Patient"})
"""Who the patient is goes with anything shared about them."""


def shared(shares: list[Share], resource_type: str, reference: str) -> bool:
    """Whether any of a recipient's consents covers a resource."""
    return resource_type in ALWAYS_SHARED or any(share.covers(resource_type, reference) for share in shares)


@dataclass
class PatientFacts:
    patient_id: str
    care_units: set[str] = field(default_factory=set)
    members: set[str] = field(default_factory=set)
    consented: set[str] = field(default_factory=set)
    shares: dict[str, list[Share]] = field(default_factory=dict)
    """What each consented recipient may read (the patient may limit a consent to some kinds of data)."""
    blocked: set[str] = field(default_factory=set)
    emergency: list[EmergencyGrant] = field(default_factory=list)
    owners: dict[str, set[str]] = field(default_factory=dict)
    """``CarePlan/x``, ``Goal/y``, ``CareTeam/z`` → the units (with their caregivers) whose information it is."""
    resolved: Resources = field(default_factory=dict)
    valid_until: int = MAX_INSTANT
    """The first instant after which a consent, block or grant read here starts or ends: what
    was read holds until then (or until a write raises the patient's epoch)."""
    blocked_people: dict[str, set[str]] = field(default_factory=dict)
    """``Practitioner/x`` → the blocked units they work in (through their PractitionerRoles):
    what a practitioner of a blocked unit wrote in their own name is that unit's information."""
    cut: set[str] = field(default_factory=set)
    """What had more than :data:`MOST` to read (``Consent``, ``CarePlan``, ``CareTeam``, the units
    and roles of a blocked unit), so that not all of it was read."""

    @property
    def unsure(self) -> bool:
        """Whether what blocks cover cannot be told: a block may be among the consents not read,
        or whose information a goal, message or practitioner is may be in what was not read while
        a block holds.  The policy then keeps every unit's information from all outside it."""
        return "Consent" in self.cut or bool(self.blocked and self.cut)

    def owners_of(self, reference: str, resource: dict[str, Any] | None) -> set[str]:
        """The units whose information a resource of this patient is: a plan's author's, a
        team's managing units', a Communication's sender's and recipients' and those of the plans
        it is about (read from the version at hand, so a deleted or retracted one, or an old
        version, counts too), and a Goal's plans'."""
        owners = set(self.owners.get(reference) or ())
        for unit in owning_references(resource):
            owners |= self.units_behind(unit)
        if resource is not None and resource.get("resourceType") == "Communication":
            for about in resource.get("about") or []:  # a message about a unit's plan is that unit's too
                if isinstance(about, dict) and isinstance(about.get("reference"), str):
                    owners |= self.owners.get(unversioned(about["reference"]), set())
        return owners

    def units_behind(self, reference: str | None) -> set[str]:
        """The units a person or unit reference stands for (:func:`units_of`), and for a
        practitioner named in their own name, the blocked units they work in."""
        if reference is None:
            return set()
        reference = unversioned(reference)
        return units_of(reference, self.resolved) | self.blocked_people.get(reference, set())


def owning_references(resource: dict[str, Any] | None) -> list[str]:
    """The people and units whose information a resource is, as references: a CarePlan's
    author, a CareTeam's managing organisations, a Goal's author (who expressed it), an
    Appointment's participants, a Communication's sender and recipients, a QuestionnaireResponse's
    author and the unit it answers for, a Condition's recorder and asserter, a MeasureReport's
    reporter, a Provenance's agents."""
    return [str(r["reference"]) for r in _owning_elements(resource) if isinstance(r.get("reference"), str)]


DISPLAY_IS_NOBODY = frozenset({"Provenance", "Appointment"})
"""Types whose owners named by a display text only are nobody in particular: the server's own
Provenance agents (``fhirbridge (system)``), an Appointment's interpreter or driver.  Elsewhere
a display text in place of who expressed, answered, recorded or authored may name a blocked
unit's person in words, which no block can judge (eleventh review)."""


def owners_unjudged(resource: dict[str, Any] | None) -> bool:
    """Whether an owner is named in a form a block cannot be judged by: a contained resource
    (``#x``), another server's address, an identifier the write path could not resolve to the
    directory (tenth review), or a display text only (eleventh review).  While a block holds,
    such a resource is withheld from all outside the units it is shown to be of (fail closed)."""
    by_display = resource is not None and resource.get("resourceType") not in DISPLAY_IS_NOBODY
    for element in _owning_elements(resource):
        text = element.get("reference")
        if isinstance(text, str):
            parsed = parse_reference(text)
            if parsed is None or parsed.kind != "local":
                return True
        elif element.get("identifier") is not None or (by_display and element.get("display") is not None):
            return True
    return False


def _owning_elements(resource: dict[str, Any] | None) -> list[dict[str, Any]]:
    if resource is None:
        return []
    kind = resource.get("resourceType")
    found: list[Any]
    if kind == "CarePlan":
        found = [resource.get("author")]
    elif kind == "CareTeam":
        found = list(resource.get("managingOrganization") or [])
    elif kind == "Goal":
        found = [resource.get("expressedBy")]
    elif kind == "Appointment":
        found = [p.get("actor") for p in resource.get("participant") or [] if isinstance(p, dict)]
    elif kind == "Communication":
        found = [resource.get("sender"), *(resource.get("recipient") or [])]
    elif kind == "QuestionnaireResponse":
        found = [resource.get("author"), *(reference for _, reference in answered_for(resource))]
    elif kind == "Condition":
        found = [resource.get("recorder"), resource.get("asserter")]
    elif kind == "MeasureReport":
        found = [resource.get("reporter")]
    elif kind == "Provenance":
        agents = [a for a in resource.get("agent") or [] if isinstance(a, dict)]
        found = [a.get(key) for a in agents for key in ("who", "onBehalfOf")]
    else:
        return []
    return [r for r in found if isinstance(r, dict)]


def answered_for(resource: dict[str, Any]) -> list[tuple[int, Any]]:
    """A QuestionnaireResponse's ``answered-for-unit`` extensions: (index among the extensions,
    the Reference) for each, the unit whose care the answers are about."""
    extensions = resource.get("extension")
    return [
        (index, extension.get("valueReference"))
        for index, extension in enumerate(extensions if isinstance(extensions, list) else [])
        if isinstance(extension, dict) and extension.get("url") == ANSWERED_FOR_UNIT_EXTENSION
    ]


def in_force(period: Any, now: int, facts: PatientFacts | None = None) -> bool:
    """Whether ``now`` lies in ``period``; a boundary still to come shortens ``facts.valid_until``."""
    if not isinstance(period, dict):
        return True
    begins, ends = first_instant(period.get("start")), first_instant_after(period.get("end"))
    if facts is not None:
        for boundary in (begins, ends):
            if boundary is not None and boundary > now:
                facts.valid_until = min(facts.valid_until, boundary)
    return (begins is None or begins <= now) and (ends is None or now < ends)


def units_of(reference: str | None, resolved: Resources) -> set[str]:
    """The Organization a person or unit reference stands for, and every unit above it (any
    local form of the references: versioned ones too)."""
    found: set[str] = set()
    current = unversioned(reference) if reference is not None else None
    if current is not None and current.startswith("PractitionerRole/"):
        role = resolved.get(current) or {}
        current = _text((role.get("organization") or {}).get("reference"))
    while isinstance(current, str) and current.startswith("Organization/") and current not in found:
        found.add(current)
        current = _text(((resolved.get(current) or {}).get("partOf") or {}).get("reference"))
    return found


def _text(reference: Any) -> str | None:
    return unversioned(reference) if isinstance(reference, str) else None


async def load_facts(
    repository: Reads,
    system: Identity,
    patient_id: str,
    now: int,
    *,
    directory: Directory,
    care: bool = True,
) -> PatientFacts:
    """Everything above for one patient, read as the server itself (``system``).

    ``care=False`` is for callers whose standing does not rest on a care relation (the
    region's services, relatives): only the consents are read, and the care network only when
    a block makes it matter (whose information each plan is).  ``directory``: the people and
    units read before while the directory stood as it stands (:mod:`fhirbridge.access.kept`).

    The patient's consents, teams and plans are found through the patient's own index rows and
    read like point reads (``heavy=False``: on SQLite, no hop to a worker thread, which cost
    more than the reads themselves), and the open emergency grants by the patient's own rows of
    ``emergency_grants``."""
    facts = PatientFacts(patient_id)
    await _read_consents(repository, system, facts, now)
    if not care and not facts.blocked and not facts.cut:
        return facts
    if care:
        await _read_grants(repository, facts, now)
    if facts.blocked:
        await _read_blocked_people(repository, system, facts)
    teams, plans, facts.resolved = await _teams_and_plans(repository, system, patient_id, directory)
    if len(teams) > MOST:
        facts.cut.add("CareTeam")
    if len(plans) > MOST:
        facts.cut.add("CarePlan")
    for team in teams:
        owners = set().union(*(facts.units_behind(unit) for unit in owning_references(team)))
        facts.owners[f"CareTeam/{team.get('id')}"] = owners
        if team.get("status") in ("inactive", "entered-in-error"):
            continue  # whose information it was still counts; a care relation it no longer gives
        facts.care_units |= owners
        for participant in team.get("participant", []):
            for key in ("member", "onBehalfOf"):
                reference = (participant.get(key) or {}).get("reference")
                if isinstance(reference, str):
                    facts.members.add(reference)
                    facts.care_units |= units_of(reference, facts.resolved)
    for plan in plans:
        author = (plan.get("author") or {}).get("reference")
        named = [author, *[c.get("reference") for c in plan.get("contributor", [])]]
        owners = facts.units_behind(author) if isinstance(author, str) else set()
        facts.owners[f"CarePlan/{plan.get('id')}"] = owners
        for goal in plan.get("goal", []):
            if isinstance(goal.get("reference"), str):
                facts.owners.setdefault(unversioned(goal["reference"]), set()).update(owners)
        if plan.get("status") == "entered-in-error":
            continue
        for reference in named:
            if isinstance(reference, str):
                facts.members.add(reference)
                facts.care_units |= units_of(reference, facts.resolved)
    return facts


async def _teams_and_plans(
    repository: Reads, system: Identity, patient_id: str, directory: Directory
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Resources]:
    """The patient's CareTeams and CarePlans (the first ``MOST + 1`` of each), read alone, and
    the people and units they name with the units above them, from ``directory`` (two queries
    when it knows them all)."""
    subject = [("subject", f"Patient/{patient_id}")]
    teams, _ = await search_contents(repository, system, "CareTeam", subject, None, MOST + 1, heavy=False)
    plans, _ = await search_contents(repository, system, "CarePlan", subject, None, MOST + 1, heavy=False)
    resolved: Resources = {}
    await resolve(repository, system, named_by_teams(teams) + named_by_plans(plans), resolved, directory)
    return teams, plans, resolved


async def _read_blocked_people(repository: Reads, system: Identity, facts: PatientFacts) -> None:
    """Who works in each blocked unit or in a unit below it (their PractitionerRoles)."""
    for blocked in sorted(facts.blocked):
        units, pending = {blocked}, [blocked]
        for _ in range(UNIT_DEPTH):
            if not pending:
                break
            below, _ = await search_contents(
                repository, system, "Organization", [("partof", ",".join(pending))], None, MOST + 1
            )
            if len(below) > MOST:
                facts.cut.add("Organization")
            pending = [
                f"Organization/{unit.get('id')}" for unit in below if f"Organization/{unit.get('id')}" not in units
            ]
            units.update(pending)
        roles, _ = await search_contents(
            repository, system, "PractitionerRole", [("organization", ",".join(sorted(units)))], None, MOST + 1
        )
        if len(roles) > MOST:
            facts.cut.add("PractitionerRole")
        for role in roles:
            practitioner = _local_reference((role.get("practitioner") or {}).get("reference"))
            if practitioner is not None:
                facts.blocked_people.setdefault(practitioner, set()).add(blocked)


async def caller_units(repository: Reads, system: Identity, unit: str | None) -> set[str]:
    """The caller's unit and every unit above it (a caregiver's consent covers its units)."""
    if unit is None:
        return set()
    resolved: Resources = {}
    await resolve(repository, system, [unit], resolved)
    return units_of(unit, resolved) | {unit}


def _roles(actor: dict[str, Any]) -> set[str]:
    return {str(c.get("code")) for c in (actor.get("role") or {}).get("coding", []) if isinstance(c, dict)}


async def _read_consents(repository: Reads, system: Identity, facts: PatientFacts, now: int) -> None:
    """The patient's active Consents (filtered in the query: proposed, rejected or withdrawn ones,
    however many, push none of them out); more than :data:`MOST` active ones are cut."""
    pairs = [("patient", f"Patient/{facts.patient_id}"), ("status", "active")]
    consents, _ = await search_contents(repository, system, "Consent", pairs, None, MOST + 1, heavy=False)
    _apply_consents(facts, consents, now)


async def service_facts_of_each(
    repository: Reads, system: Identity, patient_ids: Sequence[str], now: int
) -> dict[str, PatientFacts]:
    """:func:`load_facts` with ``care=False`` of several patients, their active Consents found
    by one search per :data:`CONSENTS_TOGETHER` patients (the searches asked at once) instead
    of one each (a history page's patients, judged for the region's services).  Only the
    patients whose facts are then whole are answered: one with a block, or with more than
    :data:`MOST` active consents, is left out (its care network is to be read too, or its
    consents are cut as the one-by-one read cuts them), and so are all of a search whose
    consents cannot each be told to be one patient's (a patient named other than
    ``Patient/id``)."""
    wanted = sorted(set(patient_ids))
    chunks = [wanted[start : start + CONSENTS_TOGETHER] for start in range(0, len(wanted), CONSENTS_TOGETHER)]
    found: dict[str, PatientFacts] = {}
    for part in await asyncio.gather(*(_service_facts(repository, system, chunk, now) for chunk in chunks)):
        found.update(part)
    return found


async def _service_facts(repository: Reads, system: Identity, chunk: list[str], now: int) -> dict[str, PatientFacts]:
    """:func:`service_facts_of_each` of at most :data:`CONSENTS_TOGETHER` patients, by one search."""
    pairs = [("patient", ",".join(f"Patient/{p}" for p in chunk)), ("status", "active")]
    limit = (MOST + 1) * len(chunk)
    consents, _ = await search_contents(repository, system, "Consent", pairs, None, limit, heavy=False)
    if len(consents) >= limit:
        return {}
    by_patient: dict[str, list[dict[str, Any]]] = {patient_id: [] for patient_id in chunk}
    for consent in consents:
        reference = (consent.get("patient") or {}).get("reference")
        owner = reference.removeprefix("Patient/") if isinstance(reference, str) else None
        if owner not in by_patient:
            return {}
        by_patient[owner].append(consent)
    found = {}
    for patient_id, theirs in by_patient.items():
        facts = PatientFacts(patient_id)
        _apply_consents(facts, theirs, now)
        if not facts.blocked and not facts.cut:
            found[patient_id] = facts
    return found


def _apply_consents(facts: PatientFacts, consents: list[dict[str, Any]], now: int) -> None:
    """What a patient's active Consents (at most :data:`MOST` + 1 read) say: blocks, consented
    recipients and what each may read; more than :data:`MOST` are cut."""
    if len(consents) > MOST:
        facts.cut.add("Consent")
    for consent in consents:
        if consent.get("status") != "active":
            continue
        for provision, nested in _provisions(consent.get("provision")):
            if not in_force(provision.get("period"), now, facts):
                continue
            for actor in provision.get("actor", []):
                reference = _local_reference((actor.get("reference") or {}).get("reference"))
                if reference is None:
                    continue
                custodian = CUSTODIAN in _roles(actor)
                if provision.get("type") == "deny" and custodian:
                    facts.blocked.add(reference)  # a block counts at any depth
                elif provision.get("type") == "permit" and not custodian and not nested:
                    facts.consented.add(reference)  # a permit only at the top: a nested one is an exception
                    facts.shares.setdefault(reference, []).append(_share(provision, now, facts))


def _share(permit: dict[str, Any], now: int, facts: PatientFacts) -> Share:
    """What one permit lets its recipients read: the resource types in its ``class`` (all when
    it names none), less those its nested deny provisions in force take out (all of them when
    a nested deny names no type)."""
    allowed = _types(permit)
    excluded: set[str] = set()
    everything = False
    for provision, nested in _provisions(permit):
        if nested and provision.get("type") == "deny" and in_force(provision.get("period"), now, facts):
            types = _types(provision)
            if not types:  # no class, or only classes this server cannot honour: the exception takes all
                everything = True
            else:
                excluded |= types
    data = permit.get("data")
    only = None
    if isinstance(data, list) and data:
        only = frozenset(
            unversioned(str((item.get("reference") or {}).get("reference"))) for item in data if isinstance(item, dict)
        )
    proposes = any(
        coding.get("system") == SHARE_ACTION_SYSTEM and coding.get("code") == PROPOSE
        for action in permit.get("action") or []
        if isinstance(action, dict)
        for coding in action.get("coding") or []
        if isinstance(coding, dict)
    )
    return Share(allowed, frozenset(excluded), everything, only, proposes)


def _types(provision: dict[str, Any]) -> frozenset[str] | None:
    """The resource types a provision's ``class`` names: None when it names no class; a class
    of another kind (a MIME type, a profile) is one this server cannot honour, so it shares
    nothing rather than everything."""
    classes = [c for c in provision.get("class", []) if isinstance(c, dict)]
    if not classes:
        return None
    return frozenset(str(c.get("code")) for c in classes if c.get("system") == RESOURCE_TYPES)


def blocks(consent: dict[str, Any]) -> bool:
    """Whether a Consent holds a block (a deny provision naming a custodian, at any depth)."""
    return any(
        provision.get("type") == "deny" and any(CUSTODIAN in _roles(actor) for actor in provision.get("actor", []))
        for provision, _ in _provisions(consent.get("provision"))
    )


def _provisions(provision: Any, nested: bool = False) -> list[tuple[dict[str, Any], bool]]:
    """A Consent's provision and the ones nested in it (R4 Consent.provision.provision), each
    with whether it is nested."""
    if not isinstance(provision, dict):
        return []
    found = [(provision, nested)]
    for inner in provision.get("provision", []) if isinstance(provision.get("provision"), list) else []:
        found += _provisions(inner, True)
    return found


def _local_reference(text: Any) -> str | None:
    """``Type/id`` of a local reference, without a version; None for anything else."""
    parsed = parse_reference(text) if isinstance(text, str) else None
    if parsed is None or parsed.kind != "local" or not parsed.resource_type or not parsed.resource_id:
        return None
    return f"{parsed.resource_type}/{parsed.resource_id}"


async def _read_grants(repository: Reads, facts: PatientFacts, now: int) -> None:
    """The open emergency grants, found by the patient and the instant they end
    (:mod:`fhirbridge.access.grants`): ended ones, however many, do not push an open one out.
    A grant only opens access, so one not read refuses (fails closed)."""
    async with repository.database.reader() as conn:
        events = await open_grants(conn, facts.patient_id, now, MOST)
    for event in events:
        ends = first_instant_after((event.get("period") or {}).get("end"))
        agent = (event.get("agent") or [{}])[0]
        subject = (agent.get("who") or {}).get("reference")
        if ends is None or ends <= now or not isinstance(subject, str):
            continue
        facts.valid_until = min(facts.valid_until, ends)
        unit = next((str(a["who"]["reference"]) for a in event.get("agent", [])[1:] if "who" in a), None)
        reason = str((event.get("purposeOfEvent") or [{}])[0].get("text") or "")
        facts.emergency.append(EmergencyGrant(subject, unit, reason, ends))
