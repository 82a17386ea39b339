"""``[base]/Patient/[id]/$everything``: the patient's record (R4 patient-operation-everything.html,
OperationDefinition ``Patient-everything``).

The answer is a searchset Bundle: the Patient, then its compartment (R4
compartmentdefinition-patient.html) type by type, each type searched through the parameter by
which the access policy keeps a patient to their own data (``CarePlan?patient=``,
``Communication?subject=``, ``Appointment?actor=``) and the Patients that link to it; on each
page, as ``search.mode = include``, the resources outside the compartment that the page's
entries refer to (the Practitioner, PractitionerRole and Organization of a plan's author), so
that a referenced resource may come again on a later page.  Every entry is judged by the
access policy as a search or read of it is: a patient's token reaches only their own record
(another patient's is a 404, as a read of that Patient is), a clinician sees only what their
care relation shows, and a type the token's scopes do not cover is left out.  The access log
(``AuditEvent``) is not part of the record: it is searched as ``AuditEvent?patient=``.

Parameters: ``_since`` (an instant: only what changed since, by ``meta.lastUpdated``), ``_type``
(the types to return, the referenced ones included), ``_count`` (the page size) and the
``next`` links' ``_cursor``; ``start`` and ``end`` (the care dates of the record) are not served
and refused with a 400 rather than ignored.  Pages are read from the store one at a time
(:mod:`fhirbridge.rest.interactions.end_to_end`), so memory stays bounded by the page size.
``Patient/$everything`` across all patients is not served (it would be the whole database).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fhirbridge.access.compartment import compartment_search_parameter, compartment_types
from fhirbridge.errors import FhirError, Issue, bad_request, error
from fhirbridge.fhir.instants import format_instant, parse_instant
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import named_targets
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest import bundles
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.interactions.end_to_end import Part, lay_end_to_end
from fhirbridge.rest.interactions.read import live_version
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.rest.shaping import Shape, shaped_content
from fhirbridge.storage.records import StoredResource

NAME = "everything"
DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
NOT_THE_RECORD = frozenset({"AuditEvent"})
"""Compartment types that are not the patient's record (the access log of it)."""
PARAMETERS = frozenset({"_since", "_type", "_count", "_cursor", "_format", "_pretty"})
REFUSED = frozenset({"start", "end"})
MOST_REFERENCED = 200
"""Referenced resources read for one page at most (the rest are left out with a warning)."""


def record_types() -> list[str]:
    """The types of a patient's record, in the order they are laid out: the Patient first."""
    others = [t for t in STORED_TYPES if t in compartment_types() and t not in NOT_THE_RECORD and t != "Patient"]
    return ["Patient", *others]


def _query(request: FhirRequest) -> list[tuple[str, str]]:
    """The operation's parameters from the URL and, on POST, a Parameters body (R4 operations.html)."""
    query = list(request.query)
    if request.method == "POST" and request.body:
        body: Any = request.json_body()
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise bad_request("$everything takes a Parameters resource in a POST body", "Parameters")
        for index, parameter in enumerate(body.get("parameter") or []):
            values = [v for k, v in (parameter or {}).items() if k.startswith("value")]
            if not isinstance(parameter, dict) or len(values) != 1 or isinstance(values[0], dict | list):
                where = f"Parameters.parameter[{index}]"
                raise bad_request("Each parameter of $everything has one simple value", where)
            query.append((str(parameter.get("name")), str(values[0])))
    return query


def _types(query: list[tuple[str, str]]) -> set[str] | None:
    named = [name.strip() for key, value in query if key == "_type" for name in value.split(",")]
    if not named:
        return None
    unknown = [name for name in named if name not in STORED_TYPES]
    if unknown or "" in named:
        raise bad_request(f"_type names types this server does not store: {', '.join(unknown) or '(empty)'}", "_type")
    log = sorted(NOT_THE_RECORD.intersection(named))
    if log:
        raise bad_request(f"{log[0]} is not part of the record: search AuditEvent?patient=Patient/[id]", "_type")
    return set(named)


def _parts(patient_id: str, types: set[str] | None, common: list[tuple[str, str]]) -> list[Part]:
    reference = f"Patient/{patient_id}"
    parts: list[Part] = []
    for resource_type in record_types():
        if types is not None and resource_type not in types:
            continue
        if resource_type == "Patient":
            parts += [Part("Patient", [("_id", patient_id), *common]), Part("Patient", [("link", reference), *common])]
            continue
        param = compartment_search_parameter(resource_type)
        if param is not None:
            parts.append(Part(resource_type, [(param, reference), *common]))
    return parts


