"""The access policy: every read, search, include, history entry and write passes here.

Three questions, in order (docs/security.md has the whole model):

1. **Scope** (SMART App Launch 2.0): does the token's ``patient/``, ``user/`` or ``system/``
   scope for the caller's kind allow this permission on this resource type?
2. **Whose data**: the resource's patients by the R4 Patient compartment.  Resources outside
   the compartment (Practitioner, Organization, …) need only the scope.  A patient token sees
   its own patient only; a relative's token only what the patient shared with them (Consent).
3. **The Patient Data Act** for users and systems acting for a care unit: a care relation
   (the unit, its caregiver or the person is on the patient's care team or contract), the
   patient's consent for the unit, or an open emergency access; and never information of a
   unit the patient has blocked, unless the caller belongs to that unit.

Contracts labelled ``NOPATIENT`` (not approved for the patient) are hidden from the patient and
their relatives.  AuditEvents are written by the server only; a patient sees their own, a user
the ones about themselves, a system with an AuditEvent scope all.  Subscriptions (which make the
server call out) belong to the service that created them (:mod:`fhirbridge.notifications.owners`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhirbridge.access.compartment import (
    SERVER_WRITTEN,
    UNKNOWN_PATIENT,
    compartment_search_parameter,
    compartment_types,
    patients_of,
)
from fhirbridge.access.facts import PatientFacts, caller_units, load_facts
from fhirbridge.audit.events import seen_by
from fhirbridge.auth.scopes import Context, Permission
from fhirbridge.auth.tokens import insufficient_scope
from fhirbridge.contract.codes import not_for_patient
from fhirbridge.errors import FhirError, Issue, method_not_allowed
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.identity import SYSTEM, Identity
from fhirbridge.notifications import owners
from fhirbridge.search.query import Clause, SearchQuery, with_clause
from fhirbridge.storage.records import StoredResource

if TYPE_CHECKING:
    from fhirbridge.repository import FhirRepository

WRITTEN_BY_SYSTEMS = frozenset({"Subscription", "Organization", "PractitionerRole", "Practitioner"})
"""Who works where decides who may see what: the directory (synchronised from HSA) is written
by systems, never by a user's token."""
EMERGENCY_HINT = "emergency access (POST Patient/[id]/$emergency-access with a reason) is possible"


def forbidden(message: str) -> FhirError:
    return FhirError(403, [Issue("error", "forbidden", message)])


class Refused(FhirError):
    """A 403 for one patient's data, carrying the patients, so that the attempt is logged with them."""

    def __init__(self, message: str, patients: frozenset[str]) -> None:
        super().__init__(403, [Issue("error", "forbidden", message)])
        self.patients = patients


def _context(identity: Identity) -> Context | None:
    """The scope context a caller's grants count in (a patient's system scopes count for nothing)."""
    kind = identity.kind
    return kind if kind in ("patient", "user", "system") else None


@dataclass
class PatientDecision:
    """What one caller may do with one patient's data in this request."""

    allowed: bool
    basis: str
    """``own``, ``shared``, ``care-relation``, ``consent``, ``emergency``, ``service`` or why not."""
    blocked: set[str] = field(default_factory=set)
    hide_unapproved: bool = False
    emergency_reason: str | None = None
    may_establish: bool = False
    """No care network yet: a write may create the first care relation."""
    facts: PatientFacts | None = None


@dataclass(frozen=True)
class Access:
    """A record the caller may see, and on what grounds (for the audit trail)."""

    patients: frozenset[str]
    bases: tuple[str, ...]
    emergency_reasons: tuple[str, ...]


