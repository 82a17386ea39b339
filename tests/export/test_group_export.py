"""Group-level export (Bulk Data 2.0 export.html#endpoint---group-of-patients): a stored R4
Group of Patients (a region's follow-up cohort), written and read by the region's services only,
and ``Group/[id]/$export``, which holds its active members' Patients and compartments and
nothing else.  Each form a member reference may take is tried: what the write path accepts, and
that none of them widens the export."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.export.conftest import ASYNC, export, finished, ids, kick_off
from tests.security.callers import admin, doctor, service, stranger, unit_system
from tests.security.tokens import SigningKey
from tests.security.world import World, patient_token, refer
from tests.support import builders
from tests.support.api import outcome


def cohort(*entities: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A follow-up cohort: an actual Group of persons with these member entities."""
    group = dict(builders.group(), **more)
    if entities:
        group["member"] = [{"entity": entity} for entity in entities]
    return group


async def stored_group(client: httpx.AsyncClient, key: SigningKey, group: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/fhir/Group", json=group, headers=admin(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def patient_ids(found: dict[str, list[Any]]) -> set[str]:
    """The patients every exported resource belongs to (the Patients' own ids, the others' subject or patient)."""
    named = set()
    for resource_type, resources in found.items():
        for resource in resources:
            if resource_type == "Patient":
                named.add(resource["id"])
                continue
            for key in ("subject", "patient"):
                reference = resource.get(key)
                if isinstance(reference, dict) and "reference" in reference:
                    named.add(reference["reference"].split("/")[1])
    return named


async def test_a_group_export_holds_its_members_and_their_compartments_only(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    region = admin(rsa)
    group = await stored_group(anyone, rsa, cohort({"reference": f"Patient/{world['anna']}"}))
    everything = await export(anyone, region, "/fhir/Patient/$export")
    found = await export(anyone, region, f"/fhir/Group/{group['id']}/$export")
    assert ids(found, "Patient") == {world["anna"]}
    assert patient_ids(found) == {world["anna"]}
    assert ids(found, "CarePlan") == {
        plan["id"] for plan in everything["CarePlan"] if plan["subject"]["reference"] == f"Patient/{world['anna']}"
    }
    assert ids(found, "CarePlan") and ids(found, "Goal") and ids(found, "CareTeam")


@pytest.mark.parametrize("form", ["literal", "absolute", "identifier", "identifier-and-reference"])
async def test_a_member_named_in_any_form_is_stored_as_the_patient_and_exported_alone(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, form: str
) -> None:
    group = await stored_group(anyone, rsa, cohort(refer(form, world, "anna")))
    assert group["member"][0]["entity"]["reference"] == f"Patient/{world['anna']}"
    found = await export(anyone, admin(rsa), f"/fhir/Group/{group['id']}/$export")
    assert patient_ids(found) == {world["anna"]}


async def test_a_member_created_in_the_same_transaction_is_the_new_patient(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    newcomer = "urn:uuid:7f0c1c52-2f6e-4a8b-9d0e-3b1f4c5d6e7f"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": newcomer,
                "resource": builders.patient(family="Nyström"),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": cohort({"reference": newcomer}), "request": {"method": "POST", "url": "Group"}},
        ],
    }
    response = await anyone.post("/fhir", json=bundle, headers=admin(rsa))
    assert response.status_code == 200, response.text
    patient_url, group_url = (entry["response"]["location"] for entry in response.json()["entry"])
    patient_id, group_id = patient_url.split("/")[1], group_url.split("/")[1]
    found = await export(anyone, admin(rsa), f"/fhir/Group/{group_id}/$export")
    assert patient_ids(found) == {patient_id}
    assert patient_id not in (world["anna"], world["bertil"])


async def test_a_contained_patient_is_refused_as_a_member(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A contained Patient has no record of its own: whose compartment would it export?"""
    group = cohort({"reference": "#p1"}, contained=[dict(builders.patient(family="Inbäddad"), id="p1")])
    body = outcome(await anyone.post("/fhir/Group", json=group, headers=admin(rsa)), 422)
    assert body["issue"][0]["expression"] == ["Group.contained[0]"]


async def test_an_inactive_member_is_not_exported(anyone: httpx.AsyncClient, world: World, rsa: SigningKey) -> None:
    group = cohort({"reference": f"Patient/{world['anna']}"}, {"reference": f"Patient/{world['bertil']}"})
    group["member"][1]["inactive"] = True
    stored = await stored_group(anyone, rsa, group)
    found = await export(anyone, admin(rsa), f"/fhir/Group/{stored['id']}/$export")
    assert patient_ids(found) == {world["anna"]}


async def test_a_group_export_holds_what_its_caller_reads_of_the_members_no_more(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Another service (blocks and scopes apply to it): its Group export holds, type by type,
    what its own searches for the member find."""
    group = await stored_group(anyone, rsa, cohort({"reference": f"Patient/{world['anna']}"}))
    npo = service(rsa)
    found = await export(anyone, npo, f"/fhir/Group/{group['id']}/$export")
    searched = {}
    for resource_type in await export(anyone, npo, "/fhir/Patient/$export"):
        key = "_id" if resource_type == "Patient" else "patient"
        value = world["anna"] if resource_type == "Patient" else f"Patient/{world['anna']}"
        response = await anyone.get(f"/fhir/{resource_type}", params={key: value, "_count": "1000"}, headers=npo)
        assert response.status_code == 200, response.text
        searched[resource_type] = {e["resource"]["id"] for e in response.json().get("entry", [])}
    assert {t: ids(found, t) for t in found} == {t: i for t, i in searched.items() if i}
    assert "Provenance" in found


async def test_an_unknown_identifier_is_refused_naming_the_member(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    unknown = {"identifier": {"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"}}
    response = await anyone.post("/fhir/Group", json=cohort(unknown), headers=admin(rsa))
    body = outcome(response, response.status_code)
    assert 400 <= response.status_code < 500
    assert any("Group.member" in expression for issue in body["issue"] for expression in issue.get("expression", []))


async def test_only_the_regions_services_read_or_write_groups(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A Group names many patients: a member's own token may not read it (her co-members), nor a
    user or a unit's system; a service acting for no unit may."""
    group = await stored_group(
        anyone, rsa, cohort({"reference": f"Patient/{world['anna']}"}, {"reference": f"Patient/{world['bertil']}"})
    )
    url = f"/fhir/Group/{group['id']}"
    anna = patient_token(rsa, world, "anna", scope="patient/*.rs")
    for headers in (anna, doctor(rsa, world), stranger(rsa, world), unit_system(rsa, world, "hospital")):
        outcome(await anyone.get(url, headers=headers), 404)
        searched = await anyone.get("/fhir/Group", params={"member": f"Patient/{world['anna']}"}, headers=headers)
        assert searched.status_code == 200, searched.text
        assert not searched.json().get("entry") and searched.json().get("total", 0) == 0, searched.text
        outcome(await anyone.get(f"{url}/$export", headers={**ASYNC, **headers}), 403 if headers is anna else 404)
    for path, params in (
        ("/fhir/Patient", {"_revinclude": "Group:member"}),
        ("/fhir/Group/_history", {}),
    ):
        answer = await anyone.get(path, params=params, headers=anna)
        assert answer.status_code == 200, answer.text
        assert not [e for e in answer.json().get("entry", []) if e["resource"]["resourceType"] == "Group"], path
    outcome(await anyone.get(f"{url}/_history", headers=anna), 404)
    outcome(await anyone.get("/fhir/Patient", params={"_has:Group:member:_id": group["id"]}, headers=anna), 403)
    everything = await anyone.get(f"/fhir/Patient/{world['anna']}/$everything", headers=anna)
    assert everything.status_code == 200, everything.text
    assert not [e for e in everything.json().get("entry", []) if e["resource"]["resourceType"] == "Group"]
    for headers in (doctor(rsa, world), unit_system(rsa, world, "hospital")):
        written = cohort({"reference": f"Patient/{world['anna']}"})
        outcome(await anyone.post("/fhir/Group", json=written, headers=headers), 403)
    assert (await anyone.get(url, headers=service(rsa))).status_code == 200


async def test_a_group_kick_off_is_checked_before_anything_is_stored(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    region = admin(rsa)
    group = await stored_group(anyone, rsa, cohort({"reference": f"Patient/{world['anna']}"}))
    outcome(await anyone.get("/fhir/Group/no-such-group/$export", headers={**ASYNC, **region}), 404)
    refused = outcome(
        await anyone.get(
            f"/fhir/Group/{group['id']}/$export", params={"_type": "Practitioner"}, headers={**ASYNC, **region}
        ),
        400,
    )
    assert refused["issue"][0]["expression"] == ["_type"]
    manifest = await finished(anyone, await kick_off(anyone, region, f"/fhir/Group/{group['id']}/$export"), region)
    assert manifest["request"].endswith(f"/Group/{group['id']}/$export")


async def test_the_capability_statement_declares_group_and_its_export(
    anyone: httpx.AsyncClient, rsa: SigningKey
) -> None:
    statement = (await anyone.get("/fhir/metadata")).json()
    group = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Group")
    assert {"member", "characteristic", "code", "type", "identifier", "actual"} <= {
        p["name"] for p in group["searchParam"]
    }
    assert any(
        o["name"] == "export" and o["definition"].endswith("/group-export") for o in group.get("operation", [])
    ), group


async def test_a_resource_of_two_members_searched_apart_is_exported_once(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Members are searched a batch at a time: one Provenance of both patients, found with
    each, is written with the first batch only."""
    monkeypatch.setattr("fhirbridge.export.plan.MEMBERS_AT_ONCE", 1)
    both = dict(
        builders.provenance(f"Patient/{world['anna']}", world["doctor"]),
        target=[{"reference": f"Patient/{world['anna']}"}, {"reference": f"Patient/{world['bertil']}"}],
    )
    provenance = await anyone.post("/fhir/Provenance", json=both, headers=admin(rsa))
    assert provenance.status_code == 201, provenance.text
    group = await stored_group(
        anyone, rsa, cohort({"reference": f"Patient/{world['anna']}"}, {"reference": f"Patient/{world['bertil']}"})
    )
    found = await export(anyone, admin(rsa), f"/fhir/Group/{group['id']}/$export", _type="Patient,Provenance")
    assert ids(found, "Patient") == {world["anna"], world["bertil"]}
    exported = [resource["id"] for resource in found["Provenance"]]
    assert exported.count(provenance.json()["id"]) == 1
    assert len(exported) == len(set(exported))


@pytest.mark.parametrize("form", ["literal", "identifier", "member"])
async def test_no_resource_may_stand_for_a_group_of_patients(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, form: str
) -> None:
    """A Goal about a Group would be about no patient the policy could judge (readable by all),
    and a Group of Groups would hide members from the export: refused however the Group is named."""
    group = await stored_group(anyone, rsa, cohort({"reference": f"Patient/{world['anna']}"}))
    named = (
        {"reference": f"Group/{group['id']}"}
        if form != "identifier"
        else {"type": "Group", "identifier": group["identifier"][0]}
    )
    if form == "member":
        resource, element = cohort(named), "Group.member[0].entity"
    else:
        resource, element = dict(builders.goal(world["anna"], "Promenad"), subject=named), "Goal.subject"
    for headers in (doctor(rsa, world), admin(rsa)):
        body = outcome(await anyone.post(f"/fhir/{resource['resourceType']}", json=resource, headers=headers), 422)
        where = f"{element}.type" if form == "identifier" else f"{element}.reference"
        assert where in [e for issue in body["issue"] for e in issue.get("expression", [])], body
