"""Malformed and hostile input of every kind is a 4xx OperationOutcome, never a server fault.

The client here sees a server fault as the 500 a client on the network would get (see
:func:`tests.support.api.network_client`).  Families of inputs run in one test each and
report every case that misbehaves.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest
from fastapi import FastAPI

from tests.support import builders
from tests.support.api import expressions, network_client, outcome

FAULT = "BUG: a server fault (500) on client input"


@pytest.fixture
async def wire(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with network_client(app) as http:
        yield http


@pytest.fixture
async def patient(wire: httpx.AsyncClient) -> dict:
    response = await wire.post("/fhir/Patient", json=builders.patient())
    assert response.status_code == 201
    created: dict = response.json()
    return created


def problem(response: httpx.Response, allowed: tuple[int, ...] = ()) -> str | None:
    """Why a response is not an acceptable answer to hostile input, or None when it is:
    a success, or a 4xx with an OperationOutcome (``allowed`` narrows the statuses)."""
    if allowed and response.status_code not in allowed:
        return f"{response.status_code} (expected {allowed}): {response.text[:200]}"
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:200]}"
    if response.status_code >= 400:
        if not response.headers.get("content-type", "").startswith("application/fhir+json"):
            return f"{response.status_code} without a FHIR body"
        if response.json().get("resourceType") != "OperationOutcome":
            return f"{response.status_code} without an OperationOutcome"
    return None


async def all_answered(cases: dict[str, Awaitable[httpx.Response]], allowed: tuple[int, ...] = ()) -> None:
    """Send each case in turn and fail once, listing every case that misbehaved."""
    problems = {}
    for name, pending in cases.items():
        found = problem(await pending, allowed)
        if found:
            problems[name] = found
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)


def nested_extension(depth: int) -> dict:
    extension: dict = {"url": "http://example.org/x", "valueString": "botten"}
    for _ in range(depth):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    return extension


BODIES = {
    "invalid JSON": b'{"resourceType": "Patient",',
    "JSON array": b"[]",
    "JSON string": b'"Patient"',
    "JSON null": b"null",
    "empty body": b"",
    "white space only": b"  \n ",
    "invalid UTF-8": b'{"resourceType": "Patient", "gender": "\xff\xfe"}',
    "byte order mark": b'\xef\xbb\xbf{"resourceType": "Patient"}',
    "number too large for a double": b'{"resourceType": "Patient", "multipleBirthInteger": 1e400}',
    "integer beyond 64 bits": b'{"resourceType": "Patient", "multipleBirthInteger": 123456789012345678901234567890}',
    "resourceType not a string": b'{"resourceType": 5}',
    "resourceType of no FHIR type": b'{"resourceType": "Kontrakt"}',
    "nested arrays 5000 deep": b'{"resourceType": "Patient", "name": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "control character in a code": json.dumps(dict(builders.patient(), gender="male\u0000")).encode(),
    "NUL inside a name": json.dumps(builders.patient(family="Tol\u0000vansson")).encode(),
    "extensions nested 400 deep": json.dumps(dict(builders.patient(), extension=[nested_extension(400)])).encode(),
    "very long string": json.dumps(builders.patient(family="Å" * 200_000)).encode(),
    "ten thousand names": json.dumps(dict(builders.patient(), name=[{"family": "T"}] * 10_000)).encode(),
}


async def test_hostile_bodies_on_create_are_never_a_fault(wire: httpx.AsyncClient) -> None:
    fhir_json = {"Content-Type": "application/fhir+json"}
    await all_answered(
        {name: wire.post("/fhir/Patient", content=body, headers=fhir_json) for name, body in BODIES.items()}
    )


async def test_hostile_bodies_on_update_are_400_and_change_nothing(wire: httpx.AsyncClient, patient: dict) -> None:
    url = f"/fhir/Patient/{patient['id']}"
    bodies = {"invalid": b"{bad", "array": b"[]", "empty": b"", "other type": b'{"resourceType": "Practitioner"}'}
    fhir_json = {"Content-Type": "application/fhir+json"}
    cases = {}
    for name, body in bodies.items():
        cases[f"PUT id, {name}"] = wire.put(url, content=body, headers=fhir_json)
        cases[f"PUT criteria, {name}"] = wire.put(
            "/fhir/Patient", params={"identifier": "x"}, content=body, headers=fhir_json
        )
    await all_answered(cases, allowed=(400,))
    assert (await wire.get(url)).json() == patient


async def test_unknown_resource_types_in_the_url_are_404(wire: httpx.AsyncClient) -> None:
    cases = {}
    for resource_type in ("Observation", "patient", "Kontrakt", "Resource", "Bundle"):
        body = json.dumps({"resourceType": resource_type}).encode()
        cases[f"GET {resource_type}"] = wire.get(f"/fhir/{resource_type}")
        cases[f"POST {resource_type}"] = wire.post(f"/fhir/{resource_type}", content=body)
        cases[f"GET {resource_type}/1"] = wire.get(f"/fhir/{resource_type}/1")
        cases[f"PUT {resource_type}/1"] = wire.put(f"/fhir/{resource_type}/1", content=body)
        cases[f"DELETE {resource_type}/1"] = wire.delete(f"/fhir/{resource_type}/1")
        cases[f"GET {resource_type}/1/_history"] = wire.get(f"/fhir/{resource_type}/1/_history")
    await all_answered(cases, allowed=(404,))


async def test_impossible_ids_are_refused_on_every_instance_interaction(wire: httpx.AsyncClient) -> None:
    ids = ["x" * 65, "x" * 5000, "a_b", "a b", "%C3%A5", "..%2F..%2Fetc", "%00", "*", "-"]
    cases = {}
    for resource_id in ids:
        url = f"/fhir/Patient/{resource_id}"
        label = f"{resource_id[:12]} ({len(resource_id)} characters)"
        cases[f"GET {label}"] = wire.get(url)
        cases[f"history {label}"] = wire.get(f"{url}/_history")
        cases[f"vread {label}"] = wire.get(f"{url}/_history/1")
        cases[f"DELETE {label}"] = wire.delete(url)
        cases[f"PUT {label}"] = wire.put(url, json=dict(builders.patient(), id=resource_id))
    await all_answered(cases)


IMPOSSIBLE_IDS = {"x" * 65: "x" * 65, "a_b": "a_b", "a%20b": "a b", "%C3%A5": "å", "*": "*"}
"""Ids that reach an instance-level route (as sent in the URL: as the server reads them)."""


async def test_an_impossible_id_is_400_for_a_write_and_404_for_a_read(wire: httpx.AsyncClient) -> None:
    # A write names the id it wants; one no resource can have is a malformed request.  A read
    # asks whether something exists: it does not (R4 http.html#read).
    for sent, resource_id in IMPOSSIBLE_IDS.items():
        url = f"/fhir/Patient/{sent}"
        put = outcome(await wire.put(url, json=dict(builders.patient(), id=resource_id)), 400)
        assert expressions(put) == ["Patient.id"] and "is not a FHIR id" in put["issue"][0]["diagnostics"]
        assert expressions(outcome(await wire.delete(url), 400)) == ["Patient.id"]
        for read in (url, f"{url}/_history", f"{url}/_history/1"):
            outcome(await wire.get(read), 404)
    entries = [
        {"request": {"method": "DELETE", "url": "Patient/a_b"}},
        {"resource": dict(builders.patient(), id="x" * 65), "request": {"method": "PUT", "url": f"Patient/{'x' * 65}"}},
    ]
    for index, entry in enumerate(entries):
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
        refused = outcome(await wire.post("/fhir", json=bundle), 400)
        assert expressions(refused) == ["Bundle.entry[0].request.url"], index
    assert (await wire.get("/fhir/_history")).json().get("entry") is None


async def test_vread_of_impossible_versions_is_404(wire: httpx.AsyncClient, patient: dict) -> None:
    url = f"/fhir/Patient/{patient['id']}/_history"
    await all_answered({version: wire.get(f"{url}/{version}") for version in ("0", "-1", "abc", "1.5")}, allowed=(404,))


async def test_vread_of_a_version_beyond_64_bits_is_404(wire: httpx.AsyncClient, patient: dict) -> None:
    outcome(await wire.get(f"/fhir/Patient/{patient['id']}/_history/99999999999999999999"), 404)


async def test_unsupported_methods_are_405(wire: httpx.AsyncClient, patient: dict) -> None:
    url = f"/fhir/Patient/{patient['id']}"
    methods = ("PROPFIND", "TRACE", "CONNECT")  # PATCH is served (tests/rest/test_patch.py)
    await all_answered({m: wire.request(m, url, content=b"[]") for m in methods}, allowed=(405,))


async def test_head_is_either_served_or_refused_as_http_says(wire: httpx.AsyncClient, patient: dict) -> None:
    # R4 http.html#head: HEAD is allowed wherever GET is; servers without it answer 405 or 501.
    response = await wire.head(f"/fhir/Patient/{patient['id']}")
    assert response.status_code in (200, 405, 501)
    assert response.content == b""


async def test_addresses_with_no_interaction_are_4xx(wire: httpx.AsyncClient) -> None:
    paths = ["/fhir/Patient/1/2/3", "/fhir/$everything", "/fhir/Patient/$validate", "/fhir/Patient/1/_history/1/x"]
    await all_answered({path: wire.get(path) for path in paths}, allowed=(400, 404, 405))


QUERIES = [
    "%zz=1",
    "name=%ff%fe",
    "&&&",
    "=x",
    "name",
    "_count=abc",
    "_count=-1",
    "_count=99999999999999999999999",
    "_count=0",
    "_cursor=abc",
    "_cursor=99999999999999999999",
    "_total=maybe",
    "birthdate=lt",
    "birthdate=2026-13-45",
    "birthdate=0001-01-01",
    "birthdate=ap1912",
    "_lastUpdated=eq2026",
    "gender:missing=maybe",
    "gender:okand=x",
    "_id:exact=x",
    "_id=a%00b",
    "name=a%00b",
    "identifier=a%00b",
    "identifier=%7C",
    "general-practitioner=http://example.org/Practitioner/1%7C2",
    "general-practitioner:identifier=%7C",
    "name:contains=%25_%5C",
    "name=" + "å" * 5000,
    "identifier=" + "x" * 5000,
    "_sort=-name&_include=*&_revinclude=*",
    "name.family=x",
    "_has:CarePlan:subject:status=active",
    "_id=" + ",".join(str(i) for i in range(5000)),
]


async def test_weird_query_strings_are_never_a_fault(wire: httpx.AsyncClient, patient: dict) -> None:
    await all_answered({query[:60]: wire.get(f"/fhir/Patient?{query}") for query in QUERIES})


@pytest.mark.parametrize("query", ["birthdate=9999-12-31", "_lastUpdated=gt9999-12-31", "birthdate=le9999-12-31"])
async def test_a_search_on_the_last_day_of_9999_is_not_a_fault(
    wire: httpx.AsyncClient, patient: dict, query: str
) -> None:
    await all_answered({query: wire.get(f"/fhir/Patient?{query}")})


async def test_weird_history_queries_are_never_a_fault(wire: httpx.AsyncClient, patient: dict) -> None:
    queries = [
        "_since=9999-12-31T23:59:59%2B14:00",
        "_since=0001-01-01T00:00:00Z",
        "_since=2026-02-30T00:00:00Z",
        "_count=99999999999999999999",
        "_cursor=99999999999999999999",
        "_at=2026",
    ]
    cases = {}
    for query in queries:
        cases[f"system {query}"] = wire.get(f"/fhir/_history?{query}")
        cases[f"instance {query}"] = wire.get(f"/fhir/Patient/{patient['id']}/_history?{query}")
    await all_answered(cases)


async def test_garbage_headers_on_writes_are_never_a_fault(wire: httpx.AsyncClient) -> None:
    headers = [
        {"If-Match": "vilken som helst"},
        {"If-Match": 'W/"abc"'},
        {"If-Match": 'W/"99999999999999999999"'},
        {"If-None-Exist": "%%%"},
        {"If-None-Exist": "identifier"},
        {"If-None-Exist": "okand=1"},
        {"Prefer": "return=;;;, handling=??"},
        {"Accept": "!!!"},
        {"Content-Type": "???"},
    ]
    cases = {}
    for header in headers:
        cases[f"POST {header}"] = wire.post("/fhir/Patient", json=builders.patient(), headers=header)
        cases[f"PUT {header}"] = wire.put(
            "/fhir/Patient/pnr-1", json=dict(builders.patient(), id="pnr-1"), headers=header
        )
    await all_answered(cases)


async def test_garbage_conditional_read_headers_are_ignored(wire: httpx.AsyncClient, patient: dict) -> None:
    url = f"/fhir/Patient/{patient['id']}"
    headers = [{"If-None-Match": "?"}, {"If-Modified-Since": "igar"}, {"If-Modified-Since": "Mon, 99 Foo 10000 GMT"}]
    await all_answered({str(h): wire.get(url, headers=h) for h in headers}, allowed=(200,))


@pytest.mark.parametrize(
    "query",
    ["&".join(["name=a"] * 1000), "name=" + ",".join(["a"] * 1000)],
    ids=["1000-and-clauses", "1000-or-values"],
)
async def test_searches_with_very_many_clauses_are_refused(wire: httpx.AsyncClient, query: str) -> None:
    response = await wire.get(f"/fhir/Patient?{query}")
    outcome(response, 400)
    assert response.json()["issue"][0]["code"] == "too-costly"


async def test_the_largest_allowed_search_is_answered(wire: httpx.AsyncClient, patient: dict) -> None:
    query = "&".join([f"name=a{i}" for i in range(31)]) + "&name=" + ",".join(f"b{i}" for i in range(100))
    await all_answered({"search": wire.get(f"/fhir/Patient?{query}")}, allowed=(200,))
