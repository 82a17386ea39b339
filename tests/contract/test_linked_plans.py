"""SIP-linked plans (issue 15.3), in production mode (bearer tokens) on both databases.

A municipality's system pushes its SIP by conditional update on its own identifier; a clinician's
contract links it (and a COPD care plan and a rehabilitation plan) in ``CarePlan.supportingInfo``;
every form of reference is checked; NPÖ names the link and answers the SIP as a plan of its own;
the patient overview shows who is responsible; a revised SIP signals the fixed care contact; and
the access policy holds for the patient, an unrelated caregiver and an unrelated municipality.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from fhirbridge.adapters.npo.get_care_plans import CORE, PATH
from fhirbridge.adapters.riv.soap import SOAP
from fhirbridge.config import Settings
from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES, PLAN_TYPE_SYSTEM, PLAN_TYPES, concept
from tests.adapters.test_get_care_plans import RESPONDER_XSD, request
from tests.conftest import BASE
from tests.security.tokens import SigningKey, bearer, mint, production_settings, rsa_key, write_jwks
from tests.support import builders
from tests.support.api import expressions, outcome
from tests.support.contracts import contract

SIP_SYSTEM = "https://gavle.se/identifier/sip"
C = f"{{{CORE}}}"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return rsa_key()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, key: SigningKey) -> Settings:
    """Production mode: every request needs a token from the trusted issuer."""
    return production_settings(database_url, write_jwks(tmp_path / "jwks.json", key), audit_flush_seconds=3600)


class World(dict[str, Any]):
    """Ids by name, and the callers' headers."""


@pytest.fixture
async def world(client: httpx.AsyncClient, key: SigningKey) -> World:
    """Anna (fixed care contact Karin Lind at the health centre; Gävle kommun's home care on her
    team) and Bertil (the health centre only); a doctor at the health centre, a stranger at a
    private clinic, written by the region's integration."""
    world = World()
    world["admin"] = bearer(mint(key, scope="system/*.cruds", client_id="region-integration"))

    async def add(name: str, resource: dict[str, Any]) -> str:
        response = await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=world["admin"])
        assert response.status_code == 201, response.text
        world[name] = response.json()["id"]
        return str(world[name])

    await add("centre", builders.organization("SE2321000198-E0000000011", "Vårdcentralen Söder"))
    await add("kommun", builders.organization("SE2120000784-E0000000012", "Gävle kommun"))
    await add("outsider", builders.organization("SE2321000198-E0000000013", "Privat vårdcentral"))
    for person, unit, hsa in (
        ("karin", "centre", "P0001"),
        ("doctor", "centre", "P0002"),
        ("stranger", "outsider", "P0003"),
    ):
        await add(person, builders.practitioner(f"SE2321000198-{hsa}", "Lind", person.title()))
        await add(f"{person}-role", builders.practitioner_role(world[person], world[unit]))
    for patient in ("anna", "bertil"):
        await add(patient, builders.patient(given=patient.title()))
    participants = [
        {
            "role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")],
            "member": {"reference": f"PractitionerRole/{world['karin-role']}", "display": "Karin Lind"},
        },
        {
            "role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, "kontaktperson-hemtjanst")],
            "member": {"reference": f"Organization/{world['kommun']}", "display": "Gävle kommun"},
        },
    ]
    for patient, members in (("anna", participants), ("bertil", participants[:1])):
        await add(
            f"{patient}-team",
            {
                "resourceType": "CareTeam",
                "status": "active",
                "name": f"Vårdteam för {patient.title()}",
                "subject": {"reference": f"Patient/{world[patient]}"},
                "managingOrganization": [{"reference": f"Organization/{world['centre']}"}],
                "participant": members,
            },
        )
        await add(f"{patient}-goal", builders.goal(world[patient]))
    world["kommun-system"] = bearer(
        mint(
            key, scope="system/CarePlan.cruds", client_id="gavle-kommun", organization=f"Organization/{world['kommun']}"
        )
    )
    world["doctor-token"] = _user(key, world, "doctor", "centre")
    world["stranger-token"] = _user(key, world, "stranger", "outsider")
    world["anna-token"] = _patient(key, world, "anna")
    world["bertil-token"] = _patient(key, world, "bertil")
    return world


def _user(key: SigningKey, world: World, person: str, unit: str) -> dict[str, str]:
    claims = {"fhirUser": f"Practitioner/{world[person]}", "organization": f"Organization/{world[unit]}"}
    return bearer(mint(key, scope="user/*.cruds", **claims))


