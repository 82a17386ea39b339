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

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from fhirbridge.access.compartment import (
    SERVER_WRITTEN,
    UNKNOWN_PATIENT,
    compartment_search_parameter,
    compartment_types,
    patients_of,
)
from fhirbridge.access.facts import (
    MOST,
    PatientFacts,
    Share,
    blocks,
    caller_units,
    load_facts,
    owners_unjudged,
    owning_references,
    service_facts_of_each,
    shared,
)
from fhirbridge.access.kept import Kept, KeptFacts
from fhirbridge.access.search_rules import search_refusal
from fhirbridge.access.targets import (
    judged_memo,
    local_targets,
    named_version,
    read_targets_ahead,
    target_key,
    targets_memo,
    version_key,
)
from fhirbridge.access.unit_owned import may_reach_units, owning_units, unplaced_units
from fhirbridge.audit.events import seen_by
from fhirbridge.auth.scopes import Context, Permission
from fhirbridge.auth.tokens import insufficient_scope
from fhirbridge.contract.care_network import resolve, search_contents
from fhirbridge.contract.codes import may_be_not_for_patient, not_for_patient
from fhirbridge.contract.patient_messages import PENDING, is_patient_message
from fhirbridge.errors import FhirError, Issue, conflict, error, invalid, method_not_allowed, not_found
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import dumps, loads, loads_inexact
from fhirbridge.fhir.references import ParsedReference, named_targets, parse_reference
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.identity import SYSTEM, Identity
from fhirbridge.notifications import owners
from fhirbridge.patients.identity import replaced_by
from fhirbridge.patients.survivors import person_ids, surviving_patient
from fhirbridge.search.query import SearchQuery, with_clause
from fhirbridge.storage.epochs import DIRECTORY, patient_scope, read_epochs
from fhirbridge.storage.records import StoredResource
from fhirbridge.storage.store import live_referrers_by_param, live_referrers_of_each, read_each
from fhirbridge.sweden.identifiers import HSA_SYSTEM

if TYPE_CHECKING:
    from fhirbridge.reads import Reads

WRITTEN_BY_SYSTEMS = frozenset(
    {"Subscription", "Organization", "PractitionerRole", "Practitioner", "Measure", "MeasureReport", "Group"}
)
"""Who works where decides who may see what: the directory (synchronised from HSA) is written
by systems, never by a user's token; so are the region's follow-up measures and their reports,
and its cohorts (Group)."""
READ_BY_SERVICES = frozenset({"Group"})
"""Cohorts of patients (R4 group.html: a region's follow-up cohort, a care unit's patients): a
Group lists many patients, so reading one tells of all of them.  Only the region's services
(a system token for no unit) read them; a patient's token never (not even a Group she is a
member of: it names her co-members), a user or a unit's system not yet (docs/security.md)."""
MOST_PLANS = 100
"""The most plans read to tell whether a Goal belongs only to plans not approved for the patient."""
WRITTEN_BY_CARE = frozenset({"CareTeam", "CarePlan", "Condition"})
"""The care network, the contract itself and the diagnoses: a patient's token does not write
them (that would make any unit their caregiver); the patient's own goals, messages and answers
to the seven questions it does."""
WRITING_BASES = frozenset({"own", "care-relation", "service", "unrestricted"})
NOBODYS = frozenset({"Patient", "Consent"})
"""Who the patient is and what they consented to or blocked: no unit's information (so that the
region can still read and withdraw consents while :data:`UNSURE` holds)."""
UNSURE = (
    f"More active consents, care teams, plans or Provenances are recorded for this patient than the access policy "
    f"reads ({MOST}), so what the patient's blocks (spärr) cover cannot be told: only what is shown to be your own "
    "unit's information is open to you until the region has reviewed them"
)
UNIT_NAMES_NONE = "it names no patient (a patient's answers have the patient as subject)"
UNJUDGED = (
    "The patient has blocked (spärr) information of some unit, and this resource names whose it is in a form "
    "that cannot be judged (a contained resource, another server's address, an identifier this server's directory "
    "does not hold): it is withheld while the block holds"
)
NAMED = re.compile(r"\b[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(?:/_history/[0-9]+)?")
"""A resource named in words (``CarePlan/1``, ``CarePlan/1/_history/2``)."""
UNNAMED = "[a resource]"
READ_ONLY = "Your access to this patient ({basis}) is for reading; writing needs a care relation"
EMERGENCY_HINT = "emergency access (POST Patient/[id]/$emergency-access with a reason) is possible"


def forbidden(message: str) -> FhirError:
    return FhirError(403, [Issue("error", "forbidden", message)])


@dataclass(frozen=True)
class _ProposedWrite:
    """One write the policy judges: the new content (None for a delete), the version it would
    replace and that version's content, and the patients each is about."""

    resource_type: str
    resource: dict[str, Any] | None
    old: dict[str, Any] | None
    previous: StoredResource | None
    new_patients: frozenset[str]
    old_patients: frozenset[str]


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
    shares: list[Share] | None = None
    """For a consent or a relative's share: what it covers (None: no limit of that kind)."""
    hide_unapproved: bool = False
    emergency_reason: str | None = None
    facts: PatientFacts | None = None
    units: set[str] = field(default_factory=set)
    """The caller's unit and those above it."""
    unsure: bool = False
    """What the patient's blocks cover cannot be told (:attr:`PatientFacts.unsure`): every unit's
    information is kept from all outside it."""


@dataclass(frozen=True)
class Access:
    """A record the caller may see, and on what grounds (for the audit trail)."""

    patients: frozenset[str]
    bases: tuple[str, ...]
    emergency_reasons: tuple[str, ...]
    shown: bytes | None = None
    """The content as this caller sees it, when it is not the stored one (a patient's own log
    entry without the names of what is kept from them)."""
    partial: bool = False
    """The caller sees a view without a blocked unit's parts (rule 7): a read or search shows it,
    but nothing else treats the resource as known to them (fail closed): conditional criteria do
    not match it, a rule's refusal does not name it, a Subscription does not send it."""

    def view(self, record: StoredResource) -> StoredResource:
        return record if self.shown is None else dataclasses.replace(record, content=self.shown)


