"""A small region written through the FHIR API as its integration would, with authentication
on, on both database kinds: two regional units and a municipal home-care unit, fourteen
contract patients and a declined offer, hand-counted in tests/report/test_report.py.

``exact`` reads the region without suppression (minimum cell 1) and without the cell-key
perturbation (the report context's ``report_exact``, which only a test sets); ``region`` reads
it as a deployment does, with a fixed record-key secret so that its noise is the same each run."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.contract.codes import ACTIVITY_KIND_SYSTEM, CARE_ROLE_SYSTEM, GOAL_KIND_SYSTEM, OFFER_DECLINED_EXTENSION
from fhirbridge.rest.app import create_app
from fhirbridge.sweden.identifiers import HSA_SYSTEM, PERSONNUMMER_SYSTEM, gender_of, make_personnummer
from tests.conftest import BASE
from tests.security.tokens import AUDIENCE, ISSUER, SigningKey, bearer, mint, rsa_key, write_jwks
from tests.support.contracts import contract as complete_contract

ORG_NUMBER = "urn:oid:2.5.4.97"
REGION, KOMMUN = "2321000198", "2120002411"
NEXT_CONTACT_TEXT = "Återbesök hos distriktssköterskan"
SECRET = "report-tests"
FUTURE, PAST = "2030-01-10T09:00:00+01:00", "2020-01-10T09:00:00+01:00"


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return rsa_key("report-1")


def _settings(database_url: str, jwks: Path, minimum: int) -> Settings:
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        outbox_worker="off",
        auth="jwt",
        auth_issuers=[TrustedIssuer(issuer=ISSUER, jwks=str(jwks))],
        audit_flush_seconds=30,
        rate_limit_per_second=0,
        auth_audience=[AUDIENCE],
        report_minimum_cell=minimum,
        report_key_secret=SECRET,
    )


async def _client(settings: Settings, *, exact: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    application: FastAPI = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=BASE) as http,
    ):
        if exact:
            application.state.context = dataclasses.replace(application.state.context, report_exact=True)
        yield http


@pytest.fixture
def jwks(tmp_path: Path, key: SigningKey) -> Path:
    return write_jwks(tmp_path / "jwks.json", key)


@pytest.fixture
async def region(database_url: str, jwks: Path, key: SigningKey) -> AsyncIterator[httpx.AsyncClient]:
    """The deployment (minimum cell 5), with the region written into it."""
    async for http in _client(_settings(database_url, jwks, 5)):
        await write_region(http, key)
        yield http


@pytest.fixture
async def exact(region: httpx.AsyncClient, database_url: str, jwks: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The same database read without suppression (minimum cell 1) or perturbation (tests only)."""
    async for http in _client(_settings(database_url, jwks, 1), exact=True):
        yield http


def service(key: SigningKey) -> dict[str, str]:
    return bearer(mint(key, scope="system/*.cruds", client_id="region-integration"))


def unit_system(key: SigningKey, unit: str) -> dict[str, str]:
    return bearer(mint(key, scope="system/*.rs", client_id=f"{unit}-system", organization=f"Organization/{unit}"))


def clinician(key: SigningKey, unit: str) -> dict[str, str]:
    return bearer(mint(key, scope="user/*.rs", fhirUser="Practitioner/prac-a", organization=f"Organization/{unit}"))


def patient_token(key: SigningKey, patient: str = "p1") -> dict[str, str]:
    return bearer(mint(key, scope="patient/*.rs", fhirUser=f"Patient/{patient}", patient=patient))


def _org(oid: str, name: str, number: str, local: str, part_of: str | None = None) -> dict[str, Any]:
    org: dict[str, Any] = {
        "resourceType": "Organization",
        "id": oid,
        "identifier": [
            {"system": HSA_SYSTEM, "value": f"SE{number}-{local}"},
            {"system": ORG_NUMBER, "value": number},
        ],
        "active": True,
        "name": name,
    }
    if part_of:
        org["partOf"] = {"reference": f"Organization/{part_of}"}
    return org


def _role(rid: str, org: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": rid,
        "active": True,
        "practitioner": {"reference": "Practitioner/prac-a"},
        "organization": {"reference": f"Organization/{org}"},
    }


def patient(index: int, birth: date, female: bool) -> dict[str, Any]:
    number = make_personnummer(birth, 100 + 2 * index + (0 if female else 1))
    return {
        "resourceType": "Patient",
        "id": f"p{index}",
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": number}],
        "name": [{"family": "Testsson", "given": [f"Nr{index}"]}],
        "gender": gender_of(number),
        "birthDate": birth.isoformat(),
    }


