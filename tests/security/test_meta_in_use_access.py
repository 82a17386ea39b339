"""``$meta`` at type and system level in production mode: the labels in use are gathered only
from what the caller may see.  A label's name can itself tell of a resource (a ``psychiatry`` tag
on another patient's plan, the label that keeps a plan from its patient), so a patient's token
and an outside unit's user see only the labels of what they may read; the region's integration
sees them all; a type the token's scopes do not cover is a 403 (type level) or left out (system)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.callers import admin, doctor, stranger
from tests.security.tokens import SigningKey
from tests.security.world import NOT_FOR_PATIENT, World, patient_token
from tests.support.api import outcome

PSYCHIATRY = {"system": "https://fhirbridge.se/fhir/CodeSystem/test", "code": "psykiatri"}
OWN = {"system": "https://fhirbridge.se/fhir/CodeSystem/test", "code": "egen"}


async def _tag(client: httpx.AsyncClient, key: SigningKey, url: str, tag: dict[str, str]) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [tag]}}]}
    answer = await client.post(f"{url}/$meta-add", json=body, headers=admin(key))
    assert answer.status_code == 200, answer.text


async def _codes(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> set[str]:
    answer = await client.get(url, headers=headers)
    assert answer.status_code == 200, answer.text
    meta: dict[str, Any] = answer.json()["parameter"][0]["valueMeta"]
    return {coding["code"] for key in ("tag", "security") for coding in meta.get(key, [])}


async def test_a_label_is_listed_only_to_callers_who_may_see_a_resource_carrying_it(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await _tag(anyone, rsa, f"/fhir/CarePlan/{world['bertil-plan']}", PSYCHIATRY)
    await _tag(anyone, rsa, f"/fhir/CarePlan/{world['anna-plan']}", OWN)
    anna = patient_token(rsa, world, "anna")
    everything = {"psykiatri", "egen", NOT_FOR_PATIENT["code"]}
    for url in ("/fhir/CarePlan/$meta", "/fhir/$meta"):
        assert await _codes(anyone, url, admin(rsa)) == everything
        assert await _codes(anyone, url, doctor(rsa, world)) == everything  # the patients' care unit
        assert await _codes(anyone, url, anna) == {"egen"}  # not the label that hides a plan from her
        assert await _codes(anyone, url, patient_token(rsa, world, "bertil")) == {"psykiatri"}
        assert await _codes(anyone, url, stranger(rsa, world)) == set()  # an outside unit: none of it
    assert await _codes(anyone, "/fhir/Goal/$meta", anna) == set()


async def test_scopes_decide_the_types(anyone: httpx.AsyncClient, world: World, rsa: SigningKey) -> None:
    await _tag(anyone, rsa, f"/fhir/CarePlan/{world['anna-plan']}", OWN)
    goals_only = patient_token(rsa, world, "anna", scope="patient/Goal.rs")
    outcome(await anyone.get("/fhir/CarePlan/$meta", headers=goals_only), 403)
    assert await _codes(anyone, "/fhir/$meta", goals_only) == set()
    outcome(await anyone.get("/fhir/$meta"), 401)
    outcome(await anyone.get("/fhir/CarePlan/$meta"), 401)