def _patient(key: SigningKey, world: World, patient: str) -> dict[str, str]:
    return bearer(mint(key, scope="patient/*.rs", fhirUser=f"Patient/{world[patient]}", patient=world[patient]))


def sip(world: World, patient: str = "anna", number: str = "SIP-2026-0042", **extra: Any) -> dict[str, Any]:
    """A municipality's SIP, as its record system sends it."""
    body: dict[str, Any] = {
        "resourceType": "CarePlan",
        "identifier": [{"system": SIP_SYSTEM, "value": number}],
        "status": "active",
        "intent": "plan",
        "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "sip")],
        "title": "SIP: hemsjukvård och hemtjänst",
        "subject": {"reference": f"Patient/{world[patient]}"},
        "author": {"reference": f"Organization/{world['kommun']}", "display": "Gävle kommun"},
        "period": {"start": "2026-10-01"},
    }
    body.update(extra)
    return body


async def push_sip(client: httpx.AsyncClient, world: World, body: dict[str, Any]) -> httpx.Response:
    number = body["identifier"][0]["value"]
    return await client.put(
        "/fhir/CarePlan", params={"identifier": f"{SIP_SYSTEM}|{number}"}, json=body, headers=world["kommun-system"]
    )


async def other_plan(client: httpx.AsyncClient, world: World, kind: str, title: str, **extra: Any) -> str:
    """A plan of the health centre's (a COPD care plan is a vårdplan that addresses COPD)."""
    body = builders.care_plan(world["anna"], title=title, category=[concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, kind)])
    body.update(extra)
    response = await client.post("/fhir/CarePlan", json=body, headers=world["doctor-token"])
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def anna_contract(world: World, links: list[dict[str, Any]]) -> dict[str, Any]:
    return contract(
        world["anna"],
        world["anna-team"],
        world["anna-goal"],
        f"PractitionerRole/{world['doctor-role']}",
        title="Patientkontrakt för Anna",
        supportingInfo=links,
    )


async def linked_world(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """The SIP pushed by the municipality, a COPD care plan and a rehabilitation plan (held by
    Anna's care team, without an author), and the contract linking all three."""
    pushed = await push_sip(client, world, sip(world))
    assert pushed.status_code in (200, 201), pushed.text  # 200: pushed before, and unchanged
    world["sip"] = pushed.json()["id"]
    world["copd"] = await other_plan(
        client, world, "vardplan", "Vårdplan KOL", author={"reference": f"PractitionerRole/{world['doctor-role']}"}
    )
    world["rehab"] = await other_plan(
        client,
        world,
        "rehabiliteringsplan",
        "Rehabilitering efter fall",
        careTeam=[{"reference": f"CareTeam/{world['anna-team']}"}],
    )
    links = [{"reference": f"CarePlan/{world[name]}"} for name in ("sip", "copd", "rehab")]
    created = await client.post("/fhir/CarePlan", json=anna_contract(world, links), headers=world["doctor-token"])
    assert created.status_code == 201, created.text
    world["contract"] = created.json()["id"]
    return dict(created.json())


async def messages_to_karin(client: httpx.AsyncClient, world: World) -> list[dict[str, Any]]:
    found = await client.get(
        "/fhir/Communication",
        params={"recipient": f"PractitionerRole/{world['karin-role']}", "_sort": "_lastUpdated"},
        headers=world["admin"],
    )
    assert found.status_code == 200, found.text
    return [entry["resource"] for entry in found.json().get("entry", [])]


# -- the push and the link --------------------------------------------------------------
async def test_a_municipality_pushes_its_sip_by_conditional_update_and_the_contract_links_it(
    client: httpx.AsyncClient, world: World
) -> None:
    created = await push_sip(client, world, sip(world))
    assert created.status_code == 201, created.text  # not a contract: the contract profile does not apply
    again = await push_sip(client, world, sip(world, description="Hemtjänst två gånger om dagen"))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == created.json()["id"] and again.json()["meta"]["versionId"] == "2"
    found = await client.get(
        "/fhir/CarePlan", params={"identifier": f"{SIP_SYSTEM}|SIP-2026-0042"}, headers=world["admin"]
    )
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [created.json()["id"]]  # one SIP, not two

    plan = await linked_world(client, world)
    assert plan["supportingInfo"] == [{"reference": f"CarePlan/{world[n]}"} for n in ("sip", "copd", "rehab")]
    linked = await client.get(
        "/fhir/CarePlan", params={"_id": world["contract"], "_include": "CarePlan:*"}, headers=world["doctor-token"]
    )
    assert linked.status_code == 200, linked.text


@pytest.mark.parametrize("form", ["absolute", "transaction-conditional", "transaction-urn"])
async def test_every_literal_form_of_the_link_is_stored_as_a_relative_reference(
    client: httpx.AsyncClient, world: World, form: str
) -> None:
    pushed = await push_sip(client, world, sip(world))
    sip_id = pushed.json()["id"]
    if form == "absolute":
        body = anna_contract(world, [{"reference": f"{BASE}/fhir/CarePlan/{sip_id}"}])
        response = await client.post("/fhir/CarePlan", json=body, headers=world["doctor-token"])
        assert response.status_code == 201, response.text
        stored = response.json()
    else:
        urn = f"urn:uuid:{uuid.uuid4()}"
        entries = []
        if form == "transaction-urn":  # a COPD plan written in the same transaction
            copd = builders.care_plan(
                world["anna"], title="Vårdplan KOL", category=[concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "vardplan")]
            )
            entries.append({"fullUrl": urn, "resource": copd, "request": {"method": "POST", "url": "CarePlan"}})
            target = urn
        else:
            target = f"CarePlan?identifier={SIP_SYSTEM}|SIP-2026-0042"
        body = anna_contract(world, [{"reference": target}])
        entries.append({"resource": body, "request": {"method": "POST", "url": "CarePlan"}})
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        response = await client.post("/fhir", json=bundle, headers=world["doctor-token"])
        assert response.status_code == 200, response.text
        location = response.json()["entry"][-1]["response"]["location"]
        read = await client.get(f"/fhir/{location.split('/_history')[0]}", headers=world["doctor-token"])
        stored = read.json()
        if form == "transaction-urn":
            copd_location = response.json()["entry"][0]["response"]["location"]
            sip_id = copd_location.split("/")[1]
    assert stored["supportingInfo"] == [{"reference": f"CarePlan/{sip_id}"}]


