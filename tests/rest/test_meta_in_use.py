"""``$meta`` at type and system level as a client sees it (R4 resource-operation-meta.html): a
Parameters whose ``return`` Meta is the union of the profiles, tags and security labels in use on
the live resources, each once (with the display a resource gives it), GET and POST alike."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import builders
from tests.support.api import create

TEST_SYSTEM = "https://fhirbridge.se/fhir/CodeSystem/test"
TAG = {"system": TEST_SYSTEM, "code": "uppfoljning", "display": "Uppföljning"}
COMMA = {"system": TEST_SYSTEM, "code": "a,b"}
GOAL_TAG = {"system": TEST_SYSTEM, "code": "mal"}
GONE = {"system": TEST_SYSTEM, "code": "borttagen"}
CONFIDENTIAL = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}


def _returned(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["resourceType"] == "Parameters" and [p["name"] for p in body["parameter"]] == ["return"]
    meta: dict[str, Any] = body["parameter"][0]["valueMeta"]
    return meta


async def test_type_and_system_level_give_the_union_of_the_labels_in_use(client: httpx.AsyncClient) -> None:
    first = await create(client, dict(builders.patient(), meta={"tag": [TAG, COMMA], "security": [CONFIDENTIAL]}))
    await create(client, dict(builders.patient(), meta={"tag": [{"system": TEST_SYSTEM, "code": "uppfoljning"}]}))
    await create(client, dict(builders.goal(first["id"], "Gå till affären"), meta={"tag": [GOAL_TAG]}))
    gone = await create(client, dict(builders.patient(), meta={"tag": [GONE]}))
    assert (await client.delete(f"/fhir/Patient/{gone['id']}")).status_code == 204

    patients = _returned(await client.get("/fhir/Patient/$meta"))
    assert sorted(patients["tag"], key=lambda c: c["code"]) == [COMMA, TAG]  # once, the deleted one's not at all
    assert patients["security"] == [CONFIDENTIAL]
    assert _returned(await client.post("/fhir/Patient/$meta")) == patients
    assert _returned(await client.get("/fhir/Goal/$meta")) == {"tag": [GOAL_TAG]}
    assert _returned(await client.get("/fhir/CareTeam/$meta")) == {}

    everywhere = _returned(await client.get("/fhir/$meta"))
    assert sorted(c["code"] for c in everywhere["tag"]) == ["a,b", "mal", "uppfoljning"]
    assert everywhere["security"] == [CONFIDENTIAL]
    assert _returned(await client.post("/fhir/$meta")) == everywhere


async def test_profiles_in_use_are_listed(client: httpx.AsyncClient) -> None:
    core = "http://hl7.org/fhir/StructureDefinition/Patient"
    await create(client, dict(builders.patient(), meta={"profile": [core]}))
    await create(client, dict(builders.patient(), meta={"profile": [core]}))
    assert _returned(await client.get("/fhir/Patient/$meta")) == {"profile": [core]}
    assert core in _returned(await client.get("/fhir/$meta"))["profile"]
    assert _returned(await client.get("/fhir/Goal/$meta")) == {}


async def test_a_label_removed_from_the_last_resource_is_no_longer_in_use(client: httpx.AsyncClient) -> None:
    patient = await create(client, dict(builders.patient(), meta={"tag": [TAG]}))
    assert _returned(await client.get("/fhir/Patient/$meta"))["tag"] == [TAG]
    removed = await client.post(
        f"/fhir/Patient/{patient['id']}/$meta-delete",
        json={"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [TAG]}}]},
    )
    assert removed.status_code == 200, removed.text
    assert "tag" not in _returned(await client.get("/fhir/Patient/$meta"))
