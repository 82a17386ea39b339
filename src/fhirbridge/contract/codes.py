"""The code systems of a patient contract (DOMAIN.md; seeds 000-003).

These are fhirbridge's own code systems, under :data:`CANONICAL_BASE`; the profiles issue
publishes them as CodeSystem and ValueSet resources.  Displays are the Swedish words that
clinicians and patients use.
"""

from __future__ import annotations

from typing import Any

CANONICAL_BASE = "https://fhirbridge.se/fhir"

PLAN_TYPE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/plan-type"
CARE_ROLE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/care-role"
ACTIVITY_KIND_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/activity-kind"
CONTACT_CHANNEL_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/contact-channel"
GOAL_KIND_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/goal-kind"
END_REASON_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/assignment-end-reason"
END_REASON_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/assignment-end-reason"
OFFER_DECLINED_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/offer-declined"
AMBITION_LEVEL_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/ambition-level"
AMBITION_LEVEL_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/ambition-level"
CONDITION_ROLE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/condition-role"
ANSWERED_FOR_UNIT_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/answered-for-unit"
"""On a QuestionnaireResponse: the unit whose care the answers are about (the seven questions)."""
FIXED_CONTACT_REASSESSMENT_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/fixed-contact-reassessment"
PATIENT_MESSAGE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/patient-message"
SHARE_ACTION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/share-action"

PLAN_TYPES = {
    "patientkontrakt": "Patientkontrakt (dokumenterad överenskommelse)",
    "sip": "Samordnad individuell plan (SIP)",
    "vardplan": "Vårdplan",
    "rehabiliteringsplan": "Rehabiliteringsplan",
    "min-plan": "Min vårdplan cancer",
    "utskrivningsplan": "Utskrivningsplan",
}

CARE_ROLES = {
    "fast-vardkontakt": "Fast vårdkontakt",
    "fast-lakarkontakt": "Fast läkarkontakt",
    "patientansvarig-lakare": "Patientansvarig läkare",
    "patientansvarig-sjukskoterska": "Patientansvarig sjuksköterska",
    "astma-kol-sjukskoterska": "Astma/KOL-sjuksköterska",
    "diabetessjukskoterska": "Diabetessjuksköterska",
    "hjartsviktssjukskoterska": "Hjärtsviktssjuksköterska",
    "arbetsterapeut": "Arbetsterapeut",
    "fysioterapeut": "Fysioterapeut",
    "psykolog": "Psykolog",
    "kurator": "Kurator",
    "underskoterska": "Undersköterska",
    "distriktsskoterska": "Distriktssköterska",
    "kommunal-arbetsterapeut": "Arbetsterapeut i kommunen",
    "kommunal-fysioterapeut": "Fysioterapeut i kommunen",
    "kontaktperson-hemtjanst": "Kontaktperson i hemtjänsten",
    "narstaende": "Närstående",
}

ACTIVITY_KINDS = {
    "egen-insats": "Det här gör jag själv",
    "egenvard": "Egenvård",
    "vardens-insats": "Det här gör vården",
    "nasta-kontakt": "Överenskommen tid för nästa kontakt",
    "nar-soka-vard": "När jag ska söka vård",
    "kontaktvag": "Vem jag kontaktar och hur",
}

CONTACT_CHANNELS = {
    "telefon": "Telefon",
    "video": "Videobesök",
    "meddelande": "Meddelande via 1177",
    "webbokning": "Webbokning",
    "kallelse": "Kallelse med brev",
    "e-tjanst": "E-tjänst på 1177",
    "besok": "Besök på mottagningen",
    "hembesok": "Hembesök",
}

END_REASONS = {
    "i-samforstand": "Avslutad i samförstånd med patienten",
    "patientens-begaran": "På patientens begäran",
    "flytt": "Patienten har flyttat",
    "vardbehov-avslutat": "Vårdbehovet är avslutat",
    "kontakten-slutat": "Kontakten har slutat eller bytt uppdrag",
    "ny-kontakt": "En ny fast kontakt har utsetts",
    "avliden": "Patienten har avlidit",
}

GOAL_KINDS = {
    "vad-ar-viktigt": "Det här är viktigt för mig",
    "gemensamt-mal": "Vårt gemensamma mål",
}

