"""A batch or transaction Bundle read and made ready to run (R4 http.html#transaction,
bundle.html#transaction): each entry parsed, its resource validated, and, for a transaction,
what its fullUrl and conditional references will be rewritten to judged before the write lock
is taken.  Running it is :mod:`fhirbridge.rest.interactions.transaction`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhirbridge.audit.events import masked
from fhirbridge.conformance.validator import hold_to_profiles
from fhirbridge.errors import FhirError, Issue, bad_request, error
from fhirbridge.fhir.jsonio import DEFAULT_MAX_DEPTH
from fhirbridge.fhir.references import id_problem, parse_reference
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest.interactions.patch import Patch
from fhirbridge.rest.interactions.patch_entries import entry_patch
from fhirbridge.rest.messages import FhirRequest, etag_version
from fhirbridge.validation.json_form import FoundReference
from fhirbridge.validation.pipeline import ValidatedResource, validate_resource
from fhirbridge.writes.unit_of_work import WriteResult

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
"""The order a transaction's entries run in (R4 http.html#trules)."""
_ENTRY_PATH = re.compile(r"^[A-Z][A-Za-z]+\.")


@dataclass
class Entry:
    """One Bundle entry on its way through a transaction."""

    index: int
    method: str
    url: str
    resource_type: str | None
    resource_id: str | None
    criteria: list[tuple[str, str]] | None
    full_url: str | None
    resource: dict[str, Any] | None
    if_match: int | None
    if_none_exist: list[tuple[str, str]] | None
    request: dict[str, Any]
    target_id: str | None = None
    existing: bool = False
    validated: ValidatedResource | None = None
    result: WriteResult | None = None
    operations: Patch | None = None
    """A PATCH entry's patch (:mod:`fhirbridge.rest.interactions.patch_entries`)."""
    bundle_target: str | None = None
    """A PATCH entry's url when it names another entry's fullUrl (``urn:uuid:…``)."""


def entry_error(index: int, method: str, url: str, exc: FhirError) -> FhirError:
    """The same error, with every issue pointing into ``Bundle.entry[index]``, and the entry's URL
    quoted as the access log keeps a query (:func:`fhirbridge.audit.events.masked`): a refusal's
    words are logged with the patients it reached, who may not read another's personnummer there."""
    path, asked, query = url.partition("?")
    url = path + asked + masked(query)  # the words reach the access log: no search value in them
    issues = []
    for issue in exc.issues:
        expressions = tuple(
            _ENTRY_PATH.sub(f"Bundle.entry[{index}].resource.", e)
            if _ENTRY_PATH.match(e)
            else f"Bundle.entry[{index}].{e}"
            for e in issue.expression
        ) or (f"Bundle.entry[{index}]",)
        issues.append(
            Issue(issue.severity, issue.code, f"entry[{index}] ({method} {url}): {issue.diagnostics}", expressions)
        )
    return FhirError(exc.status, issues, exc.headers)


def parse_entry(index: int, raw: Any, base_url: str, max_depth: int = DEFAULT_MAX_DEPTH) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise bad_request("Each entry must be a JSON object", where)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise bad_request("Each entry of a batch or transaction needs a request", f"{where}.request", code="required")
    method = request.get("method")
    url = request.get("url")
    if method not in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH") or not isinstance(url, str) or not url:
        raise bad_request(
            "request.method must be GET, POST, PUT, PATCH or DELETE and request.url a URL", f"{where}.request"
        )
    if method == "PATCH":
        return _patch_entry(index, raw, url, base_url, max_depth)
    if url.startswith(base_url):
        url = url[len(base_url) :]
    parts = urlsplit(url.lstrip("/"))
    segments = [s for s in parts.path.split("/") if s]
    resource_type = segments[0] if segments else None
    resource_id = segments[1] if len(segments) > 1 and method != "POST" else None
    criteria = parse_qsl(parts.query, keep_blank_values=True) if parts.query and method in ("PUT", "DELETE") else None
    resource = raw.get("resource")
    if method in ("POST", "PUT"):
        if not isinstance(resource, dict):
            raise bad_request(f"A {method} entry needs a resource", f"{where}.resource", code="required")
        if resource_type not in STORED_TYPES or len(segments) != (1 if method == "POST" or criteria else 2):
            raise bad_request(f"{method} {url} is not a write this server supports", f"{where}.request.url")
    if method == "DELETE" and (resource_type not in STORED_TYPES or (resource_id is None and not criteria)):
        raise bad_request(f"DELETE {url} needs a type and an id or search criteria", f"{where}.request.url")
    problem = id_problem(resource_id) if resource_id is not None and method in ("PUT", "DELETE") else None
    if problem is not None:
        raise bad_request(f"The URL's id {problem}", f"{where}.request.url")
    if_none_exist = request.get("ifNoneExist")
    full_url = raw.get("fullUrl")
    return Entry(
        index=index,
        method=method,
        url=url,
        resource_type=resource_type,
        resource_id=resource_id,
        criteria=criteria,
        full_url=full_url if isinstance(full_url, str) else None,
        resource=dict(resource) if isinstance(resource, dict) else None,
        if_match=None
        if request.get("ifMatch") is None
        else etag_version(str(request["ifMatch"]), f"{where}.request.ifMatch"),
        if_none_exist=parse_qsl(str(if_none_exist).split("?", 1)[-1]) if if_none_exist else None,
        request=request,
    )


