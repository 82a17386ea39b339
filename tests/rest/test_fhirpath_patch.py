"""FHIRPath Patch (R4 fhirpatch.html) as a client sees it: a Parameters resource in FHIR JSON or
FHIR XML, PATCHed to an instance (R4 http.html#patch) or carried by a transaction entry, each
operation type applied and the result processed as an update (version, history, rules); a
malformed operation is a 400 naming it, a path that does not find its one element a 409."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import builders
from tests.support.api import create, history, outcome

FHIR_JSON = {"Content-Type": "application/fhir+json"}
FHIR_XML = {"Content-Type": "application/fhir+xml"}


def operation(kind: str, path: str, **parts: Any) -> dict[str, Any]:
    listed = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    for name, value in parts.items():
        listed.append({"name": name, **value} if isinstance(value, dict) else {"name": name, "valueInteger": value})
    return {"name": "operation", "part": listed}


def fhirpath_patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(operations)}


async def test_each_operation_type_is_applied_as_an_update(client: httpx.AsyncClient) -> None:
    patient = await create(
        client,
        dict(
            builders.patient(),
            telecom=[{"system": "phone", "value": "070-1"}, {"system": "email", "value": "a@b.se"}],
        ),
    )
    url = f"/fhir/Patient/{patient['id']}"
    document = fhirpath_patch(
        operation("replace", "Patient.gender", value={"valueCode": "female"}),
        operation("add", "Patient", name={"valueString": "active"}, value={"valueBoolean": True}),
        operation("add", "Patient.name[0]", name={"valueString": "given"}, value={"valueString": "Maria"}),
        operation("insert", "Patient.telecom", index=0, value={"valueContactPoint": {"system": "sms", "value": "072"}}),
        operation("move", "Patient.telecom", source=2, destination=0),
        operation("delete", "Patient.telecom.where(system = 'phone')"),
        operation("delete", "Patient.deceasedBoolean"),  # nothing there: not an error
        operation(
            "add",
            "Patient",
            name={"valueString": "contact"},
            value={"name": "value", "part": [{"name": "name", "valueHumanName": {"family": "Svensson"}}]},
        ),
    )
    answer = await client.patch(url, json=document, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert answer.status_code == 200, answer.text
    patched = answer.json()
    assert patched["gender"] == "female" and patched["active"] is True
    assert patched["name"][0]["given"] == [*patient["name"][0]["given"], "Maria"]
    assert patched["telecom"] == [{"system": "email", "value": "a@b.se"}, {"system": "sms", "value": "072"}]
    assert patched["contact"] == [{"name": {"family": "Svensson"}}]
    assert patched["meta"]["versionId"] == "2" and answer.headers["etag"] == 'W/"2"'
    assert (await client.get(url)).json() == patched
    methods = [e["request"]["method"] for e in await history(client, f"Patient/{patient['id']}/_history")]
    assert methods == ["PATCH", "POST"]
    outcome(await client.patch(url, json=document, headers={**FHIR_JSON, "If-Match": 'W/"1"'}), 412)


async def test_a_fhirpath_patch_in_xml(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    url = f"/fhir/Patient/{patient['id']}"
    body = (
        '<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>'
        '<part><name value="type"/><valueCode value="replace"/></part>'
        '<part><name value="path"/><valueString value="Patient.gender"/></part>'
        '<part><name value="value"/><valueCode value="female"/></part>'
        "</parameter></Parameters>"
    )
    answer = await client.patch(url, content=body.encode(), headers={**FHIR_XML, "Accept": "application/fhir+xml"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+xml")
    assert '<gender value="female"/>' in answer.text
    assert (await client.get(url)).json()["gender"] == "female"
    bad = body.replace('value="replace"', 'value="rename"')
    refused = outcome(await client.patch(url, content=bad.encode(), headers=FHIR_XML), 400)
    assert refused["issue"][0]["expression"] == ["Parameters.parameter[0].part[type]"]
    outcome(await client.patch(url, content=b"<Patient", headers=FHIR_XML), 400)
    assert (await client.get(url)).json()["meta"]["versionId"] == "2"


async def test_malformed_and_conflicting_operations_change_nothing(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    url = f"/fhir/Patient/{patient['id']}"
    cases: list[tuple[dict[str, Any], int, str]] = [
        (fhirpath_patch(operation("replace", "Patient.gender")), 400, "Parameters.parameter[0].part[value]"),
        (fhirpath_patch({"name": "other"}), 400, "Parameters.parameter[0]"),
        ({"resourceType": "Parameters"}, 400, "Parameters.parameter"),
        (fhirpath_patch(operation("delete", "Patient.name.exists()")), 400, "Parameters.parameter[0].part[path]"),
        (fhirpath_patch(operation("delete", "Goal.subject")), 400, "Parameters.parameter[0].part[path]"),
        (
            fhirpath_patch(operation("replace", "Patient.birthDate.where(x = 'y')", value={"valueDate": "2000"})),
            409,
            "Parameters.parameter[0].part[path]",
        ),
        (
            fhirpath_patch(operation("add", "Patient", name={"valueString": "gender"}, value={"valueCode": "other"})),
            409,
            "Parameters.parameter[0].part[path]",
        ),
        (
            fhirpath_patch(operation("insert", "Patient.name", index=5, value={"valueHumanName": {"family": "X"}})),
            409,
            "Parameters.parameter[0].part[path]",
        ),
        (fhirpath_patch(operation("replace", "Patient.gender", value={"valueCode": "bogus"})), 400, "Patient.gender"),
    ]
    for document, status, where in cases:
        refused = outcome(await client.patch(url, json=document, headers=FHIR_JSON), status)
        assert where in [e for issue in refused["issue"] for e in issue.get("expression", [])], (document, refused)
    assert (await client.get(url)).json() == patient


async def test_a_fhirpath_patch_in_a_transaction_entry(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    change = fhirpath_patch(operation("replace", "Patient.gender", value={"valueCode": "female"}))
    entry = {"resource": change, "request": {"method": "PATCH", "url": f"Patient/{patient['id']}", "ifMatch": 'W/"1"'}}
    answer = await client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["entry"][0]["response"]["etag"] == 'W/"2"'
    broken = dict(entry, resource=fhirpath_patch(operation("replace", "Patient.birthDate.where(x = 'y')", value={})))
    refused = outcome(
        await client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [broken]}), 400
    )
    assert refused["issue"][0]["expression"] == ["Bundle.entry[0].resource.parameter[0].part[value]"]
    assert (await client.get(f"/fhir/Patient/{patient['id']}")).json()["gender"] == "female"


async def test_the_capability_statement_names_the_patch_formats_applied(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    assert statement["patchFormat"] == ["application/json-patch+json", "application/fhir+json", "application/fhir+xml"]
    assert "application/xml-patch+xml" not in statement["patchFormat"]  # XML Patch is 415