AMBITION_LEVELS = {
    "hog": "Hög: allt som kan förbättra hälsan",
    "balanserad": "Balanserad: nytta vägd mot belastning",
    "lindrande": "Lindrande: välbefinnande och livskvalitet först",
}
"""The shared goal's ambition level (seed 001: "vilken ambitionsnivå ska vi ha för din vård?")."""

PATIENT_MESSAGES = {
    "forslag-vad-ar-viktigt": "Förslag: det här är viktigt för mig",
    "forslag-egen-insats": "Förslag: det här gör jag själv",
    "fraga": "Fråga till vården",
    "ny-tid": "Önskar en ny tid",
}
"""A Communication.category: what the patient (or a relative) sends about their contract to the fixed
care contact (issue 14.2).  It never changes the contract; the care team answers it."""

SHARE_ACTIONS = {
    "foresla": "Får föreslå ändringar och ställa frågor om planen i patientens namn",
}
"""A Consent.provision.action on the permit that shares the patient's plans with a relative: the
relative may also send the patient's messages about the contract (:data:`PATIENT_MESSAGES`)."""

CONDITION_ROLES = {
    "main": "Huvudsakligt tillstånd",
}
"""A Condition.category: the patient's main condition, which gives the follow-up its patient groups."""


def coding(system: str, table: dict[str, str], code: str) -> dict[str, str]:
    """A Coding with the Swedish display from ``table``."""
    return {"system": system, "code": code, "display": table[code]}


def concept(system: str, table: dict[str, str], code: str) -> dict[str, object]:
    return {"coding": [coding(system, table, code)], "text": table[code]}


CONTRACT_CODE = "patientkontrakt"
NOT_FOR_PATIENT = ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "NOPATIENT")
"""The security label of a plan not approved for the patient (hidden from them and their relatives)."""


def not_for_patient(resource: dict[str, Any]) -> bool:
    """Whether ``meta.security`` labels the resource :data:`NOT_FOR_PATIENT`."""
    labels = {(s.get("system"), s.get("code")) for s in (resource.get("meta") or {}).get("security", [])}
    return NOT_FOR_PATIENT in labels


_NOT_FOR_PATIENT_CODE = f'"{NOT_FOR_PATIENT[1]}"'.encode()


def may_be_not_for_patient(content: bytes) -> bool:
    """False when stored JSON cannot carry the :data:`NOT_FOR_PATIENT` label, without parsing
    it: stored content is orjson's output (:mod:`fhirbridge.writes.canonical`), which writes
    the code as it is (it escapes only quotes, backslashes and control characters), so a label
    is always there as the bytes ``"NOPATIENT"``.  True says only that :func:`not_for_patient`
    must look."""
    return _NOT_FOR_PATIENT_CODE in content


def is_contract(resource: dict[str, object]) -> bool:
    """Whether a CarePlan is a patient contract: a category coding ``plan-type#patientkontrakt``."""
    categories = resource.get("category")
    if not isinstance(categories, list):
        return False
    return any(
        coding.get("system") == PLAN_TYPE_SYSTEM and coding.get("code") == CONTRACT_CODE
        for concept in categories
        if isinstance(concept, dict)
        for coding in concept.get("coding", [])
        if isinstance(coding, dict)
    )


def patient_message_kind(resource: dict[str, Any]) -> str | None:
    """The :data:`PATIENT_MESSAGES` code of a Communication's category, or None."""
    for concept in resource.get("category") or []:
        for coding in concept.get("coding") or [] if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("system") == PATIENT_MESSAGE_SYSTEM:
                code = coding.get("code")
                return code if isinstance(code, str) and code in PATIENT_MESSAGES else None
    return None


def is_declined_offer(resource: dict[str, object]) -> bool:
    """Whether a CarePlan records a contract offered and declined: in the contract category,
    with the ``offer-declined`` extension (seed 001: a declined offer is documented).  It is
    checked against the declined-offer profile, not the contract profile, and holds no goals."""
    extensions = resource.get("extension")
    return (
        is_contract(resource)
        and isinstance(extensions, list)
        and any(isinstance(e, dict) and e.get("url") == OFFER_DECLINED_EXTENSION for e in extensions)
    )
