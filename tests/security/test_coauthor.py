"""The patient as co-author (issue 14.2), with real tokens on SQLite and PostgreSQL: the patient
(or a relative the patient lets) proposes, the fixed care contact receives it, a clinician with a
care relation accepts it by writing the revision, whose Provenance names the patient as a
contributor; the proposal never changes the contract, and only care answers it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fhirbridge.contract.codes import (
    SHARE_ACTION_SYSTEM,
)
from tests.security.callers import (
    admin,
    admin_post,
    anna_writer,
    annas_contract,
    doctor,
    proposal,
    relative_writer,
    transaction,
)
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders


@pytest.fixture
async def agreed(anyone: httpx.AsyncClient, world: World, rsa: SigningKey) -> dict[str, Any]:
    """Anna's contract: the hospital's doctor is her fixed care contact; what matters is her own goal."""
    return await annas_contract(anyone, rsa, world)


async def test_the_co_author_loop(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey, agreed: dict[str, Any]
) -> None:
    plan, goal = agreed["plan"], agreed["goal"]
    anna = anna_writer(ec, world)
    sent = await anyone.post("/fhir/Communication", json=proposal(world["anna"], plan["id"]), headers=anna)
    assert sent.status_code == 201, sent.text
    message = sent.json()
    contact = f"PractitionerRole/{world['doctor-role']}"
    assert message["recipient"] == [{"reference": contact}]  # addressed by the server
    assert message["sender"] == {"reference": f"Patient/{world['anna']}"}

    # the fixed care contact's journal (subscribed to Communication?recipient=…) receives it
    inbox = await anyone.get("/fhir/Communication", params={"recipient": contact}, headers=admin(rsa))
    assert message["id"] in [e["resource"]["id"] for e in inbox.json()["entry"]]

    # the proposal changed nothing of the contract
    unchanged = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=anna)
    assert unchanged.json()["meta"]["versionId"] == "1"
    assert (await anyone.get(f"/fhir/Goal/{goal['id']}", headers=anna)).json()["meta"]["versionId"] == "1"

    # the patient can neither answer it nor write the contract
    answered = dict(message, status="completed")
    assert (await anyone.put(f"/fhir/Communication/{message['id']}", json=answered, headers=anna)).status_code == 403
    revised = dict(unchanged.json(), description="Ändrad av patienten")
    assert (await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=revised, headers=anna)).status_code == 403
    forged = builders.communication(world["anna"], world["doctor"], "Ja, vi ändrar det")
    forged.update(sender={"reference": contact}, inResponseTo=[{"reference": f"Communication/{message['id']}"}])
    assert (await anyone.post("/fhir/Communication", json=forged, headers=anna)).status_code == 403

    page = await anyone.get(f"/overview/{world['anna']}", headers=anna)
    awaiting = page.text.split("Väntar på svar</h2>")[1].split("</section>")[0]
    assert "Ditt förslag om vad som är viktigt för dig" in awaiting and "kyrkan på söndagar" in awaiting

    # the fixed care contact accepts: the revised contract and goal, the answer, the proposal answered
    new_goal = dict(goal, description={"text": "Att kunna gå till affären och till kyrkan på söndagar"})
    reply = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{world['anna']}"},
        "sender": {"reference": contact},
        "recipient": [{"reference": f"Patient/{world['anna']}"}],
        "inResponseTo": [{"reference": f"Communication/{message['id']}"}],
        "payload": [{"contentString": "Vi har lagt till det i ditt kontrakt."}],
    }
    header = {
        "X-Provenance": json.dumps(
            {
                "resourceType": "Provenance",
                "agent": [{"who": {"reference": f"Practitioner/{world['doctor']}"}}],  # R4 asks; the token counts
                "entity": [{"role": "source", "what": {"reference": sent.headers["location"]}}],
            }
        )
    }
    accepted = await anyone.post(
        "/fhir",
        json=transaction(
            {"resource": new_goal, "request": {"method": "PUT", "url": f"Goal/{goal['id']}"}},
            {
                "resource": dict(unchanged.json(), description="Reviderat efter Annas förslag"),
                "request": {"method": "PUT", "url": f"CarePlan/{plan['id']}"},
            },
            {"resource": answered, "request": {"method": "PUT", "url": f"Communication/{message['id']}"}},
            {"resource": reply, "request": {"method": "POST", "url": "Communication"}},
        ),
        headers={**doctor(rsa, world), **header},
    )
    assert accepted.status_code == 200, accepted.text
    provenances = await anyone.get(
        "/fhir/Provenance", params={"target": f"Goal/{goal['id']}", "_sort": "-recorded"}, headers=anna
    )
    revision = provenances.json()["entry"][0]["resource"]
    assert f"Goal/{goal['id']}/_history/2" in [t["reference"] for t in revision["target"]]
    assert {"role": "source", "what": {"reference": f"Communication/{message['id']}"}} in revision["entity"]
    contributors = [a["who"] for a in revision["agent"] if a["type"]["coding"][0]["code"] == "contributor"]
    assert contributors == [{"reference": f"Patient/{world['anna']}"}]
    assert (await anyone.get(f"/fhir/Communication/{message['id']}", headers=anna)).json()["status"] == "completed"
    page = await anyone.get(f"/overview/{world['anna']}", headers=anna)
    assert "Väntar på svar" not in page.text
    assert "av Medicinkliniken. Ändringen gjordes efter ditt förslag." in page.text
    answer = page.text.split("Besvarat</h2>")[1].split("</section>")[0]
    assert (
        "kyrkan på söndagar" in answer and "Svar från vården:</strong> Vi har lagt till det i ditt kontrakt." in answer
    )
    again = dict(answered, status="in-progress")  # answered: the care team's record now
    assert (await anyone.put(f"/fhir/Communication/{message['id']}", json=again, headers=anna)).status_code == 403


async def test_a_patient_proposes_only_on_a_contract_of_their_own(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey, agreed: dict[str, Any]
) -> None:
    """Issue 14: a patient cannot propose on someone else's plan (403, as for a plan that is
    no contract or does not exist: the answer tells nothing); naming Bertil as the subject is
    another patient's data (403)."""
    anna = anna_writer(ec, world)
    theirs = await anyone.post("/fhir/Communication", json=proposal(world["anna"], world["bertil-plan"]), headers=anna)
    assert theirs.status_code == 403, theirs.text
    assert theirs.json()["issue"][0]["expression"] == ["Communication.about"]
    missing = await anyone.post("/fhir/Communication", json=proposal(world["anna"], "finns-inte"), headers=anna)
    assert (missing.status_code, missing.json()["issue"][0]["diagnostics"]) == (
        403,
        theirs.json()["issue"][0]["diagnostics"],
    )
    as_bertil = await anyone.post(
        "/fhir/Communication", json=proposal(world["bertil"], world["bertil-plan"]), headers=anna
    )
    assert as_bertil.status_code == 403, as_bertil.text
    not_a_contract = await anyone.post(
        "/fhir/Communication", json=proposal(world["anna"], world["anna-plan"]), headers=anna
    )
    assert not_a_contract.status_code == 403  # a plan that is no contract: nothing to co-author
    to_someone = proposal(
        world["anna"], agreed["plan"]["id"], recipient=[{"reference": f"Practitioner/{world['stranger']}"}]
    )
    assert (await anyone.post("/fhir/Communication", json=to_someone, headers=anna)).status_code == 422


