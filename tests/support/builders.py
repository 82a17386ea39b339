"""Realistic Swedish test resources (valid personnummer, HSA-ids)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from fhirbridge.sweden.identifiers import HSA_SYSTEM, PERSONNUMMER_SYSTEM, make_personnummer

_serials = itertools.count(2)


def personnummer() -> str:
    """A fresh valid personnummer for each call."""
    serial = next(_serials)
    return make_personnummer(date(1940 + serial % 50, 1 + serial % 12, 1 + serial % 28), serial)


def patient(number: str | None = None, family: str = "Tolvansson", given: str = "Tolvan") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": number or personnummer()}],
        "name": [{"family": family, "given": [given]}],
        "gender": "male",
        "birthDate": "1912-12-12",
    }


def practitioner(hsa: str = "SE2321000198-P0KL1", family: str = "Lind", given: str = "Karin") -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "identifier": [{"system": HSA_SYSTEM, "value": hsa}],
        "name": [{"family": family, "given": [given]}],
    }


def care_plan(patient_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": "Patientkontrakt",
        "subject": {"reference": f"Patient/{patient_id}"},
        **extra,
    }


def goal(patient_id: str, text: str = "Att orka gå till affären själv") -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": {"reference": f"Patient/{patient_id}"},
        "expressedBy": {"reference": f"Patient/{patient_id}"},
    }


CONTRACT_SYSTEM = "urn:oid:1.2.752.129.2.1.2.1"
"""An identifier system for patient contracts (a regional OID arc, as journal systems use)."""


def contract_identifier(value: str) -> dict[str, str]:
    return {"system": CONTRACT_SYSTEM, "value": value}


def organization(hsa: str = "SE2321000198-E0000000001", name: str = "Vårdcentralen Kungsholmen") -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": HSA_SYSTEM, "value": hsa}],
        "name": name,
    }


def practitioner_role(practitioner_id: str, organization_id: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "organization": {"reference": f"Organization/{organization_id}"},
    }


def related_person(patient_id: str, family: str = "Tolvansson", given: str = "Maj") -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{patient_id}"},
        "name": [{"family": family, "given": [given]}],
    }


def care_team(patient_id: str, practitioner_id: str) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "name": "Team kring Tolvan",
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": [{"member": {"reference": f"Practitioner/{practitioner_id}"}}],
    }


def appointment(patient_id: str, practitioner_id: str, start: str = "2026-03-02T09:00:00+01:00") -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "start": start,
        "end": start.replace("T09:00", "T09:30"),
        "participant": [
            {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"},
        ],
    }


def provenance(target: str, practitioner_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target}],
        "recorded": "2026-03-02T09:00:00+01:00",
        "agent": [{"who": {"reference": f"Practitioner/{practitioner_id}"}}],
    }


def communication(
    patient_id: str, practitioner_id: str, text: str = "Patientkontraktet har reviderats"
) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "recipient": [{"reference": f"Practitioner/{practitioner_id}"}],
        "payload": [{"contentString": text}],
    }


def subscription(
    criteria: str, endpoint: str = "https://journal.region.example/fhir-notify", **channel: Any
) -> dict[str, Any]:
    """A rest-hook Subscription as a client submits it (status ``requested``)."""
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Signal till fast vårdkontakt",
        "criteria": criteria,
        "channel": {"type": "rest-hook", "endpoint": endpoint, **channel},
    }


def messages_to(practitioner_id: str, endpoint: str, **channel: Any) -> dict[str, Any]:
    """A Subscription to the messages (Communications) for one practitioner."""
    return subscription(f"Communication?recipient=Practitioner/{practitioner_id}", endpoint, **channel)


PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def consent(
    patient_id: str, actor: str, *, provision: str = "permit", role: str = "IRCP", **extra: Any
) -> dict[str, Any]:
    """The patient's consent to share with ``actor`` (``permit``, role IRCP), or a block of
    ``actor``'s information (``deny``, role CST)."""
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": provision,
            "actor": [
                {"role": {"coding": [{"system": PARTICIPATION, "code": role}]}, "reference": {"reference": actor}}
            ],
        },
        **extra,
    }


