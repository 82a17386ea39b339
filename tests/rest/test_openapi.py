"""``/openapi.json`` against the OpenAPI 3.1 specification (openapi-spec-validator) and against
the CapabilityStatement (R4 capabilitystatement.html): per resource type, every interaction,
operation and search parameter one names is in the other.

The interaction of each OpenAPI operation is read from its method and path as R4 http.html#summary
lays them out, not from anything the document says of itself.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.rest.app import create_app
from fhirbridge.rest.interactions.capabilities import capability_statement
from tests.security.tokens import AUDIENCE, ISSUER, ec_key, write_jwks

RESULT_PARAMETERS = {"_count", "_sort", "_include", "_revinclude", "_total", "_summary", "_elements", "_format",
                     "_pretty", "_contained", "_containedType"}  # fmt: skip
"""R4 search.html#return (and http.html#parameters): what shapes a search's answer; not search parameters."""
PUBLIC = {"/fhir/metadata", "/fhir/.well-known/smart-configuration"}
BY_SHAPE: dict[tuple[str, str], str] = {
    ("get", ""): "search-type",
    ("post", ""): "create",
    ("put", ""): "update",
    ("patch", ""): "patch",
    ("delete", ""): "delete",
    ("post", "_search"): "search-type",
    ("get", "_history"): "history-type",
    ("get", "{id}"): "read",
    ("put", "{id}"): "update",
    ("patch", "{id}"): "patch",
    ("delete", "{id}"): "delete",
    ("get", "{id}/_history"): "history-instance",
    ("get", "{id}/_history/{vid}"): "vread",
}
"""R4 http.html#summary: the type-level interactions by method and the path after ``[base]/[type]``."""
SYSTEM_SHAPES = {
    ("get", ""): {"search-system"},
    ("post", ""): {"transaction", "batch"},
    ("get", "_history"): {"history-system"},
}


def _settings(auth: str, tmp_path: Path) -> Settings:
    if auth == "off":
        return Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", auth="off")
    jwks = write_jwks(tmp_path / "jwks.json", ec_key())
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        auth="jwt",
        auth_issuers=[TrustedIssuer(issuer=ISSUER, jwks=str(jwks))],
        auth_audience=[AUDIENCE],
    )


@pytest.fixture(params=["jwt", "off"])
def documents(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, dict[str, Any], dict[str, Any]]:
    """The settings, the OpenAPI document (as /openapi.json serves it) and the CapabilityStatement."""
    settings = _settings(request.param, tmp_path)
    return settings, create_app(settings).openapi(), capability_statement(AUDIENCE, settings)


def _fhir_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path == "/fhir" or path.startswith("/fhir/")
        for method, operation in item.items()
        if path not in PUBLIC
    ]


def _openapi_view(document: dict[str, Any]) -> tuple[dict[str, dict[str, set[str]]], set[str]]:
    """Per type: interactions, operations, search parameters (``(system)``: of the search across
    types); and the system interactions."""
    types: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    system: set[str] = set()
    for method, path, operation in _fhir_operations(document):
        rest = path.removeprefix("/fhir").strip("/")
        resource_type, _, tail = rest.partition("/")
        if (method, rest) in SYSTEM_SHAPES or rest == "_history":
            system |= SYSTEM_SHAPES[(method, rest)]
            if (method, rest) == ("get", ""):
                names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
                types["(system)"]["searchParam"] = names - RESULT_PARAMETERS - {"_type"}
            continue
        if resource_type.startswith("$"):  # a system-level operation ([base]/$export)
            types["(system)"]["operation"].add(resource_type[1:])
            continue
        operation_name = re.search(r"\$([a-z-]+)$", path)
        if operation_name:
            types[resource_type]["operation"].add(operation_name.group(1))
            continue
        interaction = BY_SHAPE[(method, tail)]
        types[resource_type]["interaction"].add(interaction)
        if (method, tail) == ("get", ""):
            names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
            types[resource_type]["searchParam"] = names - RESULT_PARAMETERS
        if method in ("put", "delete") and tail == "":
            types[resource_type]["conditional"].add(interaction)
    return types, system


def _capability_view(statement: dict[str, Any]) -> tuple[dict[str, dict[str, set[str]]], set[str]]:
    rest = statement["rest"][0]
    types: dict[str, dict[str, set[str]]] = {}
    for resource in rest["resource"]:
        conditional = {"update"} if resource.get("conditionalUpdate") else set()
        if resource.get("conditionalDelete", "not-supported") != "not-supported":
            conditional.add("delete")
        types[resource["type"]] = {
            "interaction": {i["code"] for i in resource["interaction"]},
            "operation": {o["name"] for o in resource.get("operation", [])},
            "searchParam": {p["name"] for p in resource.get("searchParam", [])},
            "conditional": conditional,
        }
    types["(system)"] = {
        "searchParam": {p["name"] for p in rest["searchParam"]},
        "operation": {o["name"] for o in rest.get("operation", [])},
    }
    return types, {i["code"] for i in rest["interaction"]}


