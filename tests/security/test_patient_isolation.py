"""A patient's token reaches that patient's data only, by every route there is."""

from __future__ import annotations

import httpx
import pytest

from tests.adapters.test_get_care_plans import request as care_plans_request
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, build_world, patient_token, user_token
from tests.support.api import match_ids

GET_CARE_PLANS = "/riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21"


@pytest.fixture
async def world(anyone: httpx.AsyncClient, rsa: SigningKey, reference_form: str) -> World:
    return await build_world(anyone, rsa, reference_form)


def every_id(bundle: dict[str, object]) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])}  # type: ignore[attr-defined, index]


async def test_a_patient_reads_their_own_plan_but_not_another_patients(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=anna)).status_code == 200
    assert (await anyone.get(f"/fhir/Patient/{world['anna']}", headers=anna)).status_code == 200
    for path in (
        f"/fhir/CarePlan/{world['bertil-plan']}",
        f"/fhir/CarePlan/{world['bertil-plan']}/_history/1",
        f"/fhir/Patient/{world['bertil']}",
        f"/fhir/Goal/{world['bertil-goal']}",
        f"/fhir/CareTeam/{world['bertil-team']}",
        f"/fhir/Patient/{world['bertil']}/$fixed-contacts",
        f"/fhir/CarePlan/{world['bertil-plan']}/$revisions",
        f"/fhir/CarePlan/{world['bertil-plan']}/$validate",
        f"/overview/{world['bertil']}",
    ):
        response = await anyone.get(path, headers=anna)
        assert response.status_code == 404, f"{path}: {response.status_code} {response.text[:200]}"


