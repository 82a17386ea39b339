"""Whatever form a reference to a patient takes, the access policy and the contract rules
answer as they do for the literal ``Patient/[id]`` (issue 11).

A property test (Hypothesis) draws a reference form × a resource type of the Patient
compartment × a caller (the patient, their relative, a clinician of the care team, a clinician
of another caregiver, the region's integration) × a patient, writes the resource once in the
canonical literal form and once in the drawn form, and compares what the caller observes:
whether the write is stored, and then the read, the search and the includes.  Forms the write
path refuses (another server's patient, a display text, a contained Patient, an identifier
that names nobody or disagrees with the reference) are refused for every caller and leave
nothing stored.  The fixed-contact rule is checked for every form on both databases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import given
from hypothesis import strategies as st

from fhirbridge.access.compartment import compartment_search_parameter
from fhirbridge.config import Settings
from fhirbridge.contract.codes import CARE_ROLE_SYSTEM
from fhirbridge.rest.app import create_app
from tests.conftest import BASE
from tests.fuzz.conftest import bounded, fuzz_examples
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import PERSONNUMMER, World, build_world, patient_token, user_token
from tests.support import builders
from tests.support.api import network_client

ALIAS = "https://fhirbridge.region.example/fhir"
"""Another base URL of this server (``FHIRBRIDGE_BASE_URL_ALIASES``); only a name, never contacted."""
ELSEWHERE = "https://fhir.elsewhere.example/fhir"
UNREGISTERED = "191212121212"
"""A valid personnummer that no Patient of the world carries."""
EXAMPLES = fuzz_examples(30)

KEPT_FORMS = (
    "literal",
    "absolute",
    "alias",
    "absolute-versioned",
    "identifier",
    "identifier-typed",
    "identifier-and-reference",
    "versioned",
    "conditional",
    "urn",
)
REFUSED_FORMS = ("other-host", "display", "contained", "disagreeing", "unknown-identifier")
TYPES = (
    "CarePlan",
    "Goal",
    "CareTeam",
    "Appointment",
    "Communication",
    "Consent",
    "RelatedPerson",
    "Provenance",
    "QuestionnaireResponse",
    "Condition",
    "MeasureReport",
)
CALLERS = ("patient", "relative", "care-team", "outsider", "system")
Send = Callable[..., httpx.Response]


@dataclass
class Deployment:
    send: Send
    world: World
    tokens: dict[str, dict[str, str]]

    @property
    def admin(self) -> dict[str, str]:
        return self.tokens["system"]


def names(form: str, world: World, patient: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The reference to ``patient`` in ``form``, and the resources it needs contained."""
    pid = world[patient]
    number = {"system": PERSONNUMMER, "value": world.numbers[patient]}
    other = "bertil" if patient == "anna" else "anna"
    forms: dict[str, dict[str, Any]] = {
        "literal": {"reference": f"Patient/{pid}"},
        "absolute": {"reference": f"{BASE}/fhir/Patient/{pid}"},
        "alias": {"reference": f"{ALIAS}/Patient/{pid}"},
        "absolute-versioned": {"reference": f"{BASE}/fhir/Patient/{pid}/_history/1"},
        "identifier": {"identifier": number},
        "identifier-typed": {"type": "Patient", "identifier": number, "display": patient.title()},
        "identifier-and-reference": {"reference": f"Patient/{pid}", "identifier": number},
        "versioned": {"reference": f"Patient/{pid}/_history/1"},
        "conditional": {"reference": f"Patient?identifier={PERSONNUMMER}|{world.numbers[patient]}"},
        "urn": {"reference": "urn:uuid:5f0c2a1e-7b7d-4c39-9a55-1d2d3c4b5a69"},
        "other-host": {"reference": f"{ELSEWHERE}/Patient/{pid}"},
        "display": {"type": "Patient", "display": patient.title()},
        "contained": {"reference": "#p"},
        "disagreeing": {
            "reference": f"Patient/{pid}",
            "identifier": {"system": PERSONNUMMER, "value": world.numbers[other]},
        },
        "unknown-identifier": {"identifier": {"system": PERSONNUMMER, "value": UNREGISTERED}},
    }
    contained = [{"resourceType": "Patient", "id": "p", "identifier": [number]}] if form == "contained" else []
    return forms[form], contained


