"""Schemathesis against the OpenAPI document the app serves (``/openapi.json``): every
operation gets generated requests, fitting the schema and not, on a real SQLite file, and
none may be answered with a server error (5xx).  Instance-level operations also get
requests aimed at a stored Patient, so that they reach past the 404.

15 examples per operation and kind of request by default (``FHIRBRIDGE_FUZZ_EXAMPLES`` for
more, as ``make fuzz`` does); derandomized, so a failure repeats on the next run.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from fhirbridge.rest.openapi import FHIR_PREFIX, served_types
from fhirbridge.rest.routes import ROUTES
from tests.fuzz.conftest import SEEDED_PATIENT, bounded, fuzz_examples

EXAMPLES = fuzz_examples(15)
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
STORED_ADDRESS = {"type": "Patient", "id": SEEDED_PATIENT, "vid": "1"}


def operation_labels() -> list[str]:
    """``METHOD /path`` of every operation in the OpenAPI document (which needs no database),
    one per route of the route table and type that serves it, where a route serves many types:
    search on every type (each has search parameters of its own), the others on Patient (the
    stored one) or their first type."""
    document = create_app(Settings(database_url="sqlite:///unused.db", auth="off")).openapi()
    chosen, per_type = set(), set()
    for route in ROUTES:
        served = list(served_types(route))
        per_type |= {f"{route.method} {FHIR_PREFIX}{route.path.replace('{type}', t or '')}" for t in served}
        if route.interaction == "search-type" and route.method == "GET":
            fuzzed = served  # each type has search parameters of its own
        else:
            fuzzed = ["Patient"] if "Patient" in served else served[:1]
        chosen |= {f"{route.method} {FHIR_PREFIX}{route.path.replace('{type}', t or '')}" for t in fuzzed}
    labels = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]
    return [label for label in labels if label in chosen or label not in per_type]


def requests_for(operation: schemathesis.APIOperation) -> st.SearchStrategy[schemathesis.Case]:
    """Requests that fit the schema, requests that do not, and for an operation on one
    resource, fitting requests addressed to the stored Patient."""
    strategies = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    names = {parameter.name for parameter in operation.path_parameters}
    if ("id" in names and operation.path.startswith("/fhir/{type}")) or operation.path.startswith("/fhir/Patient/"):
        address = {name: value for name, value in STORED_ADDRESS.items() if name in names}
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=address))
    return st.one_of(strategies)


@pytest.mark.parametrize("label", operation_labels())
def test_no_operation_answers_with_a_server_error(fuzz_app: FastAPI, fuzz_headers: dict[str, str], label: str) -> None:
    operation = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app).find_operation_by_label(label)
    assert operation is not None, label
    cases = requests_for(operation)

    @bounded(3 * EXAMPLES)
    @given(case=cases)
    def no_server_error(case: schemathesis.Case) -> None:
        response = case.call(headers=fuzz_headers)
        case.validate_response(response, checks=[not_a_server_error], headers=fuzz_headers)

    no_server_error()