def _patch_entry(index: int, raw: dict[str, Any], url: str, base_url: str, max_depth: int) -> Entry:
    """A PATCH entry (R4 http.html#transaction): its target is ``[type]/[id]``, ``[type]?criteria``
    or the fullUrl of another entry (``urn:uuid:…``), its resource the patch."""
    where = f"Bundle.entry[{index}]"
    try:
        operations = entry_patch(raw.get("resource"), max_depth)
    except FhirError as exc:
        raise entry_error(index, "PATCH", url, exc) from None
    request: dict[str, Any] = raw["request"]
    bundle_target = url if url.startswith(("urn:uuid:", "urn:oid:")) else None
    if url.startswith(base_url):
        url = url[len(base_url) :]
    parts = urlsplit(url.lstrip("/"))
    segments = [s for s in parts.path.split("/") if s]
    criteria = parse_qsl(parts.query, keep_blank_values=True) if parts.query else None
    if bundle_target is None:
        shape_ok = len(segments) == (1 if criteria else 2)
        if not segments or segments[0] not in STORED_TYPES or not shape_ok:
            raise bad_request(
                f"PATCH {url} needs [type]/[id], [type]?criteria or an entry's fullUrl", f"{where}.request.url"
            )
        problem = id_problem(segments[1]) if len(segments) == 2 else None
        if problem is not None:
            raise bad_request(f"The URL's id {problem}", f"{where}.request.url")
    return Entry(
        index=index,
        method="PATCH",
        url=url,
        resource_type=segments[0] if bundle_target is None else None,
        resource_id=segments[1] if bundle_target is None and len(segments) == 2 else None,
        criteria=criteria if bundle_target is None else None,
        full_url=None,
        resource=None,
        if_match=None
        if request.get("ifMatch") is None
        else etag_version(str(request["ifMatch"]), f"{where}.request.ifMatch"),
        if_none_exist=None,
        request=request,
        operations=operations,
        bundle_target=bundle_target,
    )


def parse_bundle(request: FhirRequest, max_entries: int) -> tuple[str, list[Any]]:
    bundle = request.json_body()
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad_request("POST to the base URL takes a Bundle of type batch or transaction", "Bundle")
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise bad_request(f"Bundle.type must be batch or transaction, not {kind!r}", "Bundle.type")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise bad_request("Bundle.entry must be an array", "Bundle.entry")
    if len(entries) > max_entries:
        raise FhirError(413, [error("too-costly", f"A Bundle may hold at most {max_entries} entries", "Bundle.entry")])
    return kind, entries