def resource_naming(resource_type: str, reference: dict[str, Any], world: World) -> dict[str, Any]:
    """A minimal valid resource of ``resource_type`` whose patient link is ``reference``."""
    hospital = {"reference": f"Organization/{world['hospital']}"}
    doctor = {"reference": f"Practitioner/{world['doctor']}"}
    return {
        "CarePlan": {"resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": reference},
        "Goal": {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": {"text": "x"},
            "subject": reference,
        },
        "CareTeam": {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": reference,
            "managingOrganization": [hospital],
        },
        "Appointment": {
            "resourceType": "Appointment",
            "status": "booked",
            "participant": [{"actor": reference, "status": "accepted"}],
        },
        "Communication": {
            "resourceType": "Communication",
            "status": "completed",
            "subject": reference,
            "payload": [{"contentString": "Hej"}],
        },
        "Consent": dict(builders.consent("x", f"Organization/{world['hospital']}"), patient=reference),
        "RelatedPerson": {"resourceType": "RelatedPerson", "patient": reference, "name": [{"family": "Ek"}]},
        "Provenance": {
            "resourceType": "Provenance",
            "target": [reference],
            "recorded": "2026-03-02T09:00:00+01:00",
            "agent": [{"who": doctor}],
        },
        "QuestionnaireResponse": dict(
            builders.seven_answers("Patient/x", world["hospital"]), subject=reference, author=reference
        ),
        "Condition": dict(builders.condition("x"), subject=reference),
        "MeasureReport": dict(
            builders.measure_report("https://fhirbridge.se/fhir/Measure/SevenQuestions", world["hospital"]),
            type="individual",
            subject=reference,
        ),
    }[resource_type]


