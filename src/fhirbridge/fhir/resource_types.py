"""The resource types this server stores; everything else (routes, search parameters, the
CapabilityStatement) is derived from this one tuple."""

from __future__ import annotations

STORED_TYPES: tuple[str, ...] = (
    "CarePlan",
    "CareTeam",
    "Goal",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "RelatedPerson",
    "Appointment",
    "Provenance",
    "Communication",
    "Subscription",
    "Consent",
    "AuditEvent",
    "QuestionnaireResponse",
    "Condition",
    "Measure",
    "MeasureReport",
    "Group",
)