class AccessPolicy:
    def __init__(self, repository: Reads, kept: KeptFacts) -> None:
        self.repository = repository
        self.kept = kept
        """What is kept between requests (:mod:`fhirbridge.access.kept`); inside a write, what
        the write's own checks read on its connection since it last wrote
        (:func:`fhirbridge.access.guarded.policy_on`)."""

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
    async def restrict(self, identity: Identity, query: SearchQuery) -> SearchQuery:
        """A patient's search never leaves their compartment (all of it, when their records were
        merged: every Patient id of the person)."""
        if identity.unrestricted:
            return query
        if query.resource_type == "Subscription":
            query = owners.only_own(identity, query)
        refusal = search_refusal(query)
        if refusal is not None:
            raise forbidden(refusal)
        if identity.kind != "patient" or identity.patient is None:
            return query
        if "person" not in identity.decisions:
            identity.decisions["person"] = sorted(await person_ids(self.repository, identity.patient))
        own: list[str] = identity.decisions["person"]
        if query.resource_type == "Patient":
            return with_clause(query, "_id", ",".join(own))
        if query.resource_type == "Provenance" and _by_target(query):
            # the compartment's Provenance?patient names only Provenances of the Patient itself; one
            # of a plan or goal is the patient's too (rule 10), and each match is judged on its own
            return query
        if query.resource_type in compartment_types():
            param = compartment_search_parameter(query.resource_type)
            if param is not None:
                return with_clause(query, param, ",".join(f"Patient/{patient_id}" for patient_id in own))
        return query

    # -- reads ---------------------------------------------------------------------------
    async def check_read(
        self,
        identity: Identity,
        record: StoredResource,
        permissions: str = "r",
        *,
        epochs: dict[str, int] | None = None,
    ) -> Access | None:
        """The grounds on which the caller may see ``record``, or None when it is hidden from
        them; a user or system refused for the Patient Data Act gets a 403 that says why.
        ``epochs``: access epochs read in the same statement as ``record``, which this judgement
        checks what it kept against instead of reading them again."""
        known = _READ_EPOCHS.set(epochs)
        try:
            return await self._access(identity, record, permissions)
        except Refused as refusal:
            seen = seen_by(identity)
            if seen is not None:  # the attempt is logged with the patient
                seen.patients |= refusal.patients
            if identity.kind == "patient":
                return None
            raise
        finally:
            _READ_EPOCHS.reset(known)

    async def visible(
        self, identity: Identity, records: list[StoredResource], permissions: str = "rs", *, whole: bool = False
    ) -> list[StoredResource]:
        """The records the caller may see; the rest are left out without a word.  ``whole``:
        those seen only as a view without a blocked unit's parts (:attr:`Access.partial`) are
        left out too (what a conditional match, a rule or a notification may use)."""
        kept = []
        targets = self._targets_to_judge(identity, records)
        named_goals = {str(t.resource_id) for t in targets if t.resource_type == "Goal"}
        # what judging the page asks the database, asked together (three round trips on
        # PostgreSQL): the Goals' plans and the Provenances' targets; the epochs of the patients
        # all of these name; their Patients and consents
        if targets:
            goals, _ = await asyncio.gather(
                self._unapproved_goals(records, named_goals),
                read_targets_ahead(self.repository.database, identity, targets),
            )
        else:  # most search pages: no task made for nothing to read
            goals = await self._unapproved_goals(records, named_goals)
        patients = self._patients_to_stand(identity, records, targets)
        epochs = await self._page_epochs(patients)
        if epochs is not None:
            await self._stand_ahead(patients, epochs)
        ahead = _GOALS_AHEAD.set(goals)
        known = _READ_EPOCHS.set(epochs) if epochs is not None else None
        try:
            for record in records:
                try:
                    access = await self._access(identity, record, permissions)
                except FhirError:
                    continue
                if access is not None and not (whole and access.partial):
                    kept.append(access.view(record))
        finally:
            _GOALS_AHEAD.reset(ahead)
            if known is not None:
                _READ_EPOCHS.reset(known)
        return kept

    def _patients_to_stand(
        self, identity: Identity, records: list[StoredResource], targets: list[ParsedReference]
    ) -> list[str]:
        """The patients a page names whose standing is read ahead for it (:meth:`_stand_ahead`),
        by its versions and by the versions its Provenances name (``targets``, read already):
        for a region's service judging a page (a change feed page names a hundred or more), when
        it names at least two."""
        if not owners.is_service(identity):
            return []
        named: set[str] = set()
        memo = targets_memo(identity)
        versions = [r for r in records if r.resource_type != "Provenance"]
        versions += [stored for t in targets if (stored := memo.get(target_key(t))) is not None]
        for record in versions:
            parsed = self._parsed(identity, record)
            if parsed is not None:
                named |= patients_of(record.resource_type, parsed) or frozenset()
        named.discard(UNKNOWN_PATIENT)
        return sorted(named) if len(named) > 1 else []

    async def _page_epochs(self, patients: list[str]) -> dict[str, int] | None:
        """The access epochs of ``patients``, of those they were merged into as far as kept, and
        of the directory, in one statement; None for no patients."""
        if not patients:
            return None
        scopes = [patient_scope(p) for p in patients]
        survivors = {kept.survivor for p in patients if (kept := self.kept.get(p)) is not None}
        scopes += sorted({patient_scope(s) for s in survivors} - set(scopes))
        async with self.repository.database.reader() as conn:
            values = await read_epochs(conn, [*scopes, DIRECTORY])
        return dict(zip([*scopes, DIRECTORY], values, strict=True))

    async def _stand_ahead(self, patients: list[str], epochs: dict[str, int]) -> None:
        """What :meth:`_standing` and :meth:`_facts` would read about each of a page's
        ``patients``, read for all of them together, after their ``epochs`` (so that nothing
        is kept as read at epochs older than what was read): their Patients (whether merged) in
        one statement, their consents in one search per
        :data:`~fhirbridge.access.facts.CONSENTS_TOGETHER` (:func:`service_facts_of_each`).
        What it finds is kept as the one-by-one reads keep it, and the judgement of the page,
        checking what is kept against ``epochs`` (as a read's judgement checks against the
        epochs read with its record), finds it there; a patient merged into another, or with a
        block, is left to the one-by-one reads."""
        directory = epochs[DIRECTORY]

        def standing(patient_id: str) -> Kept | None:
            """What is kept of the patient as it stands at ``epochs``, unless merged."""
            kept = self.kept.get(patient_id)
            current = kept is not None and kept.epochs == (epochs[patient_scope(patient_id)], directory)
            return kept if current and kept is not None and kept.survivor == patient_id else None

        now = now_us()
        unread = [p for p in patients if (kept := self.kept.get(p)) is None or (kept.survivor == p and not standing(p))]
        lacking = [
            p
            for p in patients
            if (kept := standing(p)) is None or (facts := kept.facts.get(False)) is None or now >= facts.valid_until
        ]
        stored, facts_of = await asyncio.gather(
            self._current_patients(unread), service_facts_of_each(self.repository, SYSTEM, lacking, now)
        )
        for patient_id in unread:
            found = stored.get(("Patient", patient_id))
            patient = loads_inexact(found.content) if found is not None and found.content else None
            if patient is None or replaced_by(patient) in (None, patient_id):
                self.kept.put(patient_id, Kept((epochs[patient_scope(patient_id)], directory), patient_id))
        for patient_id, facts in facts_of.items():
            kept = standing(patient_id)
            if kept is not None:
                kept.facts[False] = facts

    async def _current_patients(self, patient_ids: list[str]) -> dict[tuple[str, str], StoredResource]:
        """The current versions of these Patients, by ("Patient", id), in one statement."""
        if not patient_ids:
            return {}
        async with self.repository.database.reader() as conn:
            return await read_each(conn, [("Patient", p) for p in patient_ids])

    def _targets_to_judge(self, identity: Identity, records: list[StoredResource]) -> list[ParsedReference]:
        """What the Provenances among ``records`` name, when they are to be judged: for a caller
        who is judged, or for the access log's mark (is this Provenance of a plan or goal kept
        from the patient?).  Their versions are read in one go instead of one statement each
        (:func:`fhirbridge.access.targets.read_targets_ahead`)."""
        provenances = [r for r in records if r.resource_type == "Provenance" and r.content is not None]
        if not provenances:
            return []
        marking = identity.kind != "patient" and seen_by(identity) is not None
        if identity.unrestricted and not marking:
            return []
        return [
            parsed
            for record in provenances
            for parsed in local_targets(self._parsed(identity, record) or {}, _local)
            if not identity.unrestricted or parsed.resource_type in ("CarePlan", "Goal")
        ]

    async def _unapproved_goals(
        self, records: list[StoredResource], named: set[str] | frozenset[str] = frozenset()
    ) -> dict[str, bool] | None:
        """:meth:`_unapproved_goal` of every Goal among ``records`` (a page of a history or a
        search) and of the Goals ``named`` by its Provenances (by id), read in one statement
        instead of one for each; None for fewer than two."""
        on_page = {r.resource_id for r in records if r.resource_type == "Goal" and r.content is not None}
        goal_ids = sorted(on_page | named)
        if len(goal_ids) < 2:
            return None
        async with self.repository.database.reader() as conn:
            plans = await live_referrers_of_each(conn, "CarePlan", "goal", "Goal", goal_ids, limit=MOST_PLANS)
        return {
            f"Goal/{goal_id}": bool(held) and all(_labelled_not_for_patient(plan) for plan in held)
            for goal_id in goal_ids
            for held in [plans.get(goal_id, [])]
        }

    async def _access(self, identity: Identity, record: StoredResource, permissions: str) -> Access | None:
        # Parsed once for the judgement and the access log's mark (the unrestricted need neither),
        # with numbers as floats: the judgement reads references, codes and labels, and a view
        # served to the caller is made from the exact content (_without_blocked_units).
        resource: dict[str, Any] | None = None
        if identity.unrestricted:
            access: Access | None = Access(frozenset(), (), ())
        elif permissions and not any(
            self._scoped(identity, record.resource_type, p)  # type: ignore[arg-type]
            for p in permissions
        ):
            return None
        else:
            access, resource = await self._judged(identity, record)
        seen = seen_by(identity)
        if access is not None and seen is not None:
            reference = f"{record.resource_type}/{record.resource_id}/_history/{record.version}"
            private = identity.kind != "patient" and await self._kept_from_patient(identity, record, resource=resource)
            seen.note(reference, access.patients, access.emergency_reasons, not_for_patient=private)
        return access

    async def _kept_from_patient(
        self, identity: Identity, record: StoredResource, depth: int = 0, *, resource: dict[str, Any] | None = None
    ) -> bool:
        """Whether the patient may not see a version (so that their own access log does not
        name it): labelled not for the patient, a Goal only such plans hold, or a Provenance of
        either.  ``resource``: the record's content, when parsed already."""
        if record.content is None:
            return False
        # An unrestricted caller's version is parsed only when its bytes may hold the label.
        if not_for_patient(resource) if resource is not None else _labelled(record.content):
            return True
        if record.resource_type == "Goal":
            return await self._unapproved_goal(f"Goal/{record.resource_id}")
        if record.resource_type == "Provenance" and depth == 0:
            if resource is None:
                resource = self._parsed(identity, record) or {}
            for target in resource.get("target", []):
                parsed = _local(target)
                if parsed is None or parsed.resource_type not in ("CarePlan", "Goal"):
                    continue
                stored = await self._target_version(identity, parsed)
                if stored is not None and await self._kept_from_patient(identity, stored, depth + 1):
                    return True
        return False

    async def _judge(
        self, identity: Identity, record: StoredResource, permissions: str, resource: dict[str, Any] | None = None
    ) -> Access | None:
        """The grounds on which the caller may see ``record`` (``resource``: its content, when
        parsed already), or None."""
        if identity.unrestricted:
            return Access(frozenset(), (), ())
        resource_type = record.resource_type
        if permissions and not any(self._scoped(identity, resource_type, p) for p in permissions):  # type: ignore[arg-type]
            return None
        if record.content is None:  # a deletion in a history: shown only where no patient or owner is involved
            hidden = resource_type in compartment_types() or resource_type == "Subscription"
            return None if hidden else Access(frozenset(), (), ())
        if resource is None:  # judged, never shown: a view is made from the exact content
            resource = loads_inexact(record.content)
        if resource_type == "Subscription" and not owners.holds(identity, resource):
            return None
        if resource_type in READ_BY_SERVICES and not (identity.kind == "system" and identity.on_behalf_of is None):
            return None
        if resource_type == "AuditEvent" and not self._sees_audit(identity, resource):
            return None
        if resource_type == "Provenance" and not await self._sees_all(identity, resource.get("target", [])):
            return None
        units = owning_units(resource_type, resource)
        if units is not None and not await may_reach_units(self.repository, identity, units):
            return None  # a unit's record, whatever patient it may name (tenth review)
        patients = await self._patients(identity, resource_type, resource)
        if not patients:
            if resource_type == "AuditEvent" and identity.kind == "patient":
                return None  # a patient reads the log of their own data, not others' lookups
            return Access(frozenset(), (), ())
        access = await self._patient_access(identity, record, resource, patients)
        if resource_type == "AuditEvent" and identity.kind == "patient":
            return dataclasses.replace(access, shown=await self._patients_view(identity, loads(record.content)))
        if resource_type in ("CarePlan", "CareTeam"):
            shown = await self._without_blocked_units(identity, resource, patients, exact=record.content)
            return dataclasses.replace(access, shown=shown, partial=shown is not None)
        return access

    async def _without_blocked_units(
        self, identity: Identity, resource: dict[str, Any], patients: frozenset[str], *, exact: bytes | None = None
    ) -> bytes | None:
        """A plan or care team as a caller outside a blocked unit reads it: without what names
        that unit (that it worked on the patient's plan, or is on their care team, is its
        information too).  The whole resource is walked, contained resources and extensions
        included, and every Reference that names the unit's people or units, or a resource that
        is its information (a care team, a goal, a plan, an appointment), is taken out, with what
        holds it only for it: an extension, a care team's participant, a contained resource (and
        the references to it).  While what blocks cover cannot be told (``unsure``), every unit
        but the caller's own counts as blocked here.  ``exact``: the stored content ``resource``
        was read from without exact decimals, read again exactly when a view is to be made."""
        decisions = []
        for patient_id in sorted(patients):
            decision = await self.decide(identity, patient_id)
            if (decision.blocked or decision.unsure) and decision.facts is not None:
                decisions.append(decision)
        if not decisions:
            return None
        if exact is not None:
            resource = loads(exact)
        judged: dict[str, bool] = {}
        gone: set[str] = set()  # contained resources taken out, as "#id"

        async def hidden(text: str) -> bool:
            if text.startswith("#"):
                return text in gone
            if text not in judged:
                judged[text] = any([await self._names_blocked(identity, decision, text) for decision in decisions])
            return judged[text]

        entries: dict[str, bool] = {}
        keys = _logical_keys(resource)
        overflow = len(keys) > MOST_IDENTIFIERS
        if not overflow and keys:
            found = await self._directory_entries(keys)
            for key in sorted(keys):
                matched = found.get(key)
                unsure = not matched or len(matched) > MOST_ENTRIES
                entries[key] = unsure or any([await hidden(entry) for entry in sorted(matched or ())])

        async def unknown(identifier: Any) -> bool:
            """Whether a logical Reference's identifier (an HSA-id, the usual way a Swedish
            integration names a unit or person) is to be taken out: unless it resolves to
            directory entries none of which is of a blocked unit, it is (fail closed).  More
            than :data:`MOST_IDENTIFIERS` distinct identifiers in one resource are not judged:
            every one is taken out (fail closed, and a bound on the lookups of one view)."""
            key = _judgeable_key(identifier)
            if overflow or key is None:
                return True
            return entries.get(key, True)

        async def names(element: Any) -> bool:
            """Whether a Reference anywhere in ``element`` is to be taken out; a contained
            directory resource goes unless every identifier it carries resolves to an entry
            not of a blocked unit (it names its unit by carrying the unit's HSA-id)."""
            for kind, target in sorted(named_targets(element)):
                if await hidden(f"{kind}/{target}"):
                    return True
            if isinstance(element, dict) and element.get("resourceType") in DIRECTORY_TYPES:
                identifiers = element.get("identifier")
                if not isinstance(identifiers, list) or not identifiers:
                    return True
                return any([await unknown(identifier) for identifier in identifiers])
            return False

        shown = dict(resource)
        contained = resource.get("contained")
        if isinstance(contained, list):
            kept = []
            for item in contained:
                if not isinstance(item, dict) or await names(item):
                    gone.add(f"#{item.get('id')}" if isinstance(item, dict) else "#")
                else:
                    kept.append(item)
            shown["contained"] = kept
            if contained and not kept:
                del shown["contained"]
        shown = await _filtered(shown, hidden, unknown)
        return None if shown == resource else dumps(shown)

    async def _directory_entries(self, keys: set[str]) -> dict[str, set[str]]:
        """The directory entries (``Type/id``) that carry each identifier (``system|value``), in
        one search per directory type for all of them; an identifier left out when a search is
        cut (then it cannot be judged, and is taken out)."""
        found: dict[str, set[str]] = {}
        cut = False
        limit = MOST_ENTRIES * len(keys) + 1
        for kind in DIRECTORY_TYPES:
            matches, _ = await search_contents(
                self.repository, SYSTEM, kind, [("identifier", ",".join(sorted(keys)))], None, limit
            )
            cut = cut or len(matches) >= limit
            for match in matches:
                carried = match.get("identifier")
                for identifier in carried if isinstance(carried, list) else []:
                    key = _judgeable_key(identifier)
                    if key in keys:
                        found.setdefault(key, set()).add(f"{kind}/{match.get('id')}")
        return {} if cut else found

    async def _names_blocked(self, identity: Identity, decision: PatientDecision, text: str) -> bool:
        """Whether a reference in a plan names what a block keeps from the caller: a person or
        unit of a blocked unit, or a resource (a care team, a goal, an appointment) that is the
        unit's information."""
        facts = decision.facts
        parsed = _local({"reference": text})
        if facts is None or parsed is None:
            return False
        reference = f"{parsed.resource_type}/{parsed.resource_id}"
        if parsed.resource_type in ("Practitioner", "PractitionerRole", "Organization"):
            await resolve(self.repository, SYSTEM, [reference], facts.resolved)
            behind = facts.units_behind(reference)
            return bool(behind & decision.blocked or (decision.unsure and behind - decision.units))
        if parsed.resource_type in ("Patient", "RelatedPerson"):
            return False
        stored = await self._target_version(identity, parse_reference(reference) or parsed)
        content = loads(stored.content) if stored is not None and stored.content is not None else None
        if content is None:
            return False
        return await self._block_refusal(decision, reference, content) is not None

    async def _patients_view(self, identity: Identity, event: dict[str, Any]) -> bytes | None:
        """A log entry as the patient reads it: without the entities they may not see (a plan not
        approved for them, its goals and their history), whenever those became hidden, and with
        what it says of the outcome (a refusal's reason) not naming them either."""
        entities = [e for e in event.get("entity", []) if isinstance(e, dict)]
        kept = [e for e in entities if await self._sees_all(identity, [e.get("what")], histories=True)]
        description = event.get("outcomeDesc")
        told = await self._unnamed(identity, description) if isinstance(description, str) else description
        if len(kept) == len(entities) and told == description:
            return None
        shown = {**event, "entity": kept} if kept else {k: v for k, v in event.items() if k != "entity"}
        if told != description:
            shown["outcomeDesc"] = told
        return dumps(shown)

    async def _unnamed(self, identity: Identity, text: str) -> str:
        """``text`` (a logged refusal's words) with every resource it names that the patient may
        not see replaced by :data:`UNNAMED`."""
        parts, end = [], 0
        for match in NAMED.finditer(text):
            named = match.group(0)
            # an id may end in a dot, and so may a sentence: whichever it is, it must not be told
            candidates = {named, named.rstrip(".")} - {""}
            if any([not await self._may_be_named(identity, candidate) for candidate in candidates]):
                parts += [text[end : match.start()], UNNAMED]
                end = match.end()
        return "".join([*parts, text[end:]])

    async def _may_be_named(self, identity: Identity, text: str) -> bool:
        """Whether a patient's log may name a resource: one that does not exist, or one they may see."""
        parsed = _local({"reference": text})
        if parsed is None or parsed.resource_type not in STORED_TYPES or parsed.resource_type == "AuditEvent":
            return True
        stored = await self._target_version(identity, parsed)
        if stored is None:
            return True
        try:
            return await self._judge(identity, stored, "") is not None
        except FhirError:
            return False

    async def knows(self, identity: Identity, record: StoredResource) -> bool:
        """Whether the resource exists for the caller, whatever their scopes: a patient's token
        may not refer to another patient's resources (it would tell that they exist)."""
        try:
            return await self._judge(identity, record, "") is not None
        except FhirError:
            return False

    async def exists_for(self, identity: Identity, record: StoredResource) -> bool:
        """Whether a live resource exists for the caller as a read of it answers (R4
        http.html#read), whatever their scopes: not when the read is 404 (another patient's for
        a patient, another service's Subscription, a cohort, a unit's record out of reach), but
        when it is shown or refused with a 403 that says why (the Patient Data Act)."""
        try:
            return await self._judge(identity, record, "") is not None
        except FhirError as refusal:
            return identity.kind != "patient" and refusal.status != 404

    async def _sees_all(self, identity: Identity, references: list[Any], *, histories: bool = False) -> bool:
        """Whether the caller may see every version a record names: a Provenance (the history of
        those versions) or an access-log entry (who read them) tells of each, so a plan not
        approved for the patient, or a blocked unit's plan, keeps its records out of view too.
        ``histories``: Provenances named are judged too (a log entry naming one)."""
        for reference in references:
            parsed = _local(reference)
            skipped = ("AuditEvent", "Patient") if histories else ("Provenance", "AuditEvent", "Patient")
            if parsed is None or parsed.resource_type in skipped:
                continue
            stored = await self._target_version(identity, parsed)
            if stored is not None and not await self._sees_target(identity, stored):
                return False
        return True

    async def _sees_target(self, identity: Identity, stored: StoredResource) -> bool:
        """Whether the caller may see a version a Provenance or log entry names."""
        try:
            access, _ = await self._judged(identity, stored)
        except Refused:
            return False
        return access is not None

    async def _judged(self, identity: Identity, record: StoredResource) -> tuple[Access | None, dict[str, Any] | None]:
        """:meth:`_judge` of a version without its scopes, once per request however often it
        comes (:func:`fhirbridge.access.targets.judged_memo`): a plan on a feed page and the
        Provenance naming it there, or a plan named by a hundred Provenances.  Returns the
        content it was judged from, when parsed for it.  A refusal comes again, as a new one."""
        memo = judged_memo(identity, self.kept)
        key = version_key(record)
        resource: dict[str, Any] | None = None
        held = memo.get(key, _UNJUDGED)
        if held is _UNJUDGED:
            resource = self._parsed(identity, record)  # parsed already when read ahead for the page
            try:
                held = await self._judge(identity, record, "", resource)
            except Refused as refusal:
                held = refusal
            memo[key] = held
        if isinstance(held, Refused):
            raise Refused(held.issues[0].diagnostics, held.patients)
        return cast("Access | None", held), resource

    def _sees_audit(self, identity: Identity, event: dict[str, Any]) -> bool:
        """The region's services read the whole log; a system acting for a unit, the unit's own
        entries; a user, their own; a patient, the entries about them (checked as their data)."""
        agents = {(a.get("who") or {}).get("reference") for a in event.get("agent", []) if isinstance(a, dict)}
        if identity.kind == "system":
            return identity.on_behalf_of is None or identity.on_behalf_of in agents
        if identity.kind == "user":
            return identity.subject in agents
        return not identity.is_relative

    async def _patients(self, identity: Identity, resource_type: str, resource: dict[str, Any]) -> frozenset[str]:
        found = set(patients_of(resource_type, resource) or ())
        if resource_type != "Provenance":
            return frozenset(found)
        for target in resource.get("target", []):
            parsed = _local(target)
            if parsed is not None:
                stored = await self._target_version(identity, parsed)
                content = self._parsed(identity, stored) if stored is not None else None
                if content is None:
                    found.add(UNKNOWN_PATIENT)  # whose it was cannot be told: hidden from all but services
                else:
                    found |= patients_of(str(parsed.resource_type), content) or frozenset()
            elif not (isinstance(target, dict) and str(target.get("reference", "")).startswith("#")):
                found.add(UNKNOWN_PATIENT)  # what it is the history of cannot be told
        return frozenset(found)

    async def _unapproved_now(self, identity: Identity, record: StoredResource) -> bool:
        """Whether a resource is labelled not for the patient as it is now (its last content, when
        it was deleted): a plan labelled so later hides every earlier version too, as a block
        does, and with them their Provenances and the log entries naming them."""
        parsed = parse_reference(f"{record.resource_type}/{record.resource_id}")
        if parsed is None:
            return False
        current = await self._target_version(identity, parsed)
        if current is None or current.content is None:
            return False
        if current.version == record.version and record.content is not None:
            return _labelled(record.content)
        return _labelled(current.content)

    @staticmethod
    def _parsed(identity: Identity, record: StoredResource) -> dict[str, Any] | None:
        """A version's content as the judgements read it (numbers as floats), parsed once per
        request however many Provenances on a page name it."""
        if record.content is None:
            return None
        memo: dict[tuple[str, str, int, int], dict[str, Any]] = identity.decisions.setdefault("parsed", {})
        key = (record.resource_type, record.resource_id, record.version, record.last_updated)
        if key not in memo:
            memo[key] = loads_inexact(record.content)
        return memo[key]

    async def _target_version(self, identity: Identity, parsed: ParsedReference) -> StoredResource | None:
        """The version a Provenance target names (the current one when it names none; the last
        content of a deleted resource), read once per request however many Provenances name it
        (a page's are read ahead together: :meth:`_targets_to_judge`)."""
        memo = targets_memo(identity)
        key = target_key(parsed)
        if key not in memo:
            resource_type, resource_id = str(parsed.resource_type), str(parsed.resource_id)
            version = named_version(parsed)
            if version is not None:
                stored = await self.repository.vread(SYSTEM, resource_type, resource_id, version)
            else:
                stored = await self.repository.read(SYSTEM, resource_type, resource_id)
                if stored is not None and stored.content is None and stored.version > 1:
                    stored = await self.repository.vread(SYSTEM, resource_type, resource_id, stored.version - 1)
            memo[key] = stored
        return memo[key]

    async def _patient_access(
        self, identity: Identity, record: StoredResource, resource: dict[str, Any], patients: frozenset[str]
    ) -> Access:
        bases, reasons = [], []
        reference = f"{record.resource_type}/{record.resource_id}"
        labelled: bool | None = None
        for patient_id in sorted(patients):
            decision = await self.decide(identity, patient_id)
            if decision.allowed and decision.hide_unapproved and labelled is None:
                labelled = await self._unapproved_now(identity, record)
            refusal = (
                decision.basis
                if not decision.allowed
                else await self._withheld(decision, reference, resource, labelled=bool(labelled))
            )
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
        standing = await self._standing(patient_id)
        patient_id = standing.survivor  # merged records are one person
        if identity.kind == "patient":
            own = (await self._standing(identity.patient)).survivor if identity.patient else None
            if own != patient_id:
                return PatientDecision(False, "A patient's token reaches only that patient's data")
            if not identity.is_relative:
                return PatientDecision(True, "own", hide_unapproved=True)
            facts = await self._facts(standing, care=False)
            if identity.subject in facts.consented:
                shares = facts.shares.get(str(identity.subject), [])
                blocked = set(facts.blocked)  # a relative is outside every unit: every block holds
                return PatientDecision(
                    True,
                    "shared",
                    blocked=blocked,
                    hide_unapproved=True,
                    facts=facts,
                    shares=shares,
                    unsure=facts.unsure,
                )
            return PatientDecision(False, "The patient has not shared their plans with you")
        if identity.kind not in ("user", "system"):
            return PatientDecision(False, "An authenticated caller is needed")
        service = identity.kind == "system" and identity.on_behalf_of is None
        facts = await self._facts(standing, care=not service)
        units = await self._caller_units(identity, standing.epochs[-1])
        blocked = {unit for unit in facts.blocked if unit not in units}
        decision = PatientDecision(False, "", blocked=blocked, facts=facts, units=units, unsure=facts.unsure)
        if service:
            decision.allowed, decision.basis = True, "service"
        elif units & facts.care_units or (identity.kind == "user" and identity.subject in facts.members):
            decision.allowed, decision.basis = True, "care-relation"
        elif units & facts.consented:
            decision.allowed, decision.basis = True, "consent"
            decision.shares = [
                share for unit in sorted(units & facts.consented) for share in facts.shares.get(unit, [])
            ]
        elif identity.kind == "user":  # emergency access is a person's, opened by them
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
        if not decision.allowed:
            decision.basis = (
                "You have no care relation with this patient and no consent from the patient for your "
                f"unit; {EMERGENCY_HINT}"
            )
        return decision

    async def _caller_units(self, identity: Identity, directory_epoch: int) -> set[str]:
        """The caller's unit and every unit above it, as the directory stands at
        ``directory_epoch`` (read by this policy's connection: a write's own): kept for the
        request only while that epoch is the one they were read at (review 18: a write must
        not take them from a read made before its transaction)."""
        remembered = identity.decisions.get("units")
        if not (isinstance(remembered, tuple) and remembered[0] == directory_epoch):
            unit = identity.on_behalf_of
            known = self.kept.units.get(unit) if unit is not None else None
            if known is not None and known[0] == directory_epoch:
                found = set(known[1])
            else:
                found = await caller_units(self.repository, SYSTEM, unit)
                if unit is not None:
                    self.kept.units[unit] = (directory_epoch, frozenset(found))
            remembered = identity.decisions["units"] = (directory_epoch, found)
        units: set[str] = remembered[1]
        return units

    async def _standing(self, patient_id: str) -> Kept:
        """Who the patient is now, with what is kept about them while their epochs stand."""
        scopes = [patient_scope(patient_id), DIRECTORY]
        kept = self.kept.get(patient_id)
        if kept is not None and kept.survivor != patient_id:
            scopes.insert(1, patient_scope(kept.survivor))
        known = _READ_EPOCHS.get()
        if known is not None and all(scope in known for scope in scopes):
            epochs = tuple(known[scope] for scope in scopes)
        else:
            async with self.repository.database.reader() as conn:
                epochs = await read_epochs(conn, scopes)
        if kept is not None and kept.epochs == epochs:
            return kept
        survivor = await surviving_patient(self.repository, patient_id)
        if survivor != patient_id and len(scopes) == 2:
            async with self.repository.database.reader() as conn:
                epochs = await read_epochs(conn, [scopes[0], patient_scope(survivor), DIRECTORY])
        kept = Kept(epochs, survivor)
        self.kept.put(patient_id, kept)
        return kept

    async def _facts(self, standing: Kept, *, care: bool) -> PatientFacts:
        """What the policy reads about the (surviving) patient, kept while it holds."""
        now = now_us()
        facts = standing.facts.get(care)
        if facts is None or now >= facts.valid_until:
            directory = self.kept.directory(standing.epochs[-1])
            facts = await load_facts(self.repository, SYSTEM, standing.survivor, now, directory=directory, care=care)
            standing.facts[care] = facts
        return facts

    # -- writes --------------------------------------------------------------------------
    async def prepare(self, identity: Identity, about: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Read ahead, before a write's transaction, what its checks will ask about the patients
        its resources name.  Kept, it is borrowed by the checks while the epochs they read on
        the write's own connection are the ones it was read at
        (:func:`fhirbridge.access.guarded.policy_on`), so the write's transaction (on SQLite, the
        one writer every write waits for) does not read it.  Decides nothing for the request."""
        if identity.unrestricted:
            return
        named = sorted(
            {p for kind, resource in about for p in patients_of(kind, resource) or () if p != UNKNOWN_PATIENT}
        )
        # A copy of the caller with nothing decided: what the read-ahead finds is not the
        # request's (the write's checks judge the caller's units and standing on their own
        # connection), and at most a few patients are read (a body naming thousands must not
        # make a refused write cost thousands of reads, nor fill what is kept; review 18).
        ahead = dataclasses.replace(identity, decisions={})
        for patient_id in named[:MOST_READ_AHEAD]:
            with contextlib.suppress(FhirError):
                await self._decide(ahead, patient_id)

    async def may_write_for(self, identity: Identity, patient_id: str) -> bool:
        """Whether the caller may write about the patient at all (a reference by identifier
        resolves only to such a Patient)."""
        return _writes(await self._decide(identity, patient_id))

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
            creates_by_put = permission == "u" and resource is not None and (previous is None or previous.deleted)
            if resource_type == "Subscription" and creates_by_put and identity is not SYSTEM:
                # updateCreate false in development mode too (a restricted caller is answered
                # below, in the order that tells nothing of others' ids; a load or a restore,
                # written by the server itself, keeps its ids)
                raise method_not_allowed(owners.NOT_BY_PUT)
            return
        self.require_scope(identity, resource_type, permission)
        service = identity.kind == "system" and identity.on_behalf_of is None
        if resource_type in WRITTEN_BY_SYSTEMS and not service:
            raise forbidden(f"Only the region's own systems (no care unit) may change {resource_type} resources")
        old = await self._last_content(previous)
        if resource_type == "Subscription":
            # who may write Subscriptions at all first, then (so that no answer tells whether
            # another client's id exists) no PUT creates one, then whose it is
            if (refusal := owners.write_refusal(identity, None)) is not None:
                raise forbidden(refusal)
            if permission == "u" and resource is not None and (why := owners.update_refusal(identity, previous, old)):
                raise method_not_allowed(why)
            if (refusal := owners.write_refusal(identity, old)) is not None:
                raise forbidden(refusal)
        new_patients = await self._patients(identity, resource_type, resource) if resource is not None else frozenset()
        old_patients = await self._patients(identity, resource_type, old) if old is not None else frozenset()
        try:
            await self._judge_write(
                identity, _ProposedWrite(resource_type, resource, old, previous, new_patients, old_patients)
            )
        except FhirError:
            seen = seen_by(identity)
            if seen is not None:  # the attempt is logged with the patients it was about, as a refused read is
                seen.patients |= new_patients | old_patients
            raise

    async def _judge_write(self, identity: Identity, write: _ProposedWrite) -> None:
        """The rules of a write about its patients (:meth:`check_write`), raising its refusal."""
        resource_type, resource, old, previous = write.resource_type, write.resource, write.old, write.previous
        new_patients, old_patients = write.new_patients, write.old_patients
        service = identity.kind == "system" and identity.on_behalf_of is None
        if resource is not None and not new_patients and resource_type in compartment_types():
            if identity.kind == "patient":
                raise forbidden(
                    f"A patient's token writes only resources about the patient; this {resource_type} names none"
                )
            if old_patients and not service:  # it would leave every compartment, and be seen by all
                raise forbidden(f"This {resource_type} is about a patient; an update may not take every patient away")
        if (
            resource_type == "Consent"
            and old is not None
            and not (service or _own(identity, old_patients) or await self._moved_by_merge(old, resource))
        ):
            raise forbidden(
                "A consent or a block (spärr) is changed or withdrawn only by the patient, or by the region"
            )
        merging = identity.operation == "merge" and identity.kind != "patient"
        changes_person = resource is not None and _identity_of(resource) != _identity_of(old or {})
        if resource_type == "Patient" and changes_person and not (service or merging):
            raise forbidden(
                "A Patient's identifiers and links (who the person is) are set by the region's population "
                "register integration, or moved by Patient/$merge"
            )
        await self._check_unit_owned(identity, write)
        if resource_type in WRITTEN_BY_CARE and identity.kind == "patient":
            raise forbidden(
                f"A {resource_type} is written by the care team; a patient proposes changes to it "
                "(a Communication to the fixed care contact)"
            )
        if resource_type == "Communication" and identity.kind == "patient":
            _check_patients_message(identity, resource, old)
        for patient_id in sorted(new_patients | old_patients):
            decision = await self._decide(identity, patient_id)  # afresh: the transaction may have changed it
            if not _writes(decision) and not _proposes(decision, resource, old):
                raise forbidden(decision.basis if not decision.allowed else READ_ONLY.format(basis=decision.basis))
            if old is not None and previous is not None:  # what the caller may not see, they may not change
                reference = f"{resource_type}/{previous.resource_id}"
                refusal = await self._withheld(decision, reference, old)
                if refusal is not None and identity.kind == "patient":
                    # what a read keeps from a patient or relative does not exist for them: the
                    # reason (a plan not approved for them) is not told either
                    raise forbidden(f"You may not write {reference}")
                if refusal is not None:
                    raise forbidden(refusal)
        # every update of a filtered view is refused alike, whatever the new content: judging the
        # content against the hidden parts would let the caller guess them (an oracle)
        if (
            resource is not None
            and old is not None
            and resource_type in ("CarePlan", "CareTeam")
            and await self._without_blocked_units(identity, old, old_patients) is not None
        ):
            raise conflict(HIDDEN_PARTS)

    async def _check_unit_owned(self, identity: Identity, write: _ProposedWrite) -> None:
        """A unit's record (rule 11) is written only by that unit, one above it or a service,
        names no patient, and one the caller may not read does not exist for them (404, as a
        read answers: tenth review)."""
        resource_type, resource, old, previous = write.resource_type, write.resource, write.old, write.previous
        unplaced = unplaced_units(resource_type, resource) if resource is not None else []
        if unplaced:
            raise invalid(
                [
                    error(
                        "invalid", "answered-for-unit names a unit on this server (Organization/[id] or its HSA-id)", at
                    )
                    for at in unplaced
                ],
                status=422,
            )
        if old is not None and previous is not None:
            units = owning_units(resource_type, old)
            if units is not None and not await may_reach_units(self.repository, identity, units):
                raise not_found(f"{resource_type}/{previous.resource_id} does not exist")
        units = owning_units(resource_type, resource) if resource is not None else None
        if units is None:
            return
        if write.new_patients:
            raise invalid(
                [
                    error(
                        "invalid",
                        f"A {resource_type} without a patient as subject is a unit's record: {UNIT_NAMES_NONE}",
                        resource_type,
                    )
                ],
                status=422,
            )
        if not await may_reach_units(self.repository, identity, units):
            raise forbidden(f"This {resource_type} is about a unit's care: only that unit (or one above it) writes it")

    async def _moved_by_merge(self, old: dict[str, Any], new: dict[str, Any] | None) -> bool:
        """Whether a change only moves a resource from a Patient to the one that replaced it (a
        merge), changing nothing else: a consent or block goes with its person, and stays as it was."""
        if new is None:
            return False
        before, after = _local(old.get("patient")), _local(new.get("patient"))
        if before is None or after is None or before.resource_type != "Patient" or after.resource_type != "Patient":
            return False
        if {**old, "patient": None, "meta": None} != {**new, "patient": None, "meta": None, "id": old.get("id")}:
            return False
        return await surviving_patient(self.repository, str(before.resource_id)) == after.resource_id

    async def _withheld(
        self, decision: PatientDecision, reference: str, resource: dict[str, Any], *, labelled: bool = False
    ) -> str | None:
        """Why a resource of a patient the caller may otherwise reach is kept from them: a block of
        its unit's information, or a plan not approved for the patient (``labelled``: its last
        content is labelled so, whatever the version at hand says); None when it is not."""
        refusal = await self._block_refusal(decision, reference, resource)
        if refusal is not None:
            return refusal
        kind = str(resource.get("resourceType"))
        if decision.shares is not None and not shared(decision.shares, kind, reference):
            return f"The patient has not shared {kind} resources with you"
        if resource.get("resourceType") == "Consent" and decision.basis not in ("own", "service") and blocks(resource):
            return "A block (spärr) is the patient's: it is not shown to those it keeps information from"
        if decision.hide_unapproved and (labelled or not_for_patient(resource)):
            return "This is not approved for the patient"
        if (
            decision.hide_unapproved
            and resource.get("resourceType") == "Goal"
            and await self._unapproved_goal(reference)
        ):
            return "This goal belongs to a plan not approved for the patient"
        return None

    async def _block_refusal(self, decision: PatientDecision, reference: str, resource: dict[str, Any]) -> str | None:
        """Why a block keeps a resource from the caller: it is a blocked unit's information, or
        what blocks cover cannot be told (:attr:`PatientFacts.unsure`, or more Provenances than
        are read name nobody's) and it is not shown to be the caller's own unit's."""
        facts = decision.facts
        if facts is None or not (decision.blocked or decision.unsure):
            return None
        if owners_unjudged(resource) and resource.get("resourceType") not in NOBODYS:
            return UNJUDGED
        await resolve(self.repository, SYSTEM, owning_references(resource), facts.resolved)
        owners = facts.owners_of(reference, resource)
        complete = True
        if not owners:  # nobody's by its content: whoever wrote it (a Goal outside any plan)
            writers, complete = await self._writers(reference)
            await resolve(self.repository, SYSTEM, writers, facts.resolved)
            owners = set().union(*(facts.units_behind(writer) for writer in writers))
        if owners & decision.blocked:
            return f"The patient has blocked (spärr) this information from {reference}'s unit"
        if not complete:
            return UNSURE
        kind = resource.get("resourceType")
        if decision.unsure and kind not in NOBODYS and (not owners or owners - decision.units):
            return UNSURE
        return None

    async def _writers(self, reference: str) -> tuple[list[str], bool]:
        """Who wrote a resource (any version), by its Provenances' agents: what a blocked unit
        wrote is its information wherever it stands (a Goal outside any plan, or left by a
        deleted plan); and whether every Provenance was read (at most :data:`MOST_PLANS`)."""
        if reference.split("/", 1)[0] in ("Provenance", "AuditEvent", "Patient"):
            return [], True
        provenances, _ = await search_contents(
            self.repository, SYSTEM, "Provenance", [("target", reference)], None, MOST_PLANS + 1
        )
        return [unit for provenance in provenances for unit in owning_references(provenance)], len(
            provenances
        ) <= MOST_PLANS

    async def _unapproved_goal(self, reference: str) -> bool:
        """Whether a Goal belongs only to plans not approved for the patient: the live plans
        whose ``goal`` names it, found through their index rows (a point read, asked for every
        Goal a user reads, so not through the search machinery)."""
        ahead = _GOALS_AHEAD.get()
        if ahead is not None and reference in ahead:
            return ahead[reference]
        goal_type, _, goal_id = reference.partition("/")
        async with self.repository.database.reader() as conn:
            plans = await live_referrers_by_param(conn, "CarePlan", "goal", goal_type, goal_id, limit=MOST_PLANS)
        return bool(plans) and all(_labelled_not_for_patient(plan) for plan in plans)

    async def _last_content(self, previous: StoredResource | None) -> dict[str, Any] | None:
        """The content a write replaces: the current version's, or, for a deleted resource, the
        last one it had (its id is not free for another patient's data)."""
        if previous is None:
            return None
        if previous.content is not None:
            return dict(loads(previous.content))
        if previous.version > 1:
            last = await self.repository.vread(
                SYSTEM, previous.resource_type, previous.resource_id, previous.version - 1
            )
            if last is not None and last.content is not None:
                return dict(loads(last.content))
        return None


_UNJUDGED = object()
"""Not in :meth:`AccessPolicy._judged`'s memo yet."""
_READ_EPOCHS: ContextVar[dict[str, int] | None] = ContextVar("read_epochs", default=None)
"""While a read is judged: the access epochs read with its record (:meth:`AccessPolicy.check_read`)."""
_GOALS_AHEAD: ContextVar[dict[str, bool] | None] = ContextVar("goals_ahead", default=None)
"""While a page is judged (:meth:`AccessPolicy.visible`): :meth:`AccessPolicy._unapproved_goal`
of its Goals, read ahead in one statement."""
_LABELS: dict[tuple[str, str, int, int], bool] = {}
"""Whether a stored version is labelled not for the patient, by type, id, version and time:
a version never changes, and a rolled-back one written again has another time.  (R4's
``$meta-add``/``$meta-delete`` change a version's labels in place; here they write a new
version, :mod:`fhirbridge.rest.operations.meta_change`, so this key stays right.)"""
MOST_LABELS = 65_536


def _labelled(content: bytes) -> bool:
    """:func:`not_for_patient` of stored content, parsed only when its bytes may hold the label."""
    return may_be_not_for_patient(content) and not_for_patient(loads_inexact(content))


def _labelled_not_for_patient(record: StoredResource) -> bool:
    """:func:`not_for_patient` of a stored version, parsed once (a plan is asked about for each
    of its goals that a user reads)."""
    key = (record.resource_type, record.resource_id, record.version, record.last_updated)
    found = _LABELS.get(key)
    if found is None:
        found = record.content is not None and _labelled(record.content)
        if len(_LABELS) >= MOST_LABELS:
            _LABELS.clear()
        _LABELS[key] = found
    return found


MOST_READ_AHEAD = 2
"""Patients a write's read-ahead reads about (a write is about one; a move between two)."""
DIRECTORY_TYPES = ("Organization", "PractitionerRole", "Practitioner")
"""The directory's resource types: what names a unit or its people."""
MOST_ENTRIES = 20
"""Directory entries read for one identifier (an HSA-id names one); more than that cannot be
judged, and the identifier is taken out (fail closed)."""
MOST_IDENTIFIERS = 20
"""Distinct identifiers (logical references and contained directory resources) judged in one
plan or care team view; beyond that every one of them is taken out (fail closed), so that a
resource of thousands of HSA-ids cannot make each read run thousands of directory lookups."""
UNSAFE_IN_TOKEN = re.compile(r"[,|\\$]")
"""What a search token's value would read as syntax: an identifier holding it is not looked up
(it is taken out)."""


def _judgeable_key(identifier: Any) -> str | None:
    """``system|value`` of a well-formed identifier to look up in the directory; None otherwise."""
    if not isinstance(identifier, dict):
        return None
    system, value = identifier.get("system"), identifier.get("value")
    if not isinstance(system, str) or not isinstance(value, str) or not system or not value:
        return None
    if UNSAFE_IN_TOKEN.search(system) or UNSAFE_IN_TOKEN.search(value):
        return None
    return f"{system}|{value}"


def _logical_keys(resource: Any) -> set[str]:
    """Every identifier a view of ``resource`` may look up in the directory: a Reference's
    ``identifier`` and a contained directory resource's identifiers."""
    keys: set[str] = set()
    stack: list[Any] = [resource]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            identifiers = item.get("identifier")
            if "resourceType" not in item:
                identifiers = [identifiers]
            elif item.get("resourceType") not in DIRECTORY_TYPES or not isinstance(identifiers, list):
                identifiers = []
            keys |= {key for key in map(_judgeable_key, identifiers) if key is not None}
            stack.extend(item.values())
    return keys


WHOLE = frozenset({"participant"})
"""Elements taken out whole when a Reference in them is: a care team's participant (its role
would tell of the member taken out)."""
GONE = object()


async def _filtered(
    element: Any,
    hidden: Callable[[str], Awaitable[bool]],
    unknown: Callable[[Any], Awaitable[bool]],
    key: str = "",
) -> Any:
    """``element`` without the References ``hidden`` holds (by ``reference``) or ``unknown``
    holds (a logical Reference, by its ``identifier`` only): a Reference in a list is taken out
    of it, one held by an element is taken out of it, and an extension whose value it was, or an
    element of :data:`WHOLE`, goes with it; lists and elements left empty go too (FHIR has none).
    :data:`GONE` when the whole element goes."""
    if isinstance(element, list):
        items = [await _filtered(item, hidden, unknown, key) for item in element]
        kept = [item for item in items if item is not GONE]
        return GONE if element and not kept else kept
    if not isinstance(element, dict):
        return element
    text = element.get("reference")
    if isinstance(text, str) and await hidden(text):
        return GONE
    identifier = element.get("identifier") if "resourceType" not in element else None
    logical = isinstance(identifier, dict) and (text is None or identifier.get("system") == HSA_SYSTEM)
    if logical and await unknown(identifier):  # a logical Reference, or one that also carries an HSA-id
        return GONE
    shown = {}
    for name, value in element.items():
        filtered = await _filtered(value, hidden, unknown, name)
        if filtered is GONE:
            if name.startswith("value") or key in WHOLE:
                return GONE  # an extension without its value, a participant without its member
            continue
        shown[name] = filtered
    return GONE if element and not shown else shown


HIDDEN_PARTS = (
    "This resource holds parts that you may not see: it cannot be replaced by you, whatever the new "
    "content. Ask the unit that holds those parts to change it"
)


def _local(target: Any) -> ParsedReference | None:
    """A Reference to a resource on this server (``Type/id``, maybe versioned); None otherwise."""
    text = target.get("reference") if isinstance(target, dict) else None
    parsed = parse_reference(text) if isinstance(text, str) else None
    if parsed is None or parsed.kind != "local" or not parsed.resource_type or not parsed.resource_id:
        return None
    return parsed


def _writes(decision: PatientDecision) -> bool:
    """Whether a standing lets the caller write: their own data, a care relation, or the region's
    services (who also start a patient's first care relation); consent, a relative's share and
    emergency access are for reading (PDL 6 kap.), so none of them can make itself a lasting
    care relation."""
    return decision.allowed and decision.basis in WRITING_BASES


def _by_target(query: SearchQuery) -> bool:
    """Whether a search names the resources whose Provenances it asks for (``target=CarePlan/1``):
    a bounded search, each of whose matches the policy then judges record by record."""
    return any(
        clause.code == "target" and clause.chained is None and clause.modifier is None and clause.values
        for clause in query.clauses
    )


def _proposes(decision: PatientDecision, resource: dict[str, Any] | None, old: dict[str, Any] | None) -> bool:
    """Whether a relative's share lets them send this message in the patient's name: a patient's
    message (issue 14.2), a share with the ``foresla`` action; nothing else a share lets them write."""
    return (
        decision.allowed
        and decision.basis == "shared"
        and is_patient_message(resource)
        and (old is None or is_patient_message(old))
        and any(share.proposes for share in decision.shares or [])
    )


def _check_patients_message(identity: Identity, resource: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
    """A patient's (or relative's) token writes messages in its own name only, and a patient's
    message about the contract only while it awaits a reply: the answer (``completed``,
    ``inResponseTo``) is the care team's, and so is a message once answered."""
    for content in (resource, old):
        sender = (content or {}).get("sender")
        if sender is not None and not (isinstance(sender, dict) and sender.get("reference") == identity.subject):
            raise forbidden("A patient's token writes messages in its own name (sender: the token's fhirUser)")
    if old is not None and old.get("sender") is None:  # the server's signal, the care team's notes
        raise forbidden("A patient's token writes messages in its own name (sender: the token's fhirUser)")
    if is_patient_message(resource) and (resource or {}).get("inResponseTo"):
        raise forbidden("A patient's message starts a conversation; the care team's reply is inResponseTo it")
    if is_patient_message(old) and (old or {}).get("status") != PENDING:
        raise forbidden("This message has been answered: it is the care team's record now")
    if is_patient_message(resource) and (resource or {}).get("status") != PENDING:
        raise forbidden(
            f"A patient's message is sent as {PENDING} (awaiting a reply); only the care team marks it answered"
        )
    if resource is not None and is_patient_message(old) and not is_patient_message(resource):
        raise forbidden("A patient's message stays one: only the care team answers it")


def _own(identity: Identity, patients: frozenset[str]) -> bool:
    return identity.kind == "patient" and not identity.is_relative and patients == {identity.patient}


def _identity_of(patient: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Who a Patient is: its identifiers and its links to other Patients."""
    identifiers, links = patient.get("identifier"), patient.get("link")
    return (
        sorted(
            (str(i.get("system")), str(i.get("value")))
            for i in (identifiers if isinstance(identifiers, list) else [])
            if isinstance(i, dict)
        ),
        sorted(
            (str(link.get("type")), str((link.get("other") or {}).get("reference")))
            for link in (links if isinstance(links, list) else [])
            if isinstance(link, dict)
        ),
    )