async def _refused(client: httpx.AsyncClient, world: World, body: dict[str, Any], status: int = 422) -> list[str]:
    """The contract is refused with an OperationOutcome, and nothing is written."""
    before = await client.get("/fhir/CarePlan", params={"subject": f"Patient/{world['anna']}"}, headers=world["admin"])
    response = await client.post("/fhir/CarePlan", json=body, headers=world["doctor-token"])
    found = expressions(outcome(response, status))
    after = await client.get("/fhir/CarePlan", params={"subject": f"Patient/{world['anna']}"}, headers=world["admin"])
    assert len(after.json().get("entry", [])) == len(before.json().get("entry", []))
    return found


async def test_a_link_to_what_is_not_another_plan_of_the_same_patient_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    pushed = await push_sip(client, world, sip(world))
    sip_id = pushed.json()["id"]
    bertils = await client.post(
        "/fhir/CarePlan",
        json=builders.care_plan(world["bertil"], title="Bertils vårdplan"),
        headers=world["doctor-token"],
    )
    assert bertils.status_code == 201, bertils.text
    at = "CarePlan.supportingInfo[1].reference"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"reference": f"CarePlan/{bertils.json()['id']}"}, at),  # another patient's plan
        ({"reference": f"CarePlan/{uuid.uuid4()}"}, at),  # no such plan
        ({"reference": "https://fhir.annan-region.se/fhir/CarePlan/sip-1"}, at),  # another server's
        ({"reference": f"CarePlan/{sip_id}/_history/1"}, at),  # one version of it
        ({"identifier": {"system": SIP_SYSTEM, "value": "SIP-2026-0042"}}, at),  # an identifier alone
        ({"reference": f"Goal/{world['anna-goal']}"}, "CarePlan.supportingInfo[1]"),  # not a plan
    ]
    for link, where in cases:
        body = anna_contract(world, [{"reference": f"CarePlan/{sip_id}"}, link])
        assert any(e.startswith(where) for e in await _refused(client, world, body)), link