def merge_parameters(source_id: str, target_id: str) -> dict[str, Any]:
    """The Parameters of ``Patient/$merge``: the source Patient is replaced by the target."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "source-patient", "valueReference": {"reference": f"Patient/{source_id}"}},
            {"name": "target-patient", "valueReference": {"reference": f"Patient/{target_id}"}},
        ],
    }


SEVEN_QUESTIONS_PATIENT = "https://fhirbridge.se/fhir/Questionnaire/seven-questions-patient"
SEVEN_QUESTIONS_STAFF = "https://fhirbridge.se/fhir/Questionnaire/seven-questions-staff"
ANSWERED_FOR_UNIT = "https://fhirbridge.se/fhir/StructureDefinition/answered-for-unit"
ICD_10_SE = "urn:oid:1.2.752.116.1.1.1.1.3"


def seven_answers(
    subject: str, unit_id: str, answers: tuple[bool, ...] = (True,) * 7, author: str | None = None
) -> dict[str, Any]:
    """Answers to the seven questions (seed 003) about a unit's care: a patient's (``subject``
    ``Patient/…``) or, with ``subject`` ``Organization/…`` and a PractitionerRole as ``author``,
    the unit's staff's."""
    staff = subject.startswith("Organization/")
    return {
        "resourceType": "QuestionnaireResponse",
        "extension": [{"url": ANSWERED_FOR_UNIT, "valueReference": {"reference": f"Organization/{unit_id}"}}],
        "questionnaire": SEVEN_QUESTIONS_STAFF if staff else SEVEN_QUESTIONS_PATIENT,
        "status": "completed",
        "subject": {"reference": subject},
        "authored": "2026-11-02T10:00:00+01:00",
        "author": {"reference": author or subject},
        "item": [{"linkId": f"q{n}", "answer": [{"valueBoolean": yes}]} for n, yes in enumerate(answers, 1)],
    }


def condition(
    patient_id: str, code: str = "E11.9", display: str = "Typ 2-diabetes utan komplikationer"
) -> dict[str, Any]:
    """The patient's main condition, ICD-10-SE coded."""
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "category": [{"coding": [{"system": "https://fhirbridge.se/fhir/CodeSystem/condition-role", "code": "main"}]}],
        "code": {"coding": [{"system": ICD_10_SE, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def measure(name: str = "SevenQuestions") -> dict[str, Any]:
    return {
        "resourceType": "Measure",
        "url": f"https://fhirbridge.se/fhir/Measure/{name}",
        "name": name,
        "status": "active",
        "scoring": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-scoring", "code": "proportion"}]
        },
    }


def measure_report(measure_url: str, unit_id: str) -> dict[str, Any]:
    """A unit's summary report of a measure (no patient)."""
    return {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": measure_url,
        "date": "2026-12-01",
        "period": {"start": "2026-01-01", "end": "2026-11-30"},
        "reporter": {"reference": f"Organization/{unit_id}"},
    }


CONTRACT_CONVERSATION = "https://fhirbridge.se/fhir/Questionnaire/contract-conversation"
AMBITION_LEVEL_SYSTEM = "https://fhirbridge.se/fhir/CodeSystem/ambition-level"


def _answer(link_id: str, **value: Any) -> dict[str, Any]:
    return {"linkId": link_id, "answer": [value]}


def conversation_answers(
    patient_id: str,
    author: str,
    *,
    unit_id: str | None = None,
    person: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    """The staff's record of a contract conversation (seed 001's question battery) with the
    patient: what matters, the shared goal at a balanced ambition, the patient's own part, the
    yes/no questions, and, with ``unit_id``, a wish for help to coordinate and the unit (and
    ``person``, a PractitionerRole reference) proposed to appoint a fixed care contact."""
    items: list[dict[str, Any]] = [
        _answer("what-matters", valueString="Att kunna gå till affären och träffa barnbarnen"),
        {
            "linkId": "shared-goal",
            "item": [
                _answer("shared-goal.description", valueString="Orka gå 500 meter utan att stanna till sommaren"),
                _answer(
                    "shared-goal.ambition",
                    valueCoding={"system": AMBITION_LEVEL_SYSTEM, "code": "balanserad"},
                ),
            ],
        },
        _answer("own-part", valueString="Promenera 20 minuter varje dag och väga mig varje morgon"),
        _answer("has-fixed-contact", valueBoolean=False),
        _answer("has-fixed-doctor", valueBoolean=True),
        _answer("knows-next-step", valueBoolean=False),
        _answer("has-plan-overview", valueBoolean=False),
        _answer("wants-coordination", valueBoolean=unit_id is not None),
    ]
    if unit_id is not None:
        proposal = [_answer("fixed-contact-proposal.unit", valueReference={"reference": f"Organization/{unit_id}"})]
        if person is not None:
            proposal.append(_answer("fixed-contact-proposal.person", valueReference={"reference": person}))
        items.append({"linkId": "fixed-contact-proposal", "item": proposal})
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": CONTRACT_CONVERSATION,
        "status": status,
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": "2026-11-02T10:00:00+01:00",
        "author": {"reference": author},
        "item": items,
    }


def five_answers(patient_id: str, answers: tuple[bool, ...] = (True,) * 5) -> dict[str, Any]:
    """A patient's answers to the five questions (seed 002)."""
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "https://fhirbridge.se/fhir/Questionnaire/five-questions-patient",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": "2026-11-02T10:00:00+01:00",
        "author": {"reference": f"Patient/{patient_id}"},
        "item": [{"linkId": f"q{n}", "answer": [{"valueBoolean": yes}]} for n, yes in enumerate(answers, 1)],
    }


def group(*patient_ids: str) -> dict[str, Any]:
    """A follow-up cohort (R4 Group, actual, of persons) of these patients."""
    return {
        "resourceType": "Group",
        "identifier": [{"system": "urn:oid:1.2.752.97.3.9.1", "value": "kol-uppfoljning-2026"}],
        "type": "person",
        "actual": True,
        "name": "KOL-uppföljning 2026",
        **({"member": [{"entity": {"reference": f"Patient/{p}"}} for p in patient_ids]} if patient_ids else {}),
    }
