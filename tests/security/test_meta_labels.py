"""``$meta-add`` and ``$meta-delete`` in production mode: a security label that keeps a plan from
the patient takes effect for her next read at once, either way, and only a caller who may
update the resource changes its labels (she cannot lift the label that hides a plan from her)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.callers import admin, anna_writer, doctor, relative, stranger
from tests.security.tokens import SigningKey
from tests.security.world import NOT_FOR_PATIENT, World, patient_token
from tests.support.api import outcome


def _labels(*security: dict[str, str]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"security": list(security)}}]}


async def _labelled(client: httpx.AsyncClient, key: SigningKey, url: str) -> tuple[str, list[dict[str, Any]]]:
    plan = (await client.get(url, headers=admin(key))).json()
    return plan["meta"]["versionId"], plan["meta"].get("security", [])


async def test_a_label_added_or_removed_decides_the_patients_next_read_at_once(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    anna = patient_token(rsa, world, "anna")
    url = f"/fhir/CarePlan/{world['anna-plan']}"
    assert (await anyone.get(url, headers=anna)).status_code == 200  # read (and judged) before the label
    added = await anyone.post(f"{url}/$meta-add", json=_labels(NOT_FOR_PATIENT), headers=doctor(rsa, world))
    assert added.status_code == 200, added.text
    assert added.json()["parameter"][0]["valueMeta"]["security"] == [NOT_FOR_PATIENT]
    assert added.headers["etag"] == 'W/"2"'
    outcome(await anyone.get(url, headers=anna), 404)
    outcome(await anyone.get(f"{url}/$meta", headers=anna), 404)
    everything = await anyone.get(f"/fhir/Patient/{world['anna']}/$everything", headers=anna)
    assert world["anna-plan"] not in everything.text
    removed = await anyone.post(f"{url}/$meta-delete", json=_labels(NOT_FOR_PATIENT), headers=doctor(rsa, world))
    assert removed.status_code == 200, removed.text
    assert "security" not in removed.json()["parameter"][0]["valueMeta"]
    assert (await anyone.get(url, headers=anna)).status_code == 200
    assert await _labelled(anyone, rsa, url) == ("3", [])


async def test_the_patient_cannot_lift_a_label_that_hides_a_plan_from_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    url = f"/fhir/CarePlan/{world['anna-internal-plan']}"
    hidden = outcome(
        await anyone.post(f"{url}/$meta-delete", json=_labels(NOT_FOR_PATIENT), headers=anna_writer(rsa, world)), 404
    )
    nothing = outcome(
        await anyone.post(
            "/fhir/CarePlan/no-such-plan/$meta-delete", json=_labels(NOT_FOR_PATIENT), headers=anna_writer(rsa, world)
        ),
        404,
    )
    said = hidden["issue"][0]["diagnostics"].replace(world["anna-internal-plan"], "ID")
    assert said == nothing["issue"][0]["diagnostics"].replace("no-such-plan", "ID")  # as if it did not exist
    outcome(await anyone.post(f"{url}/$meta-delete", json=_labels(NOT_FOR_PATIENT), headers=relative(rsa, world)), 404)
    assert await _labelled(anyone, rsa, url) == ("1", [NOT_FOR_PATIENT])
    own = f"/fhir/CarePlan/{world['anna-plan']}"
    tag = {"system": "https://fhirbridge.se/fhir/CodeSystem/test", "code": "mine"}
    outcome(await anyone.post(f"{own}/$meta-add", json=_labels(tag), headers=anna_writer(rsa, world)), 403)
    outcome(await anyone.post(f"{own}/$meta-add", json=_labels(tag), headers=stranger(rsa, world)), 403)
    outcome(await anyone.post(f"{own}/$meta-add", json=_labels(tag), headers=patient_token(rsa, world, "anna")), 403)
    assert await _labelled(anyone, rsa, own) == ("1", [])