async def test_a_plan_the_writer_may_not_see_is_answered_as_one_that_does_not_exist(
    client: httpx.AsyncClient, world: World
) -> None:
    """Carl is cared for by the private clinic only: the health centre's doctor may not know
    that his plan exists, so linking it tells no more than linking an id that was never used."""
    carl = await client.post("/fhir/Patient", json=builders.patient(given="Carl"), headers=world["admin"])
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{carl.json()['id']}"},
        "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
    }
    assert (await client.post("/fhir/CareTeam", json=team, headers=world["admin"])).status_code == 201
    plan = builders.care_plan(carl.json()["id"], title="Carls hemliga plan")
    carls = await client.post("/fhir/CarePlan", json=plan, headers=world["admin"])
    assert carls.status_code == 201, carls.text
    told = {}
    for target in (carls.json()["id"], str(uuid.uuid4())):
        body = anna_contract(world, [{"reference": f"CarePlan/{target}"}])
        response = await client.post("/fhir/CarePlan", json=body, headers=world["doctor-token"])
        issue = outcome(response, 422)["issue"][0]
        told[target] = (issue["code"], issue["diagnostics"].replace(target, "ID"), tuple(issue["expression"]))
    assert len(set(told.values())) == 1, told


async def test_a_contained_plan_is_not_a_link(client: httpx.AsyncClient, world: World) -> None:
    """What happens to a contained plan: refused, since a linked plan is its owner's own resource."""
    contained = dict(sip(world), id="sip")
    contained.pop("identifier")
    body = dict(anna_contract(world, [{"reference": "#sip"}]), contained=[contained])
    assert "CarePlan.supportingInfo[0].reference" in await _refused(client, world, body)


async def test_a_contract_cannot_link_itself_and_a_linked_plan_cannot_move_to_another_patient(
    client: httpx.AsyncClient, world: World
) -> None:
    plan = await linked_world(client, world)
    plan["supportingInfo"] = [{"reference": f"CarePlan/{world['contract']}"}]
    response = await client.put(f"/fhir/CarePlan/{world['contract']}", json=plan, headers=world["doctor-token"])
    assert "CarePlan.supportingInfo[0].reference" in expressions(outcome(response, 422))
    moved = dict(sip(world, patient="bertil"), id=world["sip"])
    response = await client.put(f"/fhir/CarePlan/{world['sip']}", json=moved, headers=world["admin"])
    assert "CarePlan.subject" in expressions(outcome(response, 422))
    read = await client.get(f"/fhir/CarePlan/{world['sip']}", headers=world["admin"])
    assert read.json()["subject"] == {"reference": f"Patient/{world['anna']}"}  # nothing changed


# -- the signal ---------------------------------------------------------------------------
async def test_a_revised_sip_signals_the_contracts_fixed_care_contact(client: httpx.AsyncClient, world: World) -> None:
    await linked_world(client, world)
    assert [m["topic"]["text"] for m in await messages_to_karin(client, world)] == ["Patientkontraktet har upprättats"]
    revised = await push_sip(client, world, sip(world, description="Ny insats: trygghetslarm"))
    assert revised.status_code == 200, revised.text
    again = await push_sip(client, world, sip(world, description="Ny insats: trygghetslarm"))
    assert again.status_code == 200 and again.json()["meta"]["versionId"] == "2"  # unchanged: no new version
    messages = await messages_to_karin(client, world)
    assert [m["topic"]["text"] for m in messages] == ["Patientkontraktet har upprättats", "En länkad plan har ändrats"]
    signal = messages[-1]
    assert signal["about"] == [
        {"reference": f"CarePlan/{world['sip']}/_history/2"},
        {"reference": f"CarePlan/{world['contract']}/_history/1"},
    ]
    assert signal["subject"] == {"reference": f"Patient/{world['anna']}"}
    assert "SIP: hemsjukvård och hemtjänst" in signal["payload"][0]["contentString"]
    unlinked = await other_plan(client, world, "vardplan", "Olänkad plan")
    plan = await client.get(f"/fhir/CarePlan/{unlinked}", headers=world["doctor-token"])
    changed = dict(plan.json(), description="Ändrad")
    assert (
        await client.put(f"/fhir/CarePlan/{unlinked}", json=changed, headers=world["doctor-token"])
    ).status_code == 200
    assert len(await messages_to_karin(client, world)) == 2  # a plan no contract links signals nobody


