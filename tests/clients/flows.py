"""The contract every real-client flow writes, as an integration engine sends it (issue 15, item 7)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from bench.bulk import compact_contract, personnummer_of

from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM

CONTRACT = 7_000_001
"""The bench's compact contract number the flows write (its patient is new to the database)."""


def contract_bundle() -> tuple[dict[str, Any], str]:
    """A whole contract (patient, care team, two goals, the plan) as a transaction tied by
    urn:uuid, with the patient created only if its personnummer is new; and that personnummer."""
    resources = compact_contract(CONTRACT, date.today())
    urns = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{uuid.uuid4()}" for r in resources}
    text = json.dumps([{key: value for key, value in r.items() if key != "id"} for r in resources])
    for address, urn in urns.items():
        text = text.replace(f'"{address}"', f'"{urn}"')
    entries = []
    for resource, body in zip(resources, json.loads(text), strict=True):
        request = {"method": "POST", "url": resource["resourceType"]}
        if resource["resourceType"] == "Patient":
            request["ifNoneExist"] = f"identifier={PERSONNUMMER_SYSTEM}|{personnummer_of(CONTRACT)}"
        address = urns[f"{resource['resourceType']}/{resource['id']}"]
        entries.append({"fullUrl": address, "resource": body, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, personnummer_of(CONTRACT)


def relative(location: str) -> str:
    """``Type/id`` of a response's ``location`` (``[base]/Type/id/_history/n``)."""
    kind, identifier = location.split("/_history/")[0].rsplit("/", 2)[-2:]
    return f"{kind}/{identifier}"
