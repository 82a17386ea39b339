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