async def test_searches_includes_and_chains_stay_in_the_patients_compartment(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    searches = [
        ("/fhir/CarePlan", {}),
        ("/fhir/CarePlan", {"subject": f"Patient/{world['bertil']}"}),
        ("/fhir/CarePlan", {"subject:Patient.identifier": world.numbers["bertil"]}),
        ("/fhir/Patient", {"identifier": world.numbers["bertil"]}),
        ("/fhir/Patient", {"_id": world["bertil"]}),
        ("/fhir/Patient", {"_revinclude": "CarePlan:subject"}),
        ("/fhir/CareTeam", {"_include": "CareTeam:subject"}),
        ("/fhir/Goal", {}),
        ("/fhir/RelatedPerson", {}),
        ("/fhir/Provenance", {}),
    ]
    bertils = {world[name] for name in ("bertil", "bertil-plan", "bertil-goal", "bertil-team", "bertil-relative")}
    for path, params in searches:
        response = await anyone.get(path, params=params, headers=anna)
        assert response.status_code == 200, f"{path} {params}: {response.text[:300]}"
        assert not every_id(response.json()) & bertils, f"{path} {params} leaked Bertil's data"
    has = await anyone.get("/fhir/Patient", params={"_has:CarePlan:subject:_security": "NOPATIENT"}, headers=anna)
    assert has.status_code == 403  # _has would match on data the patient may not see
    own = await anyone.get("/fhir/CarePlan", headers=anna)
    assert set(match_ids(own.json())) == {world["anna-plan"]}  # the NOPATIENT plan is hidden too


async def test_histories_hold_only_the_patients_own_versions(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    for path in ("/fhir/_history", "/fhir/CarePlan/_history", "/fhir/Patient/_history"):
        response = await anyone.get(path, params={"_count": "100"}, headers=anna)
        assert response.status_code == 200, response.text
        seen = every_id(response.json())
        assert world["bertil-plan"] not in seen and world["bertil"] not in seen, path
        assert world["anna-internal-plan"] not in seen, path
    response = await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}/_history", headers=anna)
    assert response.status_code == 404  # for Anna, Bertil's plan does not exist


async def test_transactions_and_batches_cannot_reach_another_patient(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna", scope="patient/*.cruds")
    reads = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"CarePlan/{world['bertil-plan']}"}},
            {"request": {"method": "GET", "url": f"CarePlan?subject=Patient/{world['bertil']}"}},
            {"request": {"method": "GET", "url": f"CarePlan/{world['anna-plan']}"}},
        ],
    }
    answer = (await anyone.post("/fhir", json=reads, headers=anna)).json()
    statuses = [e["response"]["status"][:3] for e in answer["entry"]]
    assert statuses == ["404", "200", "200"], statuses
    assert answer["entry"][1]["resource"].get("total", 0) == 0
    write = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Goal",
                    "lifecycleStatus": "active",
                    "description": {"text": "x"},
                    "subject": {"reference": f"Patient/{world['bertil']}"},
                },
                "request": {"method": "POST", "url": "Goal"},
            }
        ],
    }
    assert (await anyone.post("/fhir", json=write, headers=anna)).status_code == 403
    reader = patient_token(ec, world, "anna", scope="patient/*.rs")
    probe = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": {
                    "resourceType": "Goal",
                    "lifecycleStatus": "active",
                    "description": {"text": "x"},
                    "subject": {"reference": f"Patient/{world['anna']}"},
                },
                "request": {"method": "POST", "url": "Goal", "ifNoneExist": f"subject=Patient/{world['bertil']}"},
            }
        ],
    }
    answer = await anyone.post("/fhir", json=probe, headers=reader)
    assert "bertil vill" not in answer.text and world["bertil-goal"] not in answer.text
    update = {
        "resourceType": "Goal",
        "id": world["bertil-goal"],
        "lifecycleStatus": "cancelled",
        "description": {"text": "x"},
        "subject": {"reference": f"Patient/{world['anna']}"},
    }
    assert (await anyone.put(f"/fhir/Goal/{world['bertil-goal']}", json=update, headers=anna)).status_code == 403
    deleted = await anyone.delete(f"/fhir/Goal/{world['bertil-goal']}", headers=anna)
    assert deleted.status_code in (200, 204)  # for Anna there is no such goal: nothing to delete, and nothing is
    assert (
        await anyone.get(f"/fhir/Goal/{world['bertil-goal']}", headers=bearer(mint(ec, scope="system/*.rs")))
    ).status_code == 200


async def test_the_adapters_obey_the_same_rules(anyone: httpx.AsyncClient, world: World, ec: SigningKey) -> None:
    anna = patient_token(ec, world, "anna")
    mine = await anyone.get(f"/overview/{world['anna']}", headers={**anna, "Accept": "application/json"})
    assert mine.status_code == 200, mine.text
    assert "Intern planering" not in mine.text  # not approved for the patient
    headers = {**anna, "Content-Type": "text/xml"}
    own = await anyone.post(GET_CARE_PLANS, content=care_plans_request(world.numbers["anna"]), headers=headers)
    assert own.status_code == 200, own.text
    assert "<carePlan" in own.text.replace("carePlanType", "")  # the answer holds her own contract
    assert "Intern planering" not in own.text  # not approved for the patient
    answer = await anyone.post(GET_CARE_PLANS, content=care_plans_request(world.numbers["bertil"]), headers=headers)
    assert answer.status_code == 200, answer.text
    assert world["bertil-plan"] not in answer.text
    assert "<carePlan" not in answer.text.replace("carePlanType", "")
    log = await anyone.get(
        "/fhir/AuditEvent", params={"agent": f"Patient/{world['anna']}", "_count": "200"}, headers=anna
    )
    operations = {coding["code"] for e in log.json()["entry"] for coding in e["resource"]["subtype"]}
    assert {"overview-1177", "npo-get-care-plans"} <= operations  # the adapters' answers are logged too


async def test_a_resource_about_a_patient_cannot_be_taken_out_of_every_compartment(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey, rsa: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna", scope="patient/*.cruds")
    doctor = user_token(rsa, world, "doctor", "hospital")
    goal = (await anyone.get(f"/fhir/Goal/{world['anna-goal']}", headers=anna)).json()
    nobodys = dict(goal, subject={"display": "Ingen särskild"}, expressedBy={"display": "Ingen"})
    for headers in (anna, doctor):
        response = await anyone.put(f"/fhir/Goal/{goal['id']}", json=nobodys, headers=headers)
        assert response.status_code in (403, 422), response.text
    as_group = dict(goal, subject={"type": "Group", "display": "Gruppen"})
    for headers in (anna, doctor):
        assert (await anyone.put(f"/fhir/Goal/{goal['id']}", json=as_group, headers=headers)).status_code == 403
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"actor": {"display": "Anna"}, "status": "accepted"}],
    }
    assert (await anyone.post("/fhir/Appointment", json=appointment, headers=anna)).status_code == 403
    unchanged = await anyone.get(f"/fhir/Goal/{goal['id']}", headers=anna)
    assert unchanged.json()["meta"]["versionId"] == goal["meta"]["versionId"]