async def everything(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """One page of the patient's record as the caller may see it (patient-operation-everything.html)."""
    policy = ctx.repository.policy
    policy.require_scope(request.identity, "Patient", "r")
    query = _query(request)
    refused = sorted({k for k, _ in query if k in REFUSED})
    if refused:
        raise FhirError(
            400, [error("not-supported", f"$everything does not serve {k}: use _since and _type", k) for k in refused]
        )
    unknown = sorted({k for k, _ in query if k not in PARAMETERS | REFUSED})
    if unknown and request.prefer.strict:
        raise FhirError(400, [error("not-supported", f"Not a parameter of $everything: {k}", k) for k in unknown])
    since_text = next((v for k, v in query if k == "_since"), None)
    since = parse_instant(since_text, "_since") if since_text is not None else None
    types = _types(query)
    if types is not None:
        for resource_type in types:
            policy.require_scope(request.identity, resource_type, "s")
    patient = await live_version(ctx, request)  # 404 for a Patient the caller may not know of, 403 when refused
    common = [("_lastUpdated", f"ge{format_instant(since)}")] if since is not None else []
    common += [(k, v) for k, v in query if k == "_count"]
    parts = [p for p in _parts(patient.resource_id, types, common) if _scoped(ctx, request, p.resource_type)]
    cursor = next((v for k, v in query if k == "_cursor"), None)
    laid = await lay_end_to_end(
        ctx, request.identity, parts, cursor, strict=request.prefer.strict, local_base=request.base_url
    )
    warnings = [
        Issue("warning", "not-supported", f"Not a parameter of $everything, ignored: {k}", (k,)) for k in unknown
    ]
    warnings += laid.warnings
    referenced = await _referenced(ctx, request, laid.matches, types, since, warnings)
    how = Shape()
    entries = [
        bundles.SearchEntry(f"{request.base_url}/{m.resource_type}/{m.resource_id}", shaped_content(m, how), mode)
        for mode, group in (("match", laid.matches), ("include", referenced))
        for m in group
    ]
    used = [(k, v) for k, v in query if k in PARAMETERS and k != "_cursor" and v != ""]
    path = f"{request.base_url}/Patient/{patient.resource_id}/${NAME}"
    links = [("self", _url(path, used, cursor))]
    if laid.following is not None:
        links.append(("next", _url(path, used, laid.following)))
    return FhirResponse(200, body=bundles.searchset(entries, links, None, warnings))


def _scoped(ctx: ServiceContext, request: FhirRequest, resource_type: str) -> bool:
    try:
        ctx.repository.policy.require_scope(request.identity, resource_type, "s")
    except FhirError:
        return False
    return True


async def _referenced(
    ctx: ServiceContext,
    request: FhirRequest,
    matches: list[StoredResource],
    types: set[str] | None,
    since: int | None,
    warnings: list[Issue],
) -> list[StoredResource]:
    """The resources outside the compartment that the page's entries (as the caller sees them)
    refer to, each read as the caller may read it."""
    shown = {(m.resource_type, m.resource_id) for m in matches}
    wanted: set[tuple[str, str]] = set()
    for match in matches:
        if match.content is not None:
            wanted |= named_targets(loads(match.content))
    wanted = {
        (t, i)
        for t, i in wanted - shown
        if t in STORED_TYPES and t not in compartment_types() and (types is None or t in types)
    }
    if len(wanted) > MOST_REFERENCED:
        warnings.append(Issue("warning", "too-costly", f"More than {MOST_REFERENCED} referenced resources on a page"))
    found = []
    for resource_type, resource_id in sorted(wanted)[:MOST_REFERENCED]:
        try:
            record = await ctx.repository.read(request.identity, resource_type, resource_id)
        except FhirError:  # refused: left out, as a search leaves out what it may not show
            continue
        if record is None or record.deleted or record.content is None:
            continue
        if since is not None and record.last_updated < since:
            continue
        found.append(record)
    return found


def _url(path: str, query: list[tuple[str, str]], cursor: str | None) -> str:
    kept = [*query, *([("_cursor", cursor)] if cursor else [])]
    encoded = urlencode(kept, safe="|,:/")
    return path + (f"?{encoded}" if encoded else "")
