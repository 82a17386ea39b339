"""The topics' filter keys (notifications/topic_filters.py): what a region or a municipality filters
on (a patient, an organisation a unit is part of, the type of a linked plan); an unknown key or a
malformed value is a 400 naming the extension and stores nothing; on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES, PLAN_TYPE_SYSTEM, PLAN_TYPES, concept
from fhirbridge.notifications.topics import FILTER_URL
from tests.notifications.receiver import RecordingReceiver
from tests.notifications.test_topics import (
    ESTABLISHED,
    FIXED_CONTACT,
    REVISED,
    SIP_LINKED,
    bundles,
    count,
    deliver,
    revise,
    status_of,
    subscribe,
    topic_subscription,
)
from tests.support import builders
from tests.support.api import BASE, create, outcome
from tests.support.contracts import contract_world


@pytest.fixture
async def client(service: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url=BASE) as http:
        yield http


def sent_to(receiver: RecordingReceiver) -> list[str]:
    return sorted(status_of(b)["subscription"]["reference"].split("/")[1] for b in bundles(receiver))


async def region_and_unit(client: httpx.AsyncClient, world: dict[str, Any]) -> tuple[str, str]:
    """Region Gävleborg, and the world's unit made one of its units."""
    region = await create(client, builders.organization("SE2321000198-E0000000900", "Region Gävleborg"))
    await revise(client, world["unit"], partOf={"reference": f"Organization/{region['id']}"})
    return region["id"], world["unit"]["id"]


@pytest.mark.parametrize(
    ("topic", "criteria"),
    [
        (ESTABLISHED, "CarePlan?status=active"),  # a search parameter, but no key of the topic
        (ESTABLISHED, "CarePlan?organization=Patient/1"),
        (ESTABLISHED, "CarePlan?patient=1"),
        (ESTABLISHED, "CarePlan?patient=Patient/1,"),
        (REVISED, "CarePlan?plan-type=sip"),  # another topic's key
        (SIP_LINKED, "CarePlan?plan-type=kommunplan"),
        (FIXED_CONTACT, "CarePlan?patient=Patient/1"),  # another type
        (FIXED_CONTACT, ""),
    ],
)
async def test_an_unknown_key_or_a_malformed_value_is_a_400_naming_the_filter_and_stores_nothing(
    client: httpx.AsyncClient, receiver: RecordingReceiver, topic: str, criteria: str
) -> None:
    body = topic_subscription(topic, receiver.url)
    body["_criteria"] = {"extension": [{"url": FILTER_URL, "valueString": "CarePlan?patient=Patient/1"}]}
    if topic == FIXED_CONTACT:
        body["_criteria"]["extension"][0]["valueString"] = "CareTeam?patient=Patient/1"
    body["_criteria"]["extension"].append({"url": FILTER_URL, "valueString": criteria})
    refused = outcome(await client.post("/fhir/Subscription", json=body), 400)
    assert refused["issue"][0]["expression"] == ["Subscription.criteria.extension[1].valueString"]
    assert await count(client, "Subscription") == 0
    assert receiver.received == []


async def test_a_contract_goes_to_the_organisations_its_units_are_part_of(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    region, unit = await region_and_unit(client, world)
    other = await create(client, builders.organization("SE2321000198-E0000000901", "Ljusdals kommun"))
    by_region = await subscribe(
        client, service, receiver, topic_subscription(ESTABLISHED, receiver.url, f"organization=Organization/{region}")
    )
    either = await subscribe(
        client,
        service,
        receiver,
        topic_subscription(
            ESTABLISHED, receiver.url, f"CarePlan?organization=Organization/{other['id']},Organization/{unit}"
        ),
    )
    await subscribe(
        client,
        service,
        receiver,
        topic_subscription(ESTABLISHED, receiver.url, f"organization=Organization/{other['id']}"),
    )
    elsewhere = await create(client, builders.patient("199001012385"))
    await subscribe(
        client,
        service,
        receiver,
        topic_subscription(
            ESTABLISHED,
            receiver.url,
            f"CarePlan?organization=Organization/{region}",
            f"CarePlan?patient=Patient/{elsewhere['id']}",  # both must match: another patient's
        ),
    )
    await create(client, dict(world["contract"], contributor=[{"reference": f"Organization/{unit}"}]))
    assert await deliver(service) == 2
    assert sent_to(receiver) == sorted([by_region["id"], either["id"]])


async def test_a_fixed_care_contact_goes_to_the_organisation_of_the_new_contacts_unit(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    region, _ = await region_and_unit(client, world)
    municipality = await create(client, builders.organization("SE2321000198-E0000000902", "Ljusdals kommun"))
    home_care = await create(
        client,
        dict(
            builders.organization("SE2321000198-E0000000903", "Hemtjänsten Ljusdal"),
            partOf={"reference": f"Organization/{municipality['id']}"},
        ),
    )
    to_region = await subscribe(
        client,
        service,
        receiver,
        topic_subscription(FIXED_CONTACT, receiver.url, f"organization=Organization/{region}"),
    )
    to_municipality = await subscribe(
        client,
        service,
        receiver,
        topic_subscription(FIXED_CONTACT, receiver.url, f"CareTeam?organization=Organization/{municipality['id']}"),
    )
    nurse = await create(client, builders.practitioner("SE2321000198-P0009", "Berg", "Anders"))
    role = await create(client, builders.practitioner_role(nurse["id"], home_care["id"]))
    fixed = concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")
    team = await revise(
        client,
        world["team"],
        participant=[{"role": [fixed], "member": {"reference": f"PractitionerRole/{role['id']}"}}],
    )
    assert await deliver(service) == 1 and sent_to(receiver) == [to_municipality["id"]]
    receiver.received.clear()
    back = {"role": [fixed], "member": {"reference": f"PractitionerRole/{world['role']['id']}"}}
    await revise(client, team, participant=[back])
    assert await deliver(service) == 1 and sent_to(receiver) == [to_region["id"]]


async def test_a_linked_plan_goes_to_those_who_filter_on_its_type(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    patient = world["patient"]["id"]
    sips = await subscribe(client, service, receiver, topic_subscription(SIP_LINKED, receiver.url, "plan-type=sip"))
    rehab = await subscribe(
        client,
        service,
        receiver,
        topic_subscription(SIP_LINKED, receiver.url, "CarePlan?plan-type=rehabiliteringsplan"),
    )

    async def plan(kind: str) -> dict[str, Any]:
        return await create(
            client,
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, kind)],
                "title": PLAN_TYPES[kind],
                "subject": {"reference": f"Patient/{patient}"},
            },
        )

    sip, rehabilitation = await plan("sip"), await plan("rehabiliteringsplan")
    contract = await create(client, world["contract"])
    contract = await revise(client, contract, supportingInfo=[{"reference": f"CarePlan/{sip['id']}"}])
    assert await deliver(service) == 1 and sent_to(receiver) == [sips["id"]]
    receiver.received.clear()
    links = [{"reference": f"CarePlan/{sip['id']}"}, {"reference": f"CarePlan/{rehabilitation['id']}"}]
    await revise(client, contract, supportingInfo=links)  # the SIP stays: only the new link counts
    assert await deliver(service) == 1 and sent_to(receiver) == [rehab["id"]]
