"""The thirteenth adversarial review's attacks on the co-author flow, kept as tests (docs/security.md
rules 3, 4 and 7): the server addressed a relative's message to a fixed care contact the block
hid from them (and the answer told who it was), and a clinician could make the server vouch for
anyone as a patient's co-author; a patient's message could answer, name someone in words, or
take over a message the server wrote."""

from __future__ import annotations

import json

import httpx

from fhirbridge.contract.codes import SHARE_ACTION_SYSTEM
from tests.security.callers import admin, admin_post, anna_writer, annas_contract, doctor, proposal, relative_writer
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders


async def _share_to_propose(anyone: httpx.AsyncClient, rsa: SigningKey, world: World) -> None:
    share = builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}")
    share["provision"]["action"] = [{"coding": [{"system": SHARE_ACTION_SYSTEM, "code": "foresla"}]}]
    await admin_post(anyone, rsa, share)


async def test_a_message_is_not_addressed_to_a_fixed_care_contact_the_sender_may_not_see(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """HIGH (F1): Anna blocked the outsider, where her fixed care contact works; her relative's
    question came back addressed to that contact, and a guessed recipient was an oracle."""
    agreed = await annas_contract(anyone, rsa, world, "stranger-role", "outsider")
    await _share_to_propose(anyone, rsa, world)
    await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}", provision="deny", role="CST")
    )
    relative = relative_writer(rsa, world)
    sent = await anyone.post(
        "/fhir/Communication", json=proposal(world["anna"], agreed["plan"]["id"], kind="fraga"), headers=relative
    )
    assert sent.status_code == 201, sent.text
    assert world["stranger-role"] not in sent.text and world["outsider"] not in sent.text, sent.text
    answers = []
    for guess in (world["stranger-role"], world["helper-role"]):
        named = proposal(
            world["anna"],
            agreed["plan"]["id"],
            kind="fraga",
            recipient=[{"reference": f"PractitionerRole/{guess}"}],
        )
        answer = await anyone.post("/fhir/Communication", json=named, headers=relative)
        answers.append((answer.status_code, answer.json()["issue"][0]["diagnostics"]))
    assert answers[0] == answers[1], answers


async def test_only_the_patient_or_their_relative_is_credited_as_co_author(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """MEDIUM (F2): a clinician wrote a patient's message with another patient (or a stranger)
    as sender, then named it as the source of a revision: the server's Provenance vouched for them."""
    agreed = await annas_contract(anyone, rsa, world)
    hospital = doctor(rsa, world)
    for sender in (f"Patient/{world['bertil']}", f"Practitioner/{world['helper']}"):
        forged = proposal(world["anna"], agreed["plan"]["id"], sender={"reference": sender})
        answer = await anyone.post("/fhir/Communication", json=forged, headers=hospital)
        assert answer.status_code == 422, answer.text
        assert answer.json()["issue"][0]["expression"] == ["Communication.sender"]
    # relaying Anna's own words (a phone call) is fine, and credits Anna
    relayed = proposal(world["anna"], agreed["plan"]["id"], sender={"reference": f"Patient/{world['anna']}"})
    message = await anyone.post("/fhir/Communication", json=relayed, headers=hospital)
    assert message.status_code == 201, message.text
    goal = dict(agreed["goal"], description={"text": "Gå till kyrkan på söndagar"})
    claim = {
        "resourceType": "Provenance",
        "agent": [{"who": {"reference": f"Practitioner/{world['doctor']}"}}],  # R4 asks; the token counts
        "entity": [{"role": "source", "what": {"reference": f"Communication/{message.json()['id']}"}}],
    }
    revised = await anyone.put(
        f"/fhir/Goal/{goal['id']}", json=goal, headers={**hospital, "X-Provenance": json.dumps(claim)}
    )
    assert revised.status_code == 200, revised.text
    provenances = await anyone.get("/fhir/Provenance", params={"target": f"Goal/{goal['id']}"}, headers=admin(rsa))
    contributors = [
        agent["who"].get("reference")
        for entry in provenances.json()["entry"]
        for agent in entry["resource"]["agent"]
        if agent["type"]["coding"][0]["code"] == "contributor"
    ]
    assert contributors == [f"Patient/{world['anna']}"]


async def test_a_patients_message_neither_answers_nor_names_anyone_in_words(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """LOW (1, 2): ``inResponseTo`` and a sender given as a display text were accepted."""
    agreed = await annas_contract(anyone, rsa, world)
    anna = anna_writer(rsa, world)
    answering = proposal(world["anna"], agreed["plan"]["id"], inResponseTo=[{"reference": "Communication/x"}])
    assert (await anyone.post("/fhir/Communication", json=answering, headers=anna)).status_code == 403
    in_words = proposal(world["anna"], agreed["plan"]["id"], sender={"display": "Dr Lind"})
    assert (await anyone.post("/fhir/Communication", json=in_words, headers=anna)).status_code == 403


async def test_a_patient_does_not_rewrite_a_message_the_server_wrote(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """LOW (3): the signal to the fixed care contact (no sender) could be rewritten by the patient."""
    signal = await admin_post(anyone, rsa, builders.communication(world["anna"], world["doctor"]))
    changed = dict(signal, payload=[{"contentString": "Ingen ändring behövs"}])
    answer = await anyone.put(f"/fhir/Communication/{signal['id']}", json=changed, headers=anna_writer(rsa, world))
    assert answer.status_code == 403, answer.text
