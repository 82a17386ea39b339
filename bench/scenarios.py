"""The measured interactions, as request factories over the seeded data.

Each request names its caller (:mod:`bench.modes`): in production mode it carries that
caller's token, in development mode none.  A *clinician* is the contract's author, whose
role is on the patient's care team: a user with a care relation.

* ``read``: ``GET /fhir/CarePlan/{id}`` of seeded contracts in a shuffled order (R4 read), by
  a system (``system/*.rs``, no unit): one indexed row fetch, served as the stored bytes.
* ``read-user``: the same reads by the clinician of each contract.
* ``include``: a patient's contracts with their care teams and goals in one search, by the
  clinician:
  ``GET /fhir/CarePlan?subject=Patient/{id}&_include=CarePlan:care-team&_include=CarePlan:goal``.
* ``create``: ``POST /fhir/CarePlan`` of a contract-like CarePlan (a seeded contract without
  its id, with a new business identifier), by the clinician: it refers to a seeded Patient,
  CareTeam, Goals, PractitionerRoles and Organizations, so the write runs the full path:
  validation, the contract profile and rules, version, history, search index, links, the
  referential-integrity check of every reference, the Provenance.
* ``update-if-match``: ``PUT /fhir/CarePlan/{id}`` of seeded contracts with a new note and
  ``If-Match`` naming the version it replaces, by the clinician.  Each contract is lent to
  one request at a time and comes back with the version its answer's ``ETag`` gives, so
  concurrent requests never race on one contract (a 412 would mean the bench lost count).
* ``transaction``: a whole contract in one transaction Bundle, by the region's integration
  (``system/*.cruds``, no unit: a new patient's first care relation is a system's to write):
  the Patient (conditional create by personnummer, a new patient each time), a CareTeam, two
  Goals and the CarePlan, referring to each other by ``urn:uuid``.
* ``update``: ``PUT /fhir/CarePlan/{id}`` without If-Match, over every seeded contract in a
  shuffled order (so concurrent writers rarely meet on one row), by the clinician.
* ``chain``: a patient's contracts found by personnummer, as journal systems search, by a
  system: ``GET /fhir/CarePlan?subject:Patient.identifier={personnummer system}|{number}``.

Both update scenarios note the version each update stored (:attr:`SeededData.versions`), so
they can run one after the other.  Bodies are serialised once; a request only splices a
running number into them, so the generator spends its time on the wire, not on JSON.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

import orjson

from bench.bulk import compact_contract
from bench.loadgen import Answered, Request, RequestFactory, header_value
from bench.modes import INTEGRATION, READER
from bench.seed import Resource, SeededData
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM

ISSUE_12 = ("read", "read-user", "include", "create", "update-if-match", "transaction")
"""The rows of issue 12's target table, in its order."""
SCENARIOS = (*ISSUE_12, "update", "chain")
_MARK = b"@@N@@"
TRANSACTION_PATIENTS_FROM = 5_000_000  # beyond any seeded contract, so each Bundle brings a new patient


@dataclass(frozen=True)
class Scenario:
    """A named interaction, how to make its n-th request, and every caller it sends as."""

    name: str
    description: str
    factory: RequestFactory
    callers: frozenset[str]


def _shuffled(values: list[str], seed: int) -> list[str]:
    out = list(values)
    random.Random(seed).shuffle(out)
    return out


def clinician(contract: Resource) -> str:
    """The user who reads and writes a contract: its author, a PractitionerRole on the care team."""
    return str(contract["author"]["reference"])


def _clinicians(contracts: list[Resource]) -> frozenset[str]:
    return frozenset(clinician(contract) for contract in contracts)


def read_scenario(data: SeededData) -> Scenario:
    paths = [f"/fhir/CarePlan/{rid}" for rid in _shuffled(data.contract_ids, 1)]

    def factory(n: int) -> Request:
        return Request("GET", paths[n % len(paths)], caller=READER)

    return Scenario(
        "read", "GET /fhir/CarePlan/{id}, random seeded contract, system token", factory, frozenset({READER})
    )


def read_user_scenario(data: SeededData) -> Scenario:
    contracts = random.Random(7).sample(data.contracts, len(data.contracts))
    requests = [Request("GET", f"/fhir/CarePlan/{c['id']}", caller=clinician(c)) for c in contracts]

    def factory(n: int) -> Request:
        return requests[n % len(requests)]

    return Scenario(
        "read-user",
        "GET /fhir/CarePlan/{id}, random seeded contract, user token with a care relation",
        factory,
        _clinicians(contracts),
    )


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

    def render(self, index: int) -> bytes:
        """Body ``index`` with the next running number."""
        head, tail = self._templates[index]
        return head + str(next(self._serial)).encode() + tail


