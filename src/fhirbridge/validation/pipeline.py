"""The validation every write goes through, in one place.

Order (cheapest and clearest first): the body is a resource of the type the URL names, with
the id the URL names (R4 http.html#update); its JSON form, cardinality, required bindings,
reference target types and primitive forms (:mod:`.json_form`, from the official R4 element
tables and :mod:`fhirbridge.fhir.primitives`), in one walk: one validator, no second pass by
typed models (issue 12).  Then what is well formed but not accepted, which answers 422: strings
over FHIR's 1 MB limit (:mod:`.json_form`), Swedish identifiers
(:mod:`.swedish_identifiers`), the profiles that apply
(:mod:`fhirbridge.conformance.validator`: those claimed in ``meta.profile``, and the
contract profile for every contract CarePlan) and, for a QuestionnaireResponse, its
Questionnaire (:mod:`fhirbridge.questionnaires.answers`).  Referential integrity needs the database
and is checked in the write transaction (:mod:`fhirbridge.writes.unit_of_work`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.conformance.validator import profile_errors
from fhirbridge.errors import Issue, bad_request, error, invalid
from fhirbridge.fhir.references import ID_RULE, is_valid_id
from fhirbridge.questionnaires.answers import check_response
from fhirbridge.validation.json_form import FoundReference, ReferenceSite, check_json_form
from fhirbridge.validation.swedish_identifiers import check_swedish_identifiers


@dataclass(frozen=True)
class ValidatedResource:
    """A resource that passed validation, with the references it holds."""

    resource_type: str
    resource: dict[str, Any]
    references: tuple[FoundReference, ...]
    sites: tuple[ReferenceSite, ...] = ()
    """Every Reference element, whatever its form; the write path normalises the ones that can
    name a patient or a care relation (:mod:`fhirbridge.writes.references`)."""


def check_envelope(body: Any, expected_type: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object holding one FHIR resource", code="structure")
    resource_type = body.get("resourceType")
    if not isinstance(resource_type, str):
        raise bad_request("The resource has no resourceType", "resourceType", code="required")
    if resource_type != expected_type:
        raise bad_request(
            f"The body is a {resource_type} but the URL addresses {expected_type}", "resourceType", code="invalid"
        )
    return body


def validate_resource(
    body: Any,
    expected_type: str,
    *,
    url_id: str | None,
    local_base: str | None,
    bundle_references: bool = False,
    check_profiles: bool = True,
    built_by_server: bool = False,
) -> ValidatedResource:
    """Validate a resource for create (``url_id`` None) or update (``url_id`` the id in the URL).

    On create a client-sent ``id`` is ignored, as R4 http.html#create requires; on update it
    must be present and equal the URL's id.  ``urn:uuid:`` and conditional references mean
    something only inside a transaction Bundle (``bundle_references``).  Raises a 400
    FhirError listing every issue.
    """
    resource = check_envelope(body, expected_type)
    if url_id is None:
        resource.pop("id", None)
    else:
        body_id = resource.get("id")
        if body_id is None:
            raise bad_request(
                f"The resource must carry the id of the URL ({url_id})", f"{expected_type}.id", code="required"
            )
        if body_id != url_id:
            raise bad_request(
                f"The resource id {body_id!r} does not match the id in the URL ({url_id})", f"{expected_type}.id"
            )
        if not isinstance(body_id, str) or not is_valid_id(body_id):
            raise bad_request(f"An id is {ID_RULE}", f"{expected_type}.id")
    try:
        report = check_json_form(resource, local_base)
        issues: list[Issue] = report.issues
    except RecursionError:
        raise bad_request("The resource is nested too deeply to be a FHIR resource", code="too-costly") from None
    if not bundle_references:
        issues += [
            error(
                "invalid",
                f"{found.parsed.text} can only be resolved inside a transaction Bundle",
                f"{found.path}.reference",
            )
            for found in report.references
            if found.parsed.kind == "conditional" or found.parsed.text.startswith("urn:uuid:")
        ]
    if issues:
        raise invalid(issues)
    rule_issues = report.too_long + check_swedish_identifiers(resource)
    if expected_type == "QuestionnaireResponse" and not built_by_server:
        rule_issues += check_response(resource)
    if check_profiles and not built_by_server:
        rule_issues += profile_errors(resource)
    if rule_issues:
        raise invalid(rule_issues, status=422)
    return ValidatedResource(expected_type, resource, tuple(report.references), tuple(report.sites))