async def test_a_relative_proposes_only_with_a_share_that_allows_it(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey, agreed: dict[str, Any]
) -> None:
    relative = relative_writer(ec, world)
    message = proposal(world["anna"], agreed["plan"]["id"], "fraga")
    reading_only = await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}")
    )
    refused = await anyone.post("/fhir/Communication", json=message, headers=relative)
    assert refused.status_code == 403, refused.text
    withdrawn = dict(reading_only, status="inactive")
    assert (
        await anyone.put(f"/fhir/Consent/{reading_only['id']}", json=withdrawn, headers=admin(rsa))
    ).status_code == 200
    share = builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}")
    share["provision"]["action"] = [{"coding": [{"system": SHARE_ACTION_SYSTEM, "code": "foresla"}]}]
    await admin_post(anyone, rsa, share)
    sent = await anyone.post("/fhir/Communication", json=message, headers=relative)
    assert sent.status_code == 201, sent.text
    assert sent.json()["sender"] == {"reference": f"RelatedPerson/{world['anna-relative']}"}
    # a share to propose is no share to write anything else
    goal = dict(agreed["goal"], description={"text": "Ändrat av närstående"})
    assert (await anyone.put(f"/fhir/Goal/{goal['id']}", json=goal, headers=relative)).status_code == 403
    other = builders.communication(world["anna"], world["doctor"], "Ett vanligt meddelande")
    assert (await anyone.post("/fhir/Communication", json=other, headers=relative)).status_code == 403