def test_the_document_is_valid_openapi(documents: tuple[Settings, dict[str, Any], dict[str, Any]]) -> None:
    _, document, _ = documents
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_type_interaction_operation_and_search_parameter_agrees_with_the_capability_statement(
    documents: tuple[Settings, dict[str, Any], dict[str, Any]],
) -> None:
    _, document, statement = documents
    openapi_types, openapi_system = _openapi_view(document)
    capability_types, capability_system = _capability_view(statement)
    assert openapi_system == capability_system
    assert set(openapi_types) == set(capability_types)
    for resource_type, claims in capability_types.items():
        listed = openapi_types[resource_type]
        for aspect, claimed in claims.items():
            assert listed.get(aspect, set()) == claimed, (resource_type, aspect)
    assert len(capability_types["CarePlan"]["searchParam"]) > 20  # the registry's, not a hand-written few


def test_revisions_is_listed_only_on_the_types_that_have_it(
    documents: tuple[Settings, dict[str, Any], dict[str, Any]],
) -> None:
    _, document, _ = documents
    listed = sorted(path.split("/")[2] for path in document["paths"] if path.endswith("/$revisions"))
    assert listed == ["CarePlan", "CareTeam", "Goal"]
    assert not any(path.startswith("/fhir/AuditEvent") and "put" in item for path, item in document["paths"].items())


def test_everything_is_listed_on_patients_alone_with_its_parameters(
    documents: tuple[Settings, dict[str, Any], dict[str, Any]],
) -> None:
    _, document, statement = documents
    assert [path for path in document["paths"] if "$everything" in path] == ["/fhir/Patient/{id}/$everything"]
    item = document["paths"]["/fhir/Patient/{id}/$everything"]
    for method in ("get", "post"):
        named = {p["name"] for p in item[method]["parameters"]}
        assert {"_since", "_type", "_count", "_cursor"} <= named
    assert item["post"]["requestBody"]["required"] is False
    meta_add = sorted(path.split("/")[2] for path in document["paths"] if path.endswith("/$meta-add"))
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"everything", "meta-add", "meta-delete"} <= {o["name"] for o in patient["operation"]}
    assert "Patient" in meta_add and "CarePlan" in meta_add


def test_a_token_is_asked_for_where_the_service_asks_for_one(
    documents: tuple[Settings, dict[str, Any], dict[str, Any]],
) -> None:
    settings, document, statement = documents
    schemes = document["components"].get("securitySchemes", {})
    if settings.auth == "off":
        assert schemes == {}
        assert "security" not in statement["rest"][0]
    else:
        assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert document["paths"]["/fhir/metadata"]["get"]["security"] == []
    for method, path, operation in _fhir_operations(document):
        public = path.split("/")[2:3] in (["StructureDefinition"], ["CodeSystem"], ["ValueSet"],
                                          ["OperationDefinition"], ["SearchParameter"], ["Questionnaire"])  # fmt: skip
        wanted = [] if public or settings.auth == "off" else [{"bearer": []}]
        assert operation["security"] == wanted, (method, path)
        if not public and settings.auth != "off":
            assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        where = node["$ref"].removeprefix("#/").split("/")
        node = document
        for part in where:
            node = node[part]
    return node


def test_every_fhir_operation_answers_errors_with_an_operation_outcome(
    documents: tuple[Settings, dict[str, Any], dict[str, Any]],
) -> None:
    _, document, _ = documents
    for method, path, operation in _fhir_operations(document):
        errors = {
            status: _resolve(document, answer) for status, answer in operation["responses"].items() if status >= "400"
        }
        assert {"400", "500", "503"} <= set(errors), (method, path)
        for answer in errors.values():
            schema = _resolve(document, answer["content"]["application/fhir+json"]["schema"])
            assert schema["properties"]["resourceType"] == {"const": "OperationOutcome"}, (method, path)


async def test_the_service_s_own_refusals_fit_the_documented_operation_outcome(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schema = {**document["components"]["schemas"]["OperationOutcome"], "$defs": {}}
    for answer in (
        await client.get("/fhir/CarePlan/no-such-plan"),
        await client.get("/fhir/Patient/x/$revisions"),
        await client.get("/fhir/CarePlan", params={"date": "not-a-date"}),
        await client.post("/fhir/Goal", content=b"{", headers={"Content-Type": "application/fhir+json"}),
    ):
        assert answer.status_code in (400, 404), answer.text
        jsonschema.validate(answer.json(), schema)