def write(
    deployment: Deployment, resource: dict[str, Any], form: str, patient: str, headers: dict[str, str]
) -> str | None:
    """Write ``resource`` as the caller; the new id, or None when the write was refused (a 4xx)."""
    world = deployment.world
    if form in ("conditional", "urn"):
        entries: list[dict[str, Any]] = []
        if form == "urn":
            current = deployment.send("GET", f"/fhir/Patient/{world[patient]}", headers=deployment.admin).json()
            entries.append(
                {
                    "fullUrl": "urn:uuid:5f0c2a1e-7b7d-4c39-9a55-1d2d3c4b5a69",
                    "resource": {k: v for k, v in current.items() if k != "meta"},
                    "request": {"method": "PUT", "url": f"Patient/{world[patient]}"},
                }
            )
        entries.append({"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}})
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        response = deployment.send("POST", "/fhir", json=bundle, headers=headers)
        assert response.status_code < 500, response.text
        if response.status_code != 200:
            return None
        return str(response.json()["entry"][-1]["response"]["location"].split("/")[1])
    response = deployment.send("POST", f"/fhir/{resource['resourceType']}", json=resource, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["resourceType"] == "OperationOutcome"
        return None
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def versions_of(deployment: Deployment, resource_type: str) -> int:
    bundle = deployment.send(
        "GET", f"/fhir/{resource_type}/_history", params={"_count": "1000"}, headers=deployment.admin
    )
    return len(bundle.json().get("entry", []))


def seen(
    deployment: Deployment, headers: dict[str, str], resource_type: str, resource_id: str, patient: str
) -> tuple[Any, ...]:
    """What the caller observes of one stored resource: read, search by id and by patient, and
    whether it is included with its patient and includes its patient."""
    world = deployment.world
    send = deployment.send
    read = send("GET", f"/fhir/{resource_type}/{resource_id}", headers=headers).status_code
    by_id = send("GET", f"/fhir/{resource_type}", params={"_id": resource_id}, headers=headers)
    param = compartment_search_parameter(resource_type)
    assert param is not None
    by_patient = send(
        "GET", f"/fhir/{resource_type}", params={param: f"Patient/{world[patient]}", "_count": "1000"}, headers=headers
    )
    revinclude = send(
        "GET",
        "/fhir/Patient",
        params={"_id": world[patient], "_revinclude": f"{resource_type}:{param}"},
        headers=headers,
    )
    include = send(
        "GET",
        f"/fhir/{resource_type}",
        params={"_id": resource_id, "_include": f"{resource_type}:{param}"},
        headers=headers,
    )
    return (
        read,
        by_id.status_code,
        resource_id in _ids(by_id),
        resource_id in _ids(by_patient),
        resource_id in _ids(revinclude),
        world[patient] in _ids(include),
    )


def _ids(response: httpx.Response) -> set[str]:
    if response.status_code != 200:
        return {f"status-{response.status_code}"}
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


@pytest.fixture
def deployment(secure_settings: Settings, rsa: SigningKey, ec: SigningKey) -> Iterator[Deployment]:
    """The app with authentication on, served through a blocking portal (Hypothesis drives
    synchronous tests), holding the security world and the tokens of every kind of caller."""
    application = create_app(secure_settings.model_copy(update={"base_url_aliases": [ALIAS]}))
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal())
        stack.enter_context(portal.wrap_async_context_manager(application.router.lifespan_context(application)))
        http = stack.enter_context(portal.wrap_async_context_manager(network_client(application)))
        world = portal.call(build_world, http, rsa)

        def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
            return portal.call(partial(http.request, method, url, **kwargs))

        admin = bearer(mint(rsa, scope="system/*.cruds", client_id="region-integration"))
        consent = builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}")
        assert send("POST", "/fhir/Consent", json=consent, headers=admin).status_code == 201
        relative = mint(
            ec, scope="patient/*.cruds", fhirUser=f"RelatedPerson/{world['anna-relative']}", patient=world["anna"]
        )
        tokens = {
            "patient": patient_token(ec, world, "anna", scope="patient/*.cruds"),
            "relative": bearer(relative),
            "care-team": user_token(rsa, world, "doctor", "hospital"),
            "outsider": user_token(rsa, world, "stranger", "outsider"),
            "system": admin,
        }
        yield Deployment(send, world, tokens)


def test_every_reference_form_gets_the_answer_of_the_literal_form(deployment: Deployment) -> None:
    @bounded(EXAMPLES)
    @given(
        form=st.sampled_from(KEPT_FORMS + REFUSED_FORMS),
        resource_type=st.sampled_from(TYPES),
        caller=st.sampled_from(CALLERS),
        patient=st.sampled_from(("anna", "bertil")),
    )
    def check(form: str, resource_type: str, caller: str, patient: str) -> None:
        world, headers = deployment.world, deployment.tokens[caller]
        canonical = resource_naming(resource_type, names("literal", world, patient)[0], world)
        reference, contained = names(form, world, patient)
        variant = dict(
            resource_naming(resource_type, reference, world), **({"contained": contained} if contained else {})
        )
        before = versions_of(deployment, resource_type)
        canonical_id = write(deployment, canonical, "literal", patient, headers)
        variant_id = write(deployment, variant, form, patient, headers)
        if form in REFUSED_FORMS:
            assert variant_id is None, f"{form} {resource_type} by {caller} was stored"
            assert versions_of(deployment, resource_type) == before + (canonical_id is not None)
            return
        assert (variant_id is None) == (canonical_id is None), f"{form} {resource_type} by {caller}"
        if canonical_id is None:  # the caller may not write it: the region writes both, to test the reads
            canonical_id = write(deployment, canonical, "literal", patient, deployment.admin)
            variant_id = write(deployment, variant, form, patient, deployment.admin)
        assert canonical_id is not None and variant_id is not None
        assert seen(deployment, headers, resource_type, variant_id, patient) == seen(
            deployment, headers, resource_type, canonical_id, patient
        ), f"{form} {resource_type} seen differently by {caller}"

    check()


def fixed_care_contact(world: World, reference: dict[str, Any], role: str) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": reference,
        "managingOrganization": [{"reference": f"Organization/{world['hospital']}"}],
        "participant": [
            {
                "role": [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": "fast-vardkontakt"}]}],
                "member": {"reference": f"PractitionerRole/{world[role]}"},
            }
        ],
    }


@pytest.mark.parametrize("caller", ["system", "care-team"])
def test_a_second_fixed_care_contact_is_refused_in_every_reference_form(deployment: Deployment, caller: str) -> None:
    world, send = deployment.world, deployment.send
    first = fixed_care_contact(world, {"reference": f"Patient/{world['anna']}"}, "doctor-role")
    assert send("POST", "/fhir/CareTeam", json=first, headers=deployment.admin).status_code == 201
    for form in KEPT_FORMS + REFUSED_FORMS:
        reference, contained = names(form, world, "anna")
        second = dict(
            fixed_care_contact(world, reference, "helper-role"), **({"contained": contained} if contained else {})
        )
        before = versions_of(deployment, "CareTeam")
        if form in ("conditional", "urn"):
            assert write(deployment, second, form, "anna", deployment.tokens[caller]) is None, form
        else:
            response = send("POST", "/fhir/CareTeam", json=second, headers=deployment.tokens[caller])
            assert response.status_code == (422 if form in REFUSED_FORMS else 409), f"{form}: {response.text[:300]}"
        assert versions_of(deployment, "CareTeam") == before, form
