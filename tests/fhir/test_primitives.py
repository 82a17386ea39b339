"""The R4 primitive forms (fhir/primitives.py) agree with the fhir.resources R4B models.

The write path checks primitives with the forms of R4 datatypes.html alone; the typed models
are no longer asked on every write.  Over a corpus of good and bad values per type, the
form says what the model says (both refuse, or both accept; where the model is laxer than the
spec, the spec's form refuses), and the server refuses a bad value with a 400 naming the element.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhirbridge.fhir.primitives import form_problem

# (type, the element of a minimal resource that holds it, values)
CORPUS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    (
        "date",
        "Patient",
        {},
        [
            "2023",
            "2023-01",
            "2023-01-31",
            "2024-02-29",
            "2023-02-29",
            "2023-02-30",
            "2023-13",
            "23-01-01",
            "2023-1-01",
            " 2023-01-01",
            "2023-01-01T10:00:00Z",
            "0000-01-01",
            "2023-04-31",
        ],
    ),
    (
        "dateTime",
        "Observation",
        {"status": "final", "code": {"text": "x"}},
        [
            "2023",
            "2023-01-01",
            "2023-01-01T10:00:00Z",
            "2023-01-01T10:00:00.123+01:00",
            "2023-01-01T10:00:00",
            "2023-01-01T25:00:00Z",
            "2023-01-01T10:00Z",
            "2023-02-30T10:00:00+01:00",
            "2023-01-01T10:00:00+15:00",
            "2023-01-01T10:00:00+14:00",
            "2023-01-01 10:00:00Z",
        ],
    ),
    (
        "instant",
        "Observation",
        {"status": "final", "code": {"text": "x"}},
        [
            "2023-01-01T10:00:00Z",
            "2023-01-01T10:00:00.5+02:00",
            "2023-01-01T10:00:00",
            "2023-01-01",
            "2023-02-29T10:00:00Z",
        ],
    ),
    ("code", "Patient", {}, ["male", "a b", "a  b", " a", "a ", "x\ty"]),
    ("uri", "Patient", {}, ["http://example.org", "urn:oid:1.2.3", "a b", "http://x y"]),
]
ELEMENT = {
    ("date", "Patient"): "birthDate",
    ("dateTime", "Observation"): "effectiveDateTime",
    ("instant", "Observation"): "issued",
    ("code", "Patient"): "gender",
    ("uri", "Patient"): "implicitRules",
}


SPEC_STRICTER = {("uri", "a b"), ("uri", "http://x y")}
"""Where the models accept what R4's form refuses (a uri is ``\\S*``): the spec's form holds."""


def _model_accepts(resource: dict[str, Any]) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except Exception:
        return False
    return True


@pytest.mark.parametrize(("type_code", "resource_type", "base", "values"), CORPUS)
def test_the_forms_agree_with_the_models(
    type_code: str, resource_type: str, base: dict[str, Any], values: list[str]
) -> None:
    element = ELEMENT[(type_code, resource_type)]
    for value in values:
        resource = {"resourceType": resource_type, **base, element: value}
        if type_code == "code":  # in a Coding: no required binding to refuse it first
            resource = {"resourceType": "Patient", "maritalStatus": {"coding": [{"code": value}]}}
        if (type_code, value) in SPEC_STRICTER:
            assert form_problem(type_code, value) is not None and _model_accepts(resource)
            continue
        assert (form_problem(type_code, value) is None) == _model_accepts(resource), (type_code, value)


@pytest.mark.parametrize(
    ("element", "value"), [("birthDate", "2023-02-30"), ("birthDate", "2023-1-01"), ("implicitRules", "a b")]
)
async def test_a_bad_primitive_is_400_naming_the_element(client: httpx.AsyncClient, element: str, value: str) -> None:
    response = await client.post("/fhir/Patient", json={"resourceType": "Patient", element: value})
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert any(f"Patient.{element}" in issue.get("expression", []) for issue in outcome["issue"]), outcome
