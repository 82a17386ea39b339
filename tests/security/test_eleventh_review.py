"""The eleventh adversarial review's block finding, kept as a test (docs/security.md rules 7
and 11): whose answers or goal a resource is, named by a display text only, cannot be judged
by a block.  (Its report findings are kept in tests/report.)"""

from __future__ import annotations

import httpx

from tests.security.callers import admin_post, anna_writer, block_hospital, outsider_team, service, stranger
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders


async def test_answers_about_a_unit_named_in_words_only_are_refused(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """MEDIUM (Q1): ``answered-for-unit`` as a display text was stored as written, and shown
    outside the blocked unit it names."""
    answers = builders.seven_answers(f"Patient/{world['anna']}", world["hospital"])
    answers["extension"][0]["valueReference"] = {"display": "Medicinkliniken"}
    refused = await anyone.post("/fhir/QuestionnaireResponse", json=answers, headers=anna_writer(rsa, world))
    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["expression"] == ["QuestionnaireResponse.extension[0].valueReference"]


async def test_a_goal_expressed_by_someone_named_in_words_only_is_withheld_while_a_block_holds(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    await outsider_team(anyone, rsa, world)
    goal = await admin_post(
        anyone,
        rsa,
        dict(builders.goal(world["anna"], "Klara trappan"), expressedBy={"display": "Dr Lind, Medicinkliniken"}),
    )
    url = f"/fhir/Goal/{goal['id']}"
    assert (await anyone.get(url, headers=stranger(rsa, world))).status_code == 200
    await block_hospital(anyone, rsa, world)
    for outside in (stranger(rsa, world), service(rsa)):
        shown = await anyone.get(url, headers=outside)
        assert shown.status_code in (403, 404) and "Medicinkliniken" not in shown.text, shown.text
    assert (await anyone.get(url, headers=anna_writer(rsa, world))).status_code == 200
