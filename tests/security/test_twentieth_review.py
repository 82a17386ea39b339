"""Twentieth review (of Groups and Group export, ``$meta`` at type and system level, PATCH in
Bundles and FHIRPath Patch, topic Subscriptions, export expiry and the change feed's cheaper
judging), in production mode on both databases: what a patient's token, an outside unit's
clinician or a unit's system could learn or change."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import httpx

from fhirbridge.fhir.xml import write_xml
from tests.security.callers import admin, anna_writer, doctor, unit_system
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders
from tests.support.api import outcome

FHIR_JSON = {"Content-Type": "application/fhir+json"}
FHIR_XML = {"Content-Type": "application/fhir+xml"}


def _goal_with_target(patient_id: str, value: Any) -> dict[str, Any]:
    return dict(
        builders.goal(patient_id, "Anna vill gå längre varje dag"),
        target=[{"measure": {"text": "Steg per dag"}, "detailQuantity": {"value": value, "unit": "steg"}}],
    )


async def test_a_decimal_past_a_doubles_range_in_xml_is_refused_before_it_is_stored(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Sound, kept as a guard: FHIR XML can carry ``1E+400``, which no JSON reader of the service
    could read again once stored (orjson: "number is infinity"); an XML body, a resource or a
    FHIRPath Patch, is read into JSON and parsed as JSON is, so it is a 400 before any write."""
    anna = anna_writer(rsa, world)
    sent = write_xml(_goal_with_target(world["anna"], Decimal("1E+400")))
    answer = await anyone.post("/fhir/Goal", content=sent, headers={**anna, **FHIR_XML})
    assert answer.status_code in (400, 422), answer.text
    # the same number by FHIRPath Patch in XML, on a Goal with a target
    created = await anyone.post("/fhir/Goal", json=_goal_with_target(world["anna"], 5), headers=anna)
    assert created.status_code == 201, created.text
    url = f"/fhir/Goal/{created.json()['id']}"
    body = (
        '<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>'
        '<part><name value="type"/><valueCode value="replace"/></part>'
        '<part><name value="path"/><valueString value="Goal.target[0].detailQuantity.value"/></part>'
        '<part><name value="value"/><valueDecimal value="1E+400"/></part>'
        "</parameter></Parameters>"
    )
    patched = await anyone.patch(url, content=body.encode(), headers={**anna, **FHIR_XML})
    assert patched.status_code in (400, 422), patched.text
    read = await anyone.get(url, headers=admin(rsa))
    assert read.status_code == 200 and read.json()["meta"]["versionId"] == "1"
    fine = await anyone.patch(url, content=body.replace("1E+400", "7.50").encode(), headers={**anna, **FHIR_XML})
    assert fine.status_code == 200, fine.text  # the same patch with a number a double holds
    assert (await anyone.get(url, headers=admin(rsa))).json()["target"][0]["detailQuantity"]["value"] == 7.50
    found = await anyone.get("/fhir/Goal", params={"patient": f"Patient/{world['anna']}"}, headers=admin(rsa))
    assert found.status_code == 200, found.text


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "x"}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