def rewrite_references(node: Any, mapping: dict[str, str]) -> Any:
    """Replace every ``reference`` that names a fullUrl of the Bundle by the resolved address."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in mapping:
                out[key] = mapping[value]
            else:
                out[key] = rewrite_references(value, mapping)
        return out
    if isinstance(node, list):
        return [rewrite_references(item, mapping) for item in node]
    return node


def _resolved(
    found: tuple[FoundReference, ...], mapping: dict[str, str], local_base: str
) -> tuple[FoundReference, ...]:
    """The references of a validated resource after its fullUrl and conditional references
    were rewritten; a rewritten reference must still name a type its element allows."""
    out = []
    issues = []
    for reference in found:
        address = mapping.get(reference.parsed.text)
        if address is None:
            out.append(reference)
            continue
        parsed = parse_reference(address, local_base)
        assert parsed is not None
        if reference.targets and parsed.resource_type not in reference.targets:
            issues.append(
                error(
                    "invalid",
                    f"{reference.path} must refer to {' or '.join(reference.targets)}, not {parsed.resource_type}",
                    f"{reference.path}.reference",
                )
            )
        out.append(FoundReference(reference.path, parsed, reference.targets))
    if issues:
        raise FhirError(400, issues)
    return tuple(out)


def rewritten(entry: Entry, mapping: dict[str, str], local_base: str) -> ValidatedResource:
    """The entry's resource with its fullUrl and conditional references rewritten.  The
    profiles judged the rewritten types before the transaction began (:func:`_check_targets`),
    except for a conditional create, judged only when no match makes it a create."""
    assert entry.validated is not None
    assert entry.resource_type is not None
    resource = rewrite_references(entry.validated.resource, mapping)
    resource["id"] = entry.target_id
    references = _resolved(entry.validated.references, mapping, local_base)
    if entry.if_none_exist and any(found.parsed.text in mapping for found in entry.validated.references):
        hold_to_profiles(resource)
    return ValidatedResource(entry.resource_type, resource, references, entry.validated.sites)


def _provisional_addresses(entries: list[Entry]) -> dict[str, str]:
    """What each fullUrl and conditional reference of the Bundle will be rewritten to, as far
    as is known before the transaction: the type (the id is resolved inside it)."""
    addresses = {}
    for entry in entries:
        if entry.full_url and entry.resource_type is not None and entry.method in ("DELETE", "POST", "PUT"):
            addresses[entry.full_url] = f"{entry.resource_type}/resolved-in-the-transaction"
        for found in entry.validated.references if entry.validated is not None else ():
            parsed = found.parsed
            if parsed.kind == "conditional" and parsed.resource_type in STORED_TYPES:
                addresses[parsed.text] = f"{parsed.resource_type}/resolved-in-the-transaction"
    return addresses


def _check_targets(entry: Entry, addresses: dict[str, str], local_base: str) -> None:
    """The rules a rewritten reference must still keep, judged before the write lock is taken:
    the element's allowed types, and the profiles' ``targetProfile`` (which look at the type
    a reference names, never its id)."""
    validated = entry.validated
    if (
        validated is None
        or entry.if_none_exist
        or not any(found.parsed.text in addresses for found in validated.references)
    ):
        return  # a conditional create is judged once it is known to create (R4: a match is not written)
    _resolved(validated.references, addresses, local_base)
    hold_to_profiles(rewrite_references(validated.resource, addresses))


def prepared_transaction(request: FhirRequest, raw_entries: list[Any]) -> tuple[list[Entry], list[Entry]]:
    """A transaction's entries, each resource validated and each rewritten reference's type
    judged (all before the write lock), and its writes in the order they run."""
    entries = [parse_entry(i, raw, request.base_url, request.max_json_depth) for i, raw in enumerate(raw_entries)]
    full_urls = [e.full_url for e in entries if e.full_url]
    if len(full_urls) != len(set(full_urls)):
        raise bad_request("Two entries have the same fullUrl", "Bundle.entry.fullUrl")
    # Validate every resource before taking the write lock; fullUrl references are rewritten later.
    for entry in entries:
        if entry.resource is not None and entry.resource_type is not None:
            try:
                body_id = entry.resource.get("id") if entry.method == "PUT" else None
                url_id = entry.resource_id if entry.method == "PUT" and not entry.criteria else body_id
                entry.validated = validate_resource(
                    dict(entry.resource),
                    entry.resource_type,
                    url_id=url_id,
                    local_base=request.base_url,
                    bundle_references=True,
                )
            except FhirError as exc:
                raise entry_error(entry.index, entry.method, entry.url, exc) from None
    addresses = _provisional_addresses(entries)
    for entry in entries:
        if entry.method in ("POST", "PUT"):
            try:
                _check_targets(entry, addresses, request.base_url)
            except FhirError as exc:
                raise entry_error(entry.index, entry.method, entry.url, exc) from None
    writes = sorted((e for e in entries if e.method not in ("GET", "HEAD")), key=lambda e: ORDER[e.method])

    return entries, writes
