"""patch and conditional patch with JSON Patch, as a client sees them (R4 http.html#patch):
processed as an update, with its version, history, rules and errors."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM
from tests.support import builders
from tests.support.api import create, expressions, history, outcome, system_history_mark

JSON_PATCH = {"Content-Type": "application/json-patch+json"}


async def patch(
    client: httpx.AsyncClient, url: str, operations: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.patch(url, json=operations, headers={**JSON_PATCH, **(headers or {})})


async def test_a_patch_writes_the_next_version_and_history_tells_it_was_a_patch(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    response = await patch(
        client,
        url,
        [
            {"op": "test", "path": "/gender", "value": "male"},
            {"op": "replace", "path": "/gender", "value": "female"},
            {"op": "add", "path": "/name/0/given/-", "value": "Maria"},
        ],
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["gender"] == "female" and patched["name"][0]["given"] == ["Tolvan", "Maria"]
    assert patched["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'
    assert response.headers["location"].endswith(f"/Patient/{created['id']}/_history/2")
    assert (await client.get(url)).json() == patched
    assert (await client.get(f"{url}/_history/1")).json()["gender"] == "male"
    entries = await history(client, f"Patient/{created['id']}/_history")
    assert [(e["request"]["method"], e["response"]["etag"]) for e in entries] == [("PATCH", 'W/"2"'), ("POST", 'W/"1"')]


async def test_if_match_makes_a_patch_version_specific(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    change = [{"op": "replace", "path": "/gender", "value": "female"}]
    assert (await patch(client, url, change, {"If-Match": 'W/"1"'})).status_code == 200
    before = await system_history_mark(client)
    stale = outcome(
        await patch(client, url, [{"op": "replace", "path": "/gender", "value": "other"}], {"If-Match": 'W/"1"'}), 412
    )
    assert "version 2" in stale["issue"][0]["diagnostics"]
    assert await system_history_mark(client) == before
    assert (await client.get(url)).json()["gender"] == "female"


async def test_a_malformed_patch_is_400_naming_the_operation(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    before = await system_history_mark(client)
    for document, where in (
        ({"op": "replace", "path": "/gender", "value": "female"}, "JsonPatch"),
        ([{"op": "replace", "path": "/gender", "value": "female"}, {"op": "rename", "path": "/x"}], "JsonPatch[1].op"),
        ([{"op": "replace", "path": "gender", "value": "female"}], "JsonPatch[0].path"),
        ([{"op": "add", "path": "/gender"}], "JsonPatch[0].value"),
        ([{"op": "copy", "path": "/gender"}], "JsonPatch[0].from"),
        (["replace"], "JsonPatch[0]"),
    ):
        assert expressions(outcome(await patch(client, url, document), 400)) == [where], document
    broken = await client.patch(url, content=b"[{", headers=JSON_PATCH)
    outcome(broken, 400)
    assert await system_history_mark(client) == before


async def test_xml_patch_and_unnamed_bodies_are_415(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    xml_patch = outcome(
        await client.patch(url, content=b"<x/>", headers={"Content-Type": "application/xml-patch+xml"}), 415
    )
    assert "XML Patch is not supported" in xml_patch["issue"][0]["diagnostics"]
    outcome(await client.patch(url, content=b"[]"), 415)
    outcome(await client.patch(url, content=b"[]", headers={"Content-Type": "text/plain"}), 415)


async def test_a_failing_test_operation_is_409_and_changes_nothing(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    before = await system_history_mark(client)
    failed = outcome(
        await patch(
            client,
            url,
            [
                {"op": "replace", "path": "/gender", "value": "female"},
                {"op": "test", "path": "/name/0/family", "value": "Svensson"},
            ],
        ),
        409,
    )
    assert expressions(failed) == ["JsonPatch[1]"]
    assert "test of /name/0/family failed" in failed["issue"][0]["diagnostics"]
    # RFC 6902 §4.6: JSON's equality, in which false is not 0
    outcome(await patch(client, url, [{"op": "test", "path": "/active", "value": 1}]), 409)
    outcome(await patch(client, url, [{"op": "remove", "path": "/deceasedBoolean"}]), 409)
    assert await system_history_mark(client) == before


async def test_a_patch_that_changes_id_or_type_or_breaks_the_resource_is_refused_as_an_update_would_be(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    before = await system_history_mark(client)
    moved = outcome(await patch(client, url, [{"op": "replace", "path": "/id", "value": "another"}]), 400)
    assert "Patient.id" in expressions(moved)
    outcome(await patch(client, url, [{"op": "replace", "path": "/resourceType", "value": "Practitioner"}]), 400)
    broken = [{"op": "replace", "path": "/gender", "value": "bogus"}]
    by_patch = outcome(await patch(client, url, broken), 400)
    by_put = outcome(await client.put(url, json=dict(created, gender="bogus")), 400)
    assert expressions(by_patch) == expressions(by_put) == ["Patient.gender"]
    outcome(await patch(client, url, [{"op": "remove", "path": ""}]), 409)
    outcome(await patch(client, url, [{"op": "replace", "path": "", "value": []}]), 400)
    assert await system_history_mark(client) == before


async def test_a_patch_of_nothing_is_404_and_an_empty_patch_keeps_the_version(client: httpx.AsyncClient) -> None:
    outcome(await patch(client, "/fhir/Patient/nobody", [{"op": "remove", "path": "/gender"}]), 404)
    created = await create(client, builders.patient())
    same = await patch(client, f"/fhir/Patient/{created['id']}", [])
    assert same.status_code == 200 and same.json()["meta"]["versionId"] == "1"
    assert (await client.delete(f"/fhir/Patient/{created['id']}")).status_code == 204
    outcome(await patch(client, f"/fhir/Patient/{created['id']}", [{"op": "remove", "path": "/gender"}]), 404)


async def test_conditional_patch_patches_the_one_match(client: httpx.AsyncClient) -> None:
    first = await create(client, builders.patient(family="Ek"))
    await create(client, builders.patient(family="Ek"))
    number = first["identifier"][0]
    change = [{"op": "replace", "path": "/gender", "value": "female"}]
    url = f"/fhir/Patient?identifier={number['system']}|{number['value']}"
    response = await patch(client, url, change)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == first["id"] and response.json()["meta"]["versionId"] == "2"
    outcome(await patch(client, "/fhir/Patient?family=Ek", change), 412)
    outcome(await patch(client, "/fhir/Patient?family=Nobody", change), 404)
    outcome(await patch(client, "/fhir/Patient", change), 400)


def _fixed_contact(practitioner: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": "fast-vardkontakt"}]}],
        "member": {"reference": f"Practitioner/{practitioner['id']}"},
    }


async def test_a_patch_that_makes_a_second_fixed_care_contact_gets_the_puts_409(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    anna = await create(client, builders.practitioner("SE2321000198-ANNA1", "Berg", "Anna"))
    bo = await create(client, builders.practitioner("SE2321000198-BO001", "Ek", "Bo"))
    subject = {"reference": f"Patient/{patient['id']}"}
    await create(
        client,
        {"resourceType": "CareTeam", "status": "active", "subject": subject, "participant": [_fixed_contact(anna)]},
    )
    other = await create(client, {"resourceType": "CareTeam", "status": "active", "subject": subject})
    url = f"/fhir/CareTeam/{other['id']}"
    before = await system_history_mark(client)
    by_patch = outcome(
        await patch(client, url, [{"op": "add", "path": "/participant", "value": [_fixed_contact(bo)]}]), 409
    )
    by_put = outcome(await client.put(url, json=dict(other, participant=[_fixed_contact(bo)])), 409)
    assert by_patch["issue"] == by_put["issue"]
    assert f"Practitioner/{anna['id']}" in by_patch["issue"][0]["diagnostics"]
    assert await system_history_mark(client) == before


async def test_a_patched_care_team_gets_its_provenance_as_an_update_does(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    anna = await create(client, builders.practitioner("SE2321000198-ANNA1", "Berg", "Anna"))
    team = await create(client, builders.care_team(patient["id"], anna["id"]))
    response = await patch(
        client, f"/fhir/CareTeam/{team['id']}", [{"op": "replace", "path": "/status", "value": "inactive"}]
    )
    assert response.status_code == 200, response.text
    found = await client.get("/fhir/Provenance", params={"target": f"CareTeam/{team['id']}"})
    targets = [t["reference"] for e in found.json()["entry"] for t in e["resource"]["target"]]
    assert f"CareTeam/{team['id']}/_history/2" in targets


async def test_meta_returns_the_labels_a_client_set(client: httpx.AsyncClient) -> None:
    tag = {"system": "https://fhirbridge.se/fhir/CodeSystem/test-tag", "code": "granskad"}
    created = await create(client, dict(builders.patient(), meta={"tag": [tag]}))
    for answer in (
        await client.get(f"/fhir/Patient/{created['id']}/$meta"),
        await client.post(f"/fhir/Patient/{created['id']}/$meta"),
    ):
        assert answer.status_code == 200, answer.text
        assert answer.json()["parameter"] == [{"name": "return", "valueMeta": {"tag": [tag]}}]
    outcome(await client.get("/fhir/Patient/nobody/$meta"), 404)