class AccessPolicy:
    def __init__(self, repository: FhirRepository) -> None:
        self.repository = repository

    # -- scopes --------------------------------------------------------------------------
    def require_scope(self, identity: Identity, resource_type: str, permission: Permission) -> None:
        """403 with ``insufficient_scope`` unless the token allows ``permission`` on the type."""
        if not self._scoped(identity, resource_type, permission):
            needed = f"{_context(identity) or 'system'}/{resource_type}.{permission}"
            raise insufficient_scope(needed, f"The access token's scopes do not allow this ({needed} is needed)")

    def _scoped(self, identity: Identity, resource_type: str, permission: Permission) -> bool:
        if identity.unrestricted:
            return True
        context = _context(identity)
        return context is not None and identity.scopes.allows(context, resource_type, permission)

    # -- searches ------------------------------------------------------------------------
    def restrict(self, identity: Identity, query: SearchQuery) -> SearchQuery:
        """A patient's search never leaves their compartment."""
        if identity.unrestricted:
            return query
        if query.resource_type == "Subscription":
            query = owners.only_own(identity, query)
        service = identity.kind == "system" and identity.on_behalf_of is None
        if not service and any(_reverse_chained(clause) for clause in query.clauses):
            raise forbidden("_has is not available to this caller: it would search data it may not see")
        if identity.kind != "patient" or identity.patient is None:
            return query
        if query.resource_type == "Patient":
            return with_clause(query, "_id", identity.patient)
        if query.resource_type in compartment_types():
            param = compartment_search_parameter(query.resource_type)
            if param is not None:
                return with_clause(query, param, f"Patient/{identity.patient}")
        return query

    # -- reads ---------------------------------------------------------------------------
    async def check_read(self, identity: Identity, record: StoredResource, permissions: str = "r") -> Access | None:
        """The grounds on which the caller may see ``record``, or None when it is hidden from
        them; a user or system refused for the Patient Data Act gets a 403 that says why."""
        try:
            return await self._access(identity, record, permissions)
        except Refused as refusal:
            seen = seen_by(identity)
            if seen is not None:  # the attempt is logged with the patient
                seen.patients |= refusal.patients
            if identity.kind == "patient":
                return None
            raise

    async def visible(
        self, identity: Identity, records: list[StoredResource], permissions: str = "rs"
    ) -> list[StoredResource]:
        """The records the caller may see; the rest are left out without a word."""
        kept = []
        for record in records:
            try:
                if await self._access(identity, record, permissions) is not None:
                    kept.append(record)
            except FhirError:
                continue
        return kept

    async def _access(self, identity: Identity, record: StoredResource, permissions: str) -> Access | None:
        access = await self._judge(identity, record, permissions)
        seen = seen_by(identity)
        if access is not None and seen is not None:
            reference = f"{record.resource_type}/{record.resource_id}/_history/{record.version}"
            seen.note(reference, access.patients, access.emergency_reasons)
        return access

    async def _judge(self, identity: Identity, record: StoredResource, permissions: str) -> Access | None:
        if identity.unrestricted:
            return Access(frozenset(), (), ())
        resource_type = record.resource_type
        if not any(self._scoped(identity, resource_type, p) for p in permissions):  # type: ignore[arg-type]
            return None
        if record.content is None:  # a deletion in a history: shown only where no patient or owner is involved
            hidden = resource_type in compartment_types() or resource_type == "Subscription"
            return None if hidden else Access(frozenset(), (), ())
        resource = loads(record.content)
        if resource_type == "Subscription" and not owners.holds(identity, resource):
            return None
        if resource_type == "AuditEvent" and not self._sees_audit(identity, resource):
            return None
        patients = await self._patients(identity, resource_type, resource)
        if not patients:
            return Access(frozenset(), (), ())
        return await self._patient_access(identity, record, resource, patients)

    def _sees_audit(self, identity: Identity, event: dict[str, Any]) -> bool:
        if identity.kind == "system":
            return True
        if identity.kind == "user":
            return any((a.get("who") or {}).get("reference") == identity.subject for a in event.get("agent", []))
        return not identity.is_relative

    async def _patients(self, identity: Identity, resource_type: str, resource: dict[str, Any]) -> frozenset[str]:
        found = set(patients_of(resource_type, resource) or ())
        if resource_type != "Provenance":
            return frozenset(found)
        for target in resource.get("target", []):
            text = target.get("reference") if isinstance(target, dict) else None
            parsed = parse_reference(text) if isinstance(text, str) else None
            if parsed is not None and parsed.resource_type and parsed.resource_id:
                found |= await self._target_patients(identity, parsed.resource_type, parsed.resource_id)
            elif parsed is None or parsed.kind != "contained":
                found.add(UNKNOWN_PATIENT)  # what it is the history of cannot be told
        return frozenset(found)

    async def _target_patients(self, identity: Identity, resource_type: str, resource_id: str) -> frozenset[str]:
        """Whose data a Provenance target is (its last content if it was deleted), read once per
        request however many Provenances name it."""
        memo: dict[str, frozenset[str]] = identity.decisions.setdefault("targets", {})
        key = f"{resource_type}/{resource_id}"
        if key not in memo:
            stored = await self.repository.read(SYSTEM, resource_type, resource_id)
            if stored is not None and stored.content is None and stored.version > 1:
                stored = await self.repository.vread(SYSTEM, resource_type, resource_id, stored.version - 1)
            if stored is None or stored.content is None:
                memo[key] = frozenset({UNKNOWN_PATIENT})  # whose it was cannot be told: hidden from all but services
            else:
                memo[key] = patients_of(resource_type, loads(stored.content)) or frozenset()
        return memo[key]

    async def _patient_access(
        self, identity: Identity, record: StoredResource, resource: dict[str, Any], patients: frozenset[str]
    ) -> Access:
        bases, reasons = [], []
        reference = f"{record.resource_type}/{record.resource_id}"
        for patient_id in sorted(patients):
            decision = await self.decide(identity, patient_id)
            refusal = decision.basis if not decision.allowed else _withheld(decision, reference, resource)
            if refusal is not None:
                raise Refused(refusal, patients)
            bases.append(decision.basis)
            if decision.emergency_reason is not None:
                reasons.append(decision.emergency_reason)
        return Access(patients, tuple(bases), tuple(reasons))

    # -- the Patient Data Act ------------------------------------------------------------
    async def decide(self, identity: Identity, patient_id: str) -> PatientDecision:
        """The caller's standing with one patient, looked up once per request."""
        memo: dict[str, PatientDecision] = identity.decisions.setdefault("patients", {})
        if patient_id not in memo:
            memo[patient_id] = await self._decide(identity, patient_id)
        return memo[patient_id]

    async def _decide(self, identity: Identity, patient_id: str) -> PatientDecision:
        if identity.unrestricted:
            return PatientDecision(True, "unrestricted")
        if identity.kind == "patient":
            if identity.patient != patient_id:
                return PatientDecision(False, "A patient's token reaches only that patient's data")
            if not identity.is_relative:
                return PatientDecision(True, "own", hide_unapproved=True)
            facts = await load_facts(self.repository, SYSTEM, patient_id, now_us())
            if identity.subject in facts.consented:
                return PatientDecision(True, "shared", hide_unapproved=True, facts=facts)
            return PatientDecision(False, "The patient has not shared their plans with you")
        if identity.kind not in ("user", "system"):
            return PatientDecision(False, "An authenticated caller is needed")
        facts = await load_facts(self.repository, SYSTEM, patient_id, now_us())
        units = await self._caller_units(identity)
        blocked = {unit for unit in facts.blocked if unit not in units}
        first = not facts.has_care_network and identity.kind == "system"  # a system starts the first care relation
        decision = PatientDecision(False, "", blocked=blocked, facts=facts, may_establish=first)
        if identity.kind == "system" and identity.on_behalf_of is None:
            decision.allowed, decision.basis = True, "service"
        elif units & facts.care_units or identity.subject in facts.members:
            decision.allowed, decision.basis = True, "care-relation"
        elif units & facts.consented:
            decision.allowed, decision.basis = True, "consent"
        else:
            grant = next(
                (
                    g
                    for g in facts.emergency
                    if g.subject == identity.subject and g.unit in (None, identity.on_behalf_of)
                ),
                None,
            )
            if grant is not None:
                decision.allowed, decision.basis, decision.emergency_reason = True, "emergency", grant.reason
            else:
                decision.basis = (
                    "You have no care relation with this patient and no consent from the patient for your "
                    f"unit; {EMERGENCY_HINT}"
                )
        return decision

    async def _caller_units(self, identity: Identity) -> set[str]:
        if "units" not in identity.decisions:
            identity.decisions["units"] = await caller_units(self.repository, SYSTEM, identity.on_behalf_of)
        units: set[str] = identity.decisions["units"]
        return units

    # -- writes --------------------------------------------------------------------------
    async def may_write_for(self, identity: Identity, patient_id: str) -> bool:
        """Whether the caller may write about the patient at all (a reference by identifier
        resolves only to such a Patient)."""
        decision = await self._decide(identity, patient_id)
        return decision.allowed or decision.may_establish

    async def check_write(
        self,
        identity: Identity,
        permission: Permission,
        resource_type: str,
        resource: dict[str, Any] | None,
        previous: StoredResource | None,
    ) -> None:
        """Refuse a create, update or delete the caller may not make (the one write path calls this)."""
        if resource_type in SERVER_WRITTEN and identity is not SYSTEM:
            raise method_not_allowed(f"{resource_type} is written by the server only (append-only)")
        if identity.unrestricted:
            return
        self.require_scope(identity, resource_type, permission)
        if resource_type in WRITTEN_BY_SYSTEMS and identity.kind != "system":
            raise forbidden(f"Only a system may change {resource_type} resources")
        old = loads(previous.content) if previous is not None and previous.content is not None else None
        if resource_type == "Subscription" and (refusal := owners.write_refusal(identity, old)) is not None:
            raise forbidden(refusal)
        new_patients = await self._patients(identity, resource_type, resource) if resource is not None else frozenset()
        old_patients = await self._patients(identity, resource_type, old) if old is not None else frozenset()
        if resource is not None and not new_patients and resource_type in compartment_types():
            service = identity.kind == "system" and identity.on_behalf_of is None
            if identity.kind == "patient":
                raise forbidden(
                    f"A patient's token writes only resources about the patient; this {resource_type} names none"
                )
            if old_patients and not service:  # it would leave every compartment, and be seen by all
                raise forbidden(f"This {resource_type} is about a patient; an update may not take every patient away")
        for patient_id in sorted(new_patients | old_patients):
            decision = await self._decide(identity, patient_id)  # afresh: the transaction may have changed it
            if not (decision.allowed or decision.may_establish):
                raise forbidden(decision.basis)
            if previous is not None and old is not None:  # what the caller may not see, they may not change
                refusal = _withheld(decision, f"{resource_type}/{previous.resource_id}", old)
                if refusal is not None:
                    raise forbidden(refusal)


def _reverse_chained(clause: Clause) -> bool:
    """Whether a clause is, or chains into, a ``_has`` (which matches on the referring resources)."""
    current: Clause | None = clause
    while current is not None:
        if current.has_type is not None:
            return True
        current = current.chained
    return False


def _withheld(decision: PatientDecision, reference: str, resource: dict[str, Any]) -> str | None:
    """Why a resource of a patient the caller may otherwise reach is kept from them: a block of
    its unit's information, or a plan not approved for the patient; None when it is not."""
    facts = decision.facts
    if decision.blocked and facts is not None and facts.owners_of(reference, resource) & decision.blocked:
        return f"The patient has blocked (spärr) this information from {reference}'s unit"
    if decision.hide_unapproved and resource.get("resourceType") == "CarePlan" and not_for_patient(resource):
        return "This plan is not approved for the patient"
    return None
