"""``$meta-add`` and ``$meta-delete`` as a client sees them (R4 resource-operation-meta-add.html,
-meta-delete.html): Parameters in and out, each change a new version through the write path
(history, If-Match, no version for no change), malformed input a 400 naming the element."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import builders
from tests.support.api import create, expressions, history, outcome

TAG = {"system": "https://fhirbridge.se/fhir/CodeSystem/test", "code": "uppfoljning", "display": "Uppföljning"}
OTHER = {"system": "https://fhirbridge.se/fhir/CodeSystem/test", "code": "annat"}


def _meta(**labels: Any) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": labels}]}


async def test_meta_add_writes_a_new_version_once_and_meta_delete_takes_it_away(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    url = f"/fhir/Patient/{patient['id']}"
    added = await client.post(f"{url}/$meta-add", json=_meta(tag=[TAG, OTHER]))
    assert added.status_code == 200, added.text
    assert added.json() == {
        "resourceType": "Parameters",
        "parameter": [{"name": "return", "valueMeta": {"tag": [TAG, OTHER]}}],
    }
    assert added.headers["etag"] == 'W/"2"'
    again = await client.post(f"{url}/$meta-add", json=_meta(tag=[{**TAG, "display": "annan text"}]))
    assert again.status_code == 200 and again.headers["etag"] == 'W/"2"'  # the same system and code: no change
    read = (await client.get(url)).json()
    assert read["meta"]["tag"] == [TAG, OTHER] and read["name"] == patient["name"]
    tagged = await client.get("/fhir/Patient", params={"_tag": f"{TAG['system']}|{TAG['code']}"})
    assert [e["resource"]["id"] for e in tagged.json()["entry"]] == [patient["id"]]
    deleted = await client.post(f"{url}/$meta-delete", json=_meta(tag=[{"system": TAG["system"], "code": TAG["code"]}]))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["parameter"][0]["valueMeta"] == {"tag": [OTHER]}
    versions = await history(client, f"Patient/{patient['id']}/_history")
    assert [e["request"]["method"] for e in versions] == ["PATCH", "PATCH", "POST"]
    untagged = await client.get("/fhir/Patient", params={"_tag": f"{TAG['system']}|{TAG['code']}"})
    assert "entry" not in untagged.json()


async def test_if_match_and_what_does_not_exist(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    url = f"/fhir/Patient/{patient['id']}"
    outcome(await client.post(f"{url}/$meta-add", json=_meta(tag=[TAG]), headers={"If-Match": 'W/"7"'}), 412)
    outcome(await client.post("/fhir/Patient/nobody/$meta-add", json=_meta(tag=[TAG])), 404)
    assert (await client.delete(url)).status_code == 204
    outcome(await client.post(f"{url}/$meta-delete", json=_meta(tag=[TAG])), 404)


async def test_malformed_parameters_are_400_naming_the_element_and_change_nothing(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    url = f"/fhir/Patient/{patient['id']}/$meta-add"
    cases: list[tuple[Any, str]] = [
        ({"resourceType": "Patient"}, "Parameters"),
        ({"resourceType": "Parameters", "parameter": [{"name": "labels", "valueMeta": {}}]}, "Parameters.parameter"),
        (_meta(versionId="9"), "Parameters.parameter[0].valueMeta"),
        (_meta(tag=[{"code": "x"}]), "Parameters.parameter[0].valueMeta.tag[0]"),
        (_meta(security=[]), "Parameters.parameter[0].valueMeta.security"),
        (_meta(profile=[7]), "Parameters.parameter[0].valueMeta.profile[0]"),
    ]
    for body, where in cases:
        assert expressions(outcome(await client.post(url, json=body), 400)) == [where], body
    assert (await client.get(f"/fhir/Patient/{patient['id']}")).json()["meta"]["versionId"] == "1"
