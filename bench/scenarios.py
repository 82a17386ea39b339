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
* ``include``: a patient's contracts with their care teams and goals in one search,
  ``GET /fhir/CarePlan?subject=Patient/{id}&_include=CarePlan:care-team&_include=CarePlan:goal``.
* ``chain``: a patient's contracts found by personnummer, as journal systems search,
  ``GET /fhir/CarePlan?subject:Patient.identifier={personnummer system}|{number}``.
* ``transaction``: a whole contract in one transaction Bundle: the Patient (conditional
  create by personnummer, a new patient each time), a CareTeam, two Goals and the CarePlan,
  referring to each other by ``urn:uuid``.

Bodies are serialised once; a request only splices a running number into them, so the
generator spends its time on the wire, not on JSON.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

import orjson

from bench.bulk import compact_contract
from bench.loadgen import Request, RequestFactory
from bench.seed import SeededData
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM

SCENARIOS = ("read", "create", "update", "include", "chain", "transaction")
_MARK = b"@@N@@"
TRANSACTION_PATIENTS_FROM = 5_000_000  # beyond any seeded contract, so each Bundle brings a new patient


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


def include_scenario(data: SeededData) -> Scenario:
    paths = [
        f"/fhir/CarePlan?subject=Patient/{pid}&_include=CarePlan:care-team&_include=CarePlan:goal"
        for pid in _shuffled(data.patient_ids, 4)
    ]

    def factory(n: int) -> Request:
        return "GET", paths[n % len(paths)], None

    return Scenario("include", "GET CarePlan?subject=…&_include=CarePlan:care-team&_include=CarePlan:goal", factory)


def chain_scenario(data: SeededData) -> Scenario:
    system = quote(PERSONNUMMER_SYSTEM, safe="")
    paths = [
        f"/fhir/CarePlan?subject:Patient.identifier={system}%7C{number}" for number in _shuffled(data.personnummer, 5)
    ]

    def factory(n: int) -> Request:
        return "GET", paths[n % len(paths)], None

    return Scenario("chain", "GET CarePlan?subject:Patient.identifier=personnummer", factory)


def transaction_scenario(data: SeededData) -> Scenario:
    """Bundles of new contracts: each carries a patient the database has not seen before."""
    serial = itertools.count(1)
    today = date.today()

    def factory(n: int) -> Request:
        resources = compact_contract(TRANSACTION_PATIENTS_FROM + next(serial), today)
        entries = []
        for resource in resources:
            request: dict[str, str] = {"method": "POST", "url": resource["resourceType"]}
            if resource["resourceType"] == "Patient":
                request["ifNoneExist"] = f"identifier={PERSONNUMMER_SYSTEM}|{resource['identifier'][0]['value']}"
            address = f"{resource['resourceType']}/{resource['id']}"
            body = {key: value for key, value in resource.items() if key != "id"}
            entries.append({"fullUrl": address, "resource": body, "request": request})
        bundle = orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})
        for entry in entries:  # every reference to an entry, and its fullUrl, becomes its urn:uuid
            bundle = bundle.replace(f'"{entry["fullUrl"]}"'.encode(), f'"urn:uuid:{uuid.uuid4()}"'.encode())
        return "POST", "/fhir", bundle

    return Scenario("transaction", "POST /fhir transaction: Patient + CareTeam + 2 Goals + CarePlan", factory)


BUILDERS: dict[str, Callable[[SeededData], Scenario]] = {
    "read": read_scenario,
    "create": create_scenario,
    "update": update_scenario,
    "include": include_scenario,
    "chain": chain_scenario,
    "transaction": transaction_scenario,
}