# -- NPÖ and the overview -------------------------------------------------------------------
async def test_npo_names_the_link_in_the_contract_and_answers_the_sip_as_its_own_plan(
    client: httpx.AsyncClient, world: World
) -> None:
    await linked_world(client, world)
    patient = await client.get(f"/fhir/Patient/{world['anna']}", headers=world["admin"])
    number = patient.json()["identifier"][0]["value"]
    for caller in ("admin", "anna-token"):
        headers = {**world[caller], "Content-Type": "text/xml"}
        response = await client.post(PATH, content=request(number), headers=headers)
        assert response.status_code == 200, response.text
        answer = etree.fromstring(response.content).find(f"{{{SOAP}}}Body")[0]
        etree.XMLSchema(etree.parse(str(RESPONDER_XSD))).assertValid(answer)
        plans = {}
        for plan in answer.iter(f"{{{answer.nsmap[None]}}}carePlan"):
            html = base64.b64decode(plan.findtext(f"{C}carePlanBody/{C}content/{C}value") or "").decode()
            plans[plan.findtext(f"{C}carePlanHeader/{C}documentTitle")] = (plan, html)
        sip_plan, sip_html = plans["SIP: hemsjukvård och hemtjänst"]
        assert sip_plan.findtext(f"{C}carePlanBody/{C}typeOfCarePlanEnum") == "SIP"
        assert sip_plan.findtext(f"{C}carePlanHeader/{C}documentId") == "SIP-2026-0042"
        assert plans["Rehabilitering efter fall"][0].findtext(f"{C}carePlanBody/{C}typeOfCarePlanEnum") == "RP"
        _, contract_html = plans["Patientkontrakt för Anna"]
        assert "Länkade planer" in contract_html
        assert (
            "SIP: hemsjukvård och hemtjänst (Samordnad individuell plan (SIP), dokument-id SIP-2026-0042)"
            in contract_html
        )
        assert (
            "Vårdplan KOL (Vårdplan" in contract_html
            and "Rehabilitering efter fall (Rehabiliteringsplan" in contract_html
        )
        assert "Länkade planer" not in sip_html


async def test_the_overview_shows_the_linked_plans_with_who_is_responsible(
    client: httpx.AsyncClient, world: World
) -> None:
    await linked_world(client, world)
    response = await client.get(
        f"/overview/{world['anna']}", headers={**world["anna-token"], "Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    [shown] = response.json()["contracts"]
    plans = {plan["kind"]: plan for plan in shown["other_plans"]}
    assert plans["sip"]["held_by"] == "Gävle kommun" and plans["sip"]["linked"]
    assert plans["vardplan"]["held_by"] == "Doctor Lind" and plans["vardplan"]["linked"]
    assert plans["rehabiliteringsplan"]["held_by"] == "Vårdcentralen Söder"  # no author: its care team's unit
    page = await client.get(f"/overview/{world['anna']}", headers={**world["anna-token"], "Accept": "text/html"})
    words = " ".join(re.sub("<[^>]+>", "", page.text).split())
    assert "Samordnad individuell plan (SIP) – ansvarig: Gävle kommun" in words


# -- access --------------------------------------------------------------------------------
async def test_the_patient_sees_their_sip_and_the_link_and_others_do_not(
    client: httpx.AsyncClient, world: World
) -> None:
    await linked_world(client, world)
    for name in ("sip", "contract"):
        mine = await client.get(f"/fhir/CarePlan/{world[name]}", headers=world["anna-token"])
        assert mine.status_code == 200, mine.text
    assert {"reference": f"CarePlan/{world['sip']}"} in mine.json()["supportingInfo"]
    for caller in ("stranger-token", "bertil-token"):
        for name in ("sip", "contract"):
            theirs = await client.get(f"/fhir/CarePlan/{world[name]}", headers=world[caller])
            assert theirs.status_code in (403, 404), (caller, theirs.text)
            assert theirs.json()["resourceType"] == "OperationOutcome" and "hemtjänst" not in theirs.text
        search = await client.get(
            "/fhir/CarePlan", params={"identifier": f"{SIP_SYSTEM}|SIP-2026-0042"}, headers=world[caller]
        )
        assert "hemtjänst" not in search.text
    written = await client.put(
        f"/fhir/CarePlan/{world['sip']}",
        json=dict(sip(world), id=world["sip"], status="revoked"),
        headers=world["anna-token"],
    )
    assert written.status_code == 403, written.text  # a patient's token reads; it does not rewrite the SIP


async def test_a_municipality_without_a_care_relation_cannot_push_a_sip(
    client: httpx.AsyncClient, world: World
) -> None:
    refused = await push_sip(client, world, sip(world, patient="bertil", number="SIP-2026-0099"))
    body = outcome(refused, 403)
    assert "relation" in json.dumps(body)
    found = await client.get(
        "/fhir/CarePlan", params={"identifier": f"{SIP_SYSTEM}|SIP-2026-0099"}, headers=world["admin"]
    )
    assert found.json().get("entry", []) == []  # nothing was stored
    # the same system pushes the SIP of Anna, whose care team it is on
    pushed = await push_sip(client, world, sip(world))
    assert pushed.status_code == 201, pushed.text
