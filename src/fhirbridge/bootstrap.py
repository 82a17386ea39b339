"""The service's wiring: the repository with every rule, listener and enricher that every write
passes in its transaction (STYLE.md: one write path), and the access log's own repository.

One place builds them from the settings, so the REST API, ``fhirbridge load``, ``fhirbridge
demo`` and the benchmarks' seeding enforce the same rules (:func:`repository_for`); the
outbound formats are listed in :mod:`fhirbridge.adapters.registry`.
"""

from __future__ import annotations

from fhirbridge.access.epochs import AccessEpochs
from fhirbridge.access.grants import EmergencyGrants
from fhirbridge.access.guarded import GuardedRepository
from fhirbridge.audit.events import AuditedWrites
from fhirbridge.audit.log import AuditLog
from fhirbridge.config import Settings
from fhirbridge.contract.contributors import add_revising_unit
from fhirbridge.contract.fixed_contact_rule import FixedContactPolicy, FixedContactRule
from fhirbridge.contract.goal_rule import PatientGoalRule
from fhirbridge.contract.linked_plans import LinkedPlanRule
from fhirbridge.contract.patient_messages import address_patient_message, credit_patient_messages
from fhirbridge.contract.signal import FixedContactSignal
from fhirbridge.notifications.endpoints import EndpointPolicy
from fhirbridge.notifications.handshake import awaiting_handshake
from fhirbridge.notifications.signing import record_secrets, take_secret
from fhirbridge.notifications.subscriptions import SubscriptionNotifier, activate
from fhirbridge.patients.identity import IdentitySystems
from fhirbridge.patients.identity_rule import OnePatientPerPerson
from fhirbridge.questionnaires.subject_rule import answered_about
from fhirbridge.report.projection import ReportProjection
from fhirbridge.repository import FhirRepository
from fhirbridge.storage.database import Database
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.events import WriteEnricher, WriteListener
from fhirbridge.writes.provenance import ProvenanceRecorder
from fhirbridge.writes.unit_of_work import UnitOfWork


def contract_listeners(settings: Settings) -> tuple[WriteListener, ...]:
    """The write listeners of a deployment, in the order they run before commit: the rules
    first (who the patient is, before anything about them), then what records the change (the
    signal, its Provenance), and last the outbox, which sees everything the others wrote."""
    policy = FixedContactPolicy(
        care_contacts_per_patient=settings.fixed_care_contacts_per_patient,
        doctors_per_patient=settings.fixed_doctors_per_patient,
    )
    return (
        OnePatientPerPerson(identity_systems(settings)),
        PatientGoalRule(),
        FixedContactRule(policy),
        LinkedPlanRule(),
        FixedContactSignal(),
        ProvenanceRecorder(credit_patient_messages),
        record_secrets,
        SubscriptionNotifier(development=settings.auth == "off"),
        AuditedWrites(),
        ReportProjection(report_secret(settings)),
        EmergencyGrants(),
        AccessEpochs(),
    )


def report_secret(settings: Settings) -> bytes | None:
    """The report's record-key secret from the settings (None: the database's own)."""
    secret = settings.report_key_secret
    return secret.get_secret_value().encode() if secret is not None else None


def identity_systems(settings: Settings) -> IdentitySystems:
    """The identifier systems whose values name one person, in this deployment."""
    return IdentitySystems(frozenset(settings.reserve_number_systems))


def contract_enrichers(settings: Settings) -> tuple[WriteEnricher, ...]:
    """What the server adds to resources before storing them (and the Subscriptions it
    activates), and the checks that need the references as stored (who answers are about)."""
    endpoints = EndpointPolicy.from_settings(settings)

    async def activate_subscription(unit: UnitOfWork, validated: ValidatedResource) -> ValidatedResource:
        return activate(unit.identity, take_secret(unit, validated), endpoints=endpoints)

    return (add_revising_unit, address_patient_message, answered_about, activate_subscription, awaiting_handshake)


def repository_for(database: Database, settings: Settings) -> GuardedRepository:
    """The repository with every contract rule of this deployment."""
    bases = tuple(base for base in (settings.base_url, *settings.base_url_aliases) if base)
    return GuardedRepository(
        FhirRepository(database, contract_listeners(settings), contract_enrichers(settings), other_bases=bases)
    )


def audit_log_for(database: Database, settings: Settings) -> AuditLog:
    """The access log: no contract rules apply to it; an emergency grant (an AuditEvent) is
    kept by its patient and raises its patient's access epoch."""
    return AuditLog(FhirRepository(database, (EmergencyGrants(), AccessEpochs())), settings.audit_flush_seconds)