def contract(
    index: int, author: str, created: str, *, next_time: str | None = None, declined: bool = False
) -> dict[str, Any]:
    plan = complete_contract(f"p{index}", f"team-{index}", f"goal-{index}", f"PractitionerRole/{author}")
    plan.update(id=f"contract-{index}", created=created, period={"start": created})
    plan["activity"] = [a for a in plan["activity"] if a["detail"]["description"] != NEXT_CONTACT_TEXT]
    if declined:
        plan["status"], plan["intent"] = "revoked", "proposal"
        plan["extension"] = [{"url": OFFER_DECLINED_EXTENSION, "valueDateTime": created}]
    plan["activity"] += [
        {
            "detail": {
                "code": {"coding": [{"system": ACTIVITY_KIND_SYSTEM, "code": "nasta-kontakt"}]},
                "status": "scheduled" if next_time else "cancelled",
                "scheduledPeriod": {"start": next_time or FUTURE},
                "description": "Återbesök",
            }
        }
    ]
    return plan


def goal(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "id": f"goal-{index}",
        "lifecycleStatus": "active",
        "category": [{"coding": [{"system": GOAL_KIND_SYSTEM, "code": "vad-ar-viktigt"}]}],
        "description": {"text": "Att orka gå till affären själv"},
        "subject": {"reference": f"Patient/p{index}"},
        "expressedBy": {"reference": f"Patient/p{index}"},
    }


def care_team(index: int, roles: list[tuple[str, str | None]]) -> dict[str, Any]:
    """(care role, period end or None) per participant, all started 2025-12-01."""
    return {
        "resourceType": "CareTeam",
        "id": f"team-{index}",
        "status": "active",
        "subject": {"reference": f"Patient/p{index}"},
        "participant": [
            {
                "role": [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": role}]}],
                "member": {"reference": "PractitionerRole/role-a"},
                "period": {"start": "2025-12-01", **({"end": end} if end else {})},
            }
            for role, end in roles
        ],
    }


def region_resources() -> list[dict[str, Any]]:
    """p1-p7 at unit A (p1-p5 begun January 2026, p6-p7 February), p8-p13 at unit B (February),
    p14 at the municipal home care (March); p15's offer declined at unit A.  p1-p8 women; p1-p5
    born 1940 (85+), the rest 1950 (75-84).  Fixed care contact active for p1-p10, ended for
    p11; fixed doctor for p1-p6; next time ahead for p1-p9, past for p10-p12, cancelled for
    p13-p15."""
    resources: list[dict[str, Any]] = [
        _org("org-region", "Region Test", REGION, "R1"),
        _org("org-a", "Vårdcentralen A", REGION, "VA", "org-region"),
        _org("org-b", "Vårdcentralen B", REGION, "VB", "org-region"),
        _org("org-kommun", "Testby kommun", KOMMUN, "K1"),
        _org("org-hemsjukvard", "Hemsjukvården Testby", KOMMUN, "KH", "org-kommun"),
        {
            "resourceType": "Practitioner",
            "id": "prac-a",
            "identifier": [{"system": HSA_SYSTEM, "value": f"SE{REGION}-P01"}],
            "name": [{"family": "Lind", "given": ["Karin"]}],
        },
        _role("role-a", "org-a"),
        _role("role-b", "org-b"),
        _role("role-k", "org-hemsjukvard"),
    ]
    for index in range(1, 16):
        resources.append(patient(index, date(1940, 1, 1) if index <= 5 else date(1950, 6, 15), index <= 8))
    for index in range(1, 16):
        author = "role-a" if index <= 7 or index == 15 else "role-b" if index <= 13 else "role-k"
        created = "2026-01-15" if index <= 5 else "2026-02-10" if index <= 13 else "2026-03-05"
        next_time = FUTURE if index <= 9 else PAST if index <= 12 else None
        resources.append(contract(index, author, created, next_time=next_time, declined=index == 15))
    return [*resources[:24], *(goal(i) for i in range(1, 16)), *(_team(i) for i in range(1, 16)), *resources[24:]]


def _team(index: int) -> dict[str, Any]:
    roles: list[tuple[str, str | None]] = [("kurator", None)]
    if index <= 11:
        roles = [("fast-vardkontakt", "2026-01-31" if index == 11 else None)]
    if index <= 6:
        roles.append(("fast-lakarkontakt", None))
    return care_team(index, roles)


async def write_region(http: httpx.AsyncClient, key: SigningKey) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in region_resources()
        ],
    }
    answer = await http.post("/fhir", json=bundle, headers=service(key))
    assert answer.status_code == 200, answer.text
