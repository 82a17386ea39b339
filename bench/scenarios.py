"""The measured interactions, as request factories over the seeded data.

* ``read``: ``GET /fhir/CarePlan/{id}`` of seeded contracts in a shuffled order (R4 read):
  one indexed row fetch, served as the stored bytes.
* ``create``: ``POST /fhir/CarePlan`` of a contract-like CarePlan (a seeded contract without
  its id, with a new business identifier): it refers to a seeded Patient, CareTeam, Goals,
  PractitionerRoles and Organizations, so the write runs the full path: validation, version,
  history, search index, links and the referential-integrity check of every reference.
* ``update``: ``PUT /fhir/CarePlan/{id}`` of seeded contracts, each with a new note, without
  If-Match, over every seeded id in a shuffled order (so concurrent writers rarely meet on
  one row); every request stores a new version (the text differs each time).

Bodies are serialised once; a request only splices a running number into them, so the
generator spends its time on the wire, not on JSON.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bench.loadgen import Request, RequestFactory
from bench.seed import SeededData

SCENARIOS = ("read", "create", "update")
_MARK = b"@@N@@"


@dataclass(frozen=True)
class Scenario:
    """A named interaction and how to make its n-th request."""

    name: str
    description: str
    factory: RequestFactory


def _shuffled(values: list[str], seed: int) -> list[str]:
    out = list(values)
    random.Random(seed).shuffle(out)
    return out


def read_scenario(data: SeededData) -> Scenario:
    paths = [f"/fhir/CarePlan/{rid}" for rid in _shuffled(data.contract_ids, 1)]

    def factory(n: int) -> Request:
        return "GET", paths[n % len(paths)], None

    return Scenario("read", "GET /fhir/CarePlan/{id}, random seeded contract", factory)


class _Bodies:
    """Serialised bodies with a mark where a running number goes.

    The number keeps growing across the runs of a scenario, so no two bodies are ever equal
    and each run goes on through the list where the previous one stopped."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self._templates = [orjson.dumps(resource).partition(_MARK)[::2] for resource in resources]
        self._serial = itertools.count(1)

    def next(self) -> tuple[int, bytes]:
        n = next(self._serial)
        index = n % len(self._templates)
        head, tail = self._templates[index]
        return index, head + str(n).encode() + tail


def create_scenario(data: SeededData) -> Scenario:
    bodies = []
    for contract in data.contracts:
        body = {key: value for key, value in contract.items() if key not in ("id", "meta")}
        body["identifier"] = [{**body["identifier"][0], "value": "PK-BENCH-@@N@@"}]
        bodies.append(body)
    random.Random(2).shuffle(bodies)
    templates = _Bodies(bodies)

    def factory(n: int) -> Request:
        return "POST", "/fhir/CarePlan", templates.next()[1]

    return Scenario("create", "POST /fhir/CarePlan, contract of a seeded patient", factory)


def update_scenario(data: SeededData) -> Scenario:
    order = _shuffled(data.contract_ids, 3)
    by_id = {contract["id"]: contract for contract in data.contracts}
    bodies = []
    for rid in order:
        body = dict(by_id[rid])
        body["note"] = [*body.get("note", []), {"text": "Uppföljning @@N@@: planen gäller oförändrad."}]
        bodies.append(body)
    paths = [f"/fhir/CarePlan/{rid}" for rid in order]
    templates = _Bodies(bodies)

    def factory(n: int) -> Request:
        index, body = templates.next()
        return "PUT", paths[index], body

    return Scenario("update", "PUT /fhir/CarePlan/{id}, seeded contract with a new note", factory)


BUILDERS: dict[str, Callable[[SeededData], Scenario]] = {
    "read": read_scenario,
    "create": create_scenario,
    "update": update_scenario,
}
