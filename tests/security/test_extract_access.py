"""``QuestionnaireResponse/{id}/$extract`` reads the response as a read does (issue 13.3): a
caller who may not read the answers gets from ``$extract`` what a read would give them."""

from __future__ import annotations

import httpx

from tests.security.callers import block_hospital, doctor, relative, stranger
from tests.security.tokens import SigningKey
from tests.security.world import World, patient_token
from tests.support import builders


async def test_extract_answers_each_caller_as_a_read_of_the_response_does(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    role = f"PractitionerRole/{world['doctor-role']}"
    answers = builders.conversation_answers(world["anna"], role, unit_id=world["hospital"], person=role)
    written = await anyone.post("/fhir/QuestionnaireResponse", json=answers, headers=doctor(rsa, world))
    assert written.status_code == 201, written.text
    url = f"/fhir/QuestionnaireResponse/{written.json()['id']}"
    callers = {
        "her doctor": doctor(rsa, world),
        "the stranger": stranger(rsa, world),
        "another patient": patient_token(rsa, world, "bertil"),
        "Anna herself": patient_token(rsa, world, "anna"),
        "Bertil's relative": relative(rsa, world, "bertil"),
    }
    for who, headers in callers.items():
        read = await anyone.get(url, headers=headers)
        extracted = await anyone.get(f"{url}/$extract", headers=headers)
        assert extracted.status_code == read.status_code, (who, read.text, extracted.text)
        if read.status_code != 200:
            assert extracted.json()["resourceType"] == "OperationOutcome"
            assert "Bundle" not in extracted.text and "what-matters" not in extracted.text
    assert (await anyone.get(f"{url}/$extract", headers=doctor(rsa, world))).json()["type"] == "transaction"
    # a block (spärr) of the hospital's information hides the answers from $extract as from a read
    await block_hospital(anyone, rsa, world)
    read = await anyone.get(url, headers=doctor(rsa, world))
    extracted = await anyone.get(f"{url}/$extract", headers=doctor(rsa, world))
    assert extracted.status_code == read.status_code, (read.text, extracted.text)