async def test_a_fhirpath_patch_cannot_nest_past_the_limit_one_add_at_a_time(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM before the fix: each ``add`` may put a value of the body's depth under the last
    one; the depth was judged only after all of them, once orjson (255 levels) and the pruning
    (Python's recursion limit) had failed on the result: a 500 on client input."""
    levels = 50
    operations = []
    for step in range(8):
        path = "Goal" + (".x" + ".a" * (levels - 1)) * step
        parts = [
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": path},
            {"name": "name", "valueString": "x"},
            {"name": "value", "valueAnnotation": _nested(levels)},
        ]
        operations.append({"name": "operation", "part": parts})
    document = {"resourceType": "Parameters", "parameter": operations}
    url = f"/fhir/Goal/{world['anna-goal']}"
    before = (await anyone.get(url, headers=admin(rsa))).json()["meta"]["versionId"]
    refused = outcome(await anyone.patch(url, json=document, headers={**admin(rsa), **FHIR_JSON}), 400)
    assert refused["issue"][0]["code"] == "too-costly"
    by_anna = await anyone.patch(url, json=document, headers={**anna_writer(rsa, world), **FHIR_JSON})
    assert by_anna.status_code < 500, by_anna.text
    assert (await anyone.get(url, headers=admin(rsa))).json()["meta"]["versionId"] == before


async def test_a_fhirpath_patch_of_many_operations_on_a_large_resource_is_too_costly(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """HIGH before the fix (availability): each operation walked the whole resource again (the
    pruning of empty elements), on the event loop, so Anna's own Goal of a few megabytes and a
    thousand operations of a small body held the service for minutes.  Now a patch may cost at
    most so many operations × bytes, a 400 ``too-costly`` beyond, judged before any is applied."""
    anna = anna_writer(rsa, world)
    notes = [{"text": f"Anteckning {n}: " + "promenad " * 10} for n in range(2500)]
    created = await anyone.post("/fhir/Goal", json=dict(builders.goal(world["anna"]), note=notes), headers=anna)
    assert created.status_code == 201, created.text
    assert len(created.content) > 250_000
    url = f"/fhir/Goal/{created.json()['id']}"
    operations = [
        {
            "name": "operation",
            "part": [
                {"name": "type", "valueCode": "replace"},
                {"name": "path", "valueString": "Goal.lifecycleStatus"},
                {"name": "value", "valueCode": "active" if n % 2 else "on-hold"},
            ],
        }
        for n in range(100)
    ]
    document = {"resourceType": "Parameters", "parameter": operations}
    refused = outcome(await anyone.patch(url, json=document, headers={**anna, **FHIR_JSON}), 400)
    assert refused["issue"][0]["code"] == "too-costly"
    few = dict(document, parameter=operations[:3])
    assert (await anyone.patch(url, json=few, headers={**anna, **FHIR_JSON})).status_code == 200


def _subjects(world: World) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    cohort = dict(builders.group(world["anna"], world["bertil"]), id="kohort")
    return {
        "contained": ({"reference": "#kohort"}, [cohort]),
        "another server's": ({"reference": "https://annan.example/fhir/Group/kol-2026"}, []),
    }


async def test_no_patient_link_names_a_group_in_any_form(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM before the fix: rule 5 (no Goal or plan of a cohort) held only for ``Group/[id]``
    and a Group by identifier; a Goal about a contained Group of Anna and Bertil was stored, in
    both their compartments (Anna reading it learns Bertil is in her cohort, which the Group
    itself is kept from her for), and one about another server's Group is about nobody the
    policy can judge."""
    for form, (subject, contained) in _subjects(world).items():
        goal = dict(builders.goal(world["anna"], "Kohortens mål"), subject=subject)
        goal.pop("expressedBy")
        if contained:
            goal["contained"] = contained
        for token in (doctor(rsa, world), admin(rsa)):
            answer = await anyone.post("/fhir/Goal", json=goal, headers=token)
            assert answer.status_code == 422, (form, answer.text)
            assert "Group" in answer.text, form


async def test_a_patch_tells_no_one_but_the_services_which_groups_exist(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """LOW before the fix: a Group does not exist for a user or a unit's system (404 on read), and
    their PUT or DELETE of one is 403 whether or not it exists; but a PATCH was 403 for a Group that
    exists and 404 for one that does not, alone, in a batch and in a transaction: an oracle of
    which cohorts the region keeps (ids a service chose with PUT, ``kol-uppfoljning-2026``)."""
    cohort = dict(builders.group(world["anna"], world["bertil"]), id="kol-uppfoljning-2026")
    stored = await anyone.put(f"/fhir/Group/{cohort['id']}", json=cohort, headers=admin(rsa))
    assert stored.status_code == 201, stored.text
    change = [{"op": "replace", "path": "/name", "value": "Ny kohort"}]
    json_patch = {"Content-Type": "application/json-patch+json"}

    def entry(url: str) -> dict[str, Any]:
        data = base64.b64encode(json.dumps(change).encode()).decode()
        return {
            "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
            "request": {"method": "PATCH", "url": url},
        }

    for token in (doctor(rsa, world), unit_system(rsa, world)):
        answers = []
        for group_id in (cohort["id"], "hiv-kohort-2026"):
            read = await anyone.get(f"/fhir/Group/{group_id}", headers=token)
            alone = await anyone.patch(f"/fhir/Group/{group_id}", json=change, headers={**token, **json_patch})
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry(f"Group/{group_id}")]}
            in_transaction = await anyone.post("/fhir", json=bundle, headers=token)
            in_batch = await anyone.post("/fhir", json=dict(bundle, type="batch"), headers=token)
            told = [e.get("response", {}).get("outcome", {}).get("issue") for e in in_batch.json()["entry"]]
            answer = [
                read.status_code,
                alone.status_code,
                alone.json()["issue"],
                in_transaction.status_code,
                in_transaction.json()["issue"],
                [e["response"]["status"] for e in in_batch.json()["entry"]],
                told,
            ]
            answers.append(json.dumps(answer).replace(group_id, "[id]"))  # the id asked is no tell
        assert answers[0] == answers[1]
        assert json.loads(answers[0])[:2] == [404, 403]
    assert (await anyone.get(f"/fhir/Group/{cohort['id']}", headers=admin(rsa))).json()["name"] == cohort["name"]