def create_scenario(data: SeededData) -> Scenario:
    bodies = []
    for contract in data.contracts:
        body = {key: value for key, value in contract.items() if key not in ("id", "meta")}
        body["identifier"] = [{**body["identifier"][0], "value": "PK-BENCH-@@N@@"}]
        bodies.append(body)
    random.Random(2).shuffle(bodies)
    templates = _Bodies(bodies)
    callers = [clinician(body) for body in bodies]

    def factory(n: int) -> Request:
        index, body = templates.next()
        return Request("POST", "/fhir/CarePlan", body, callers[index])

    return Scenario(
        "create", "POST /fhir/CarePlan, contract of a seeded patient, by its clinician", factory, _clinicians(bodies)
    )


def _noting_version(versions: dict[str, int], rid: str) -> Callable[[int, bytes], bool]:
    """A hook that notes the version an update of ``rid`` stored (its ``ETag``, ``W/"3"``);
    True when the update succeeded."""

    def noted(status: int, head: bytes) -> bool:
        tag = header_value(head, b"etag") if 200 <= status < 300 else None
        if tag is None:
            return False
        versions[rid] = max(versions.get(rid, 1), int(tag.split(b'"')[1]))
        return True

    return noted


def _noted_bodies(data: SeededData, order: list[str]) -> tuple[_Bodies, list[str]]:
    """The contracts ``order`` names, each with a new note; and their clinicians."""
    by_id = {contract["id"]: contract for contract in data.contracts}
    bodies = []
    for rid in order:
        body = dict(by_id[rid])
        body["note"] = [*body.get("note", []), {"text": "Uppföljning @@N@@: planen gäller oförändrad."}]
        bodies.append(body)
    return _Bodies(bodies), [clinician(body) for body in bodies]


def update_scenario(data: SeededData) -> Scenario:
    order = _shuffled(data.contract_ids, 3)
    templates, callers = _noted_bodies(data, order)
    requests = [
        Request("PUT", f"/fhir/CarePlan/{rid}", None, caller, "", _noting_version(data.versions, rid))
        for rid, caller in zip(order, callers, strict=True)
    ]

    def factory(n: int) -> Request:
        index, body = templates.next()
        return requests[index]._replace(body=body)

    return Scenario(
        "update",
        "PUT /fhir/CarePlan/{id}, seeded contract with a new note, by its clinician",
        factory,
        _clinicians(data.contracts),
    )


def update_if_match_scenario(data: SeededData) -> Scenario:
    """Updates that name the version they replace; a contract is lent to one request at a time."""
    order = _shuffled(data.contract_ids, 6)
    templates, callers = _noted_bodies(data, order)
    free = deque(range(len(order)))

    def returned(index: int) -> Answered:
        noted = _noting_version(data.versions, order[index])

        def answered(status: int, head: bytes) -> None:
            if noted(status, head):
                free.append(index)
            # otherwise (an error of the run) its version is no longer known: it is not lent again

        return answered

    hooks = [returned(index) for index in range(len(order))]

    def factory(n: int) -> Request:
        if not free:
            raise RuntimeError("update-if-match: every contract's last update failed (see the errors)")
        index = free.popleft()
        rid = order[index]
        match = f'If-Match: W/"{data.versions.get(rid, 1)}"\r\n'
        return Request("PUT", f"/fhir/CarePlan/{rid}", templates.render(index), callers[index], match, hooks[index])

    return Scenario(
        "update-if-match",
        "PUT /fhir/CarePlan/{id} with If-Match, seeded contract with a new note, by its clinician",
        factory,
        _clinicians(data.contracts),
    )


def include_scenario(data: SeededData) -> Scenario:
    contracts = random.Random(4).sample(data.contracts, len(data.contracts))
    requests = [
        Request(
            "GET",
            f"/fhir/CarePlan?subject={c['subject']['reference']}&_include=CarePlan:care-team&_include=CarePlan:goal",
            caller=clinician(c),
        )
        for c in contracts
    ]

    def factory(n: int) -> Request:
        return requests[n % len(requests)]

    return Scenario(
        "include",
        "GET CarePlan?subject=…&_include=CarePlan:care-team&_include=CarePlan:goal, user token with a care relation",
        factory,
        _clinicians(contracts),
    )


def chain_scenario(data: SeededData) -> Scenario:
    system = quote(PERSONNUMMER_SYSTEM, safe="")
    paths = [
        f"/fhir/CarePlan?subject:Patient.identifier={system}%7C{number}" for number in _shuffled(data.personnummer, 5)
    ]

    def factory(n: int) -> Request:
        return Request("GET", paths[n % len(paths)], caller=READER)

    return Scenario(
        "chain", "GET CarePlan?subject:Patient.identifier=personnummer, system token", factory, frozenset({READER})
    )


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
        return Request("POST", "/fhir", bundle, INTEGRATION)

    return Scenario(
        "transaction",
        "POST /fhir transaction: Patient + CareTeam + 2 Goals + CarePlan, by the region's integration",
        factory,
        frozenset({INTEGRATION}),
    )


BUILDERS: dict[str, Callable[[SeededData], Scenario]] = {
    "read": read_scenario,
    "read-user": read_user_scenario,
    "include": include_scenario,
    "create": create_scenario,
    "update-if-match": update_if_match_scenario,
    "transaction": transaction_scenario,
    "update": update_scenario,
    "chain": chain_scenario,
}
