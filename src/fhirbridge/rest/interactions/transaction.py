"""batch and transaction Bundles (R4 http.html#transaction, bundle.html#transaction).

A **transaction** is all or nothing, in one database transaction:

1. every entry's target is resolved first: ``POST`` gets a new id (or, with ``ifNoneExist``,
   the one existing match), ``PUT``/``DELETE`` by id or by search criteria;
2. references to ``fullUrl``\\ s (``urn:uuid:…``) and conditional references
   (``Patient?identifier=…``) are rewritten to the resolved ``Type/id``;
3. the writes run in the order the specification prescribes: DELETE, POST, PUT;
4. referential integrity is checked for the whole Bundle at the end, so entries may refer to
   each other in any order.

One failing entry fails the Bundle with the entry named in the OperationOutcome, and nothing
is persisted.  ``GET`` entries are answered after the writes.  A **batch** runs each entry
on its own, through the same handlers as single requests, and reports each outcome.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhirbridge.audit.events import masked
from fhirbridge.conformance.validator import validate_profiles
from fhirbridge.errors import (
    FhirError,
    Issue,
    bad_request,
    error,
    invalid,
    method_not_allowed,
    not_found,
    precondition_failed,
)
from fhirbridge.fhir.instants import format_instant
from fhirbridge.fhir.jsonio import dumps, loads
from fhirbridge.fhir.outcome import operation_outcome
from fhirbridge.fhir.references import id_problem, parse_reference
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse, etag, etag_version
from fhirbridge.storage.records import StoredResource
from fhirbridge.validation.json_form import FoundReference
from fhirbridge.validation.pipeline import ValidatedResource, validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3, "HEAD": 3}
_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content", 304: "304 Not Modified"}
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


def _entry_error(index: int, method: str, url: str, exc: FhirError) -> FhirError:
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


def _parse_entry(index: int, raw: Any, base_url: str) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise bad_request("Each entry must be a JSON object", where)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise bad_request("Each entry of a batch or transaction needs a request", f"{where}.request", code="required")
    method = request.get("method")
    url = request.get("url")
    if method not in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH") or not isinstance(url, str) or not url:
        raise bad_request("request.method must be GET, POST, PUT or DELETE and request.url a URL", f"{where}.request")
    if method == "PATCH":
        raise _entry_error(index, method, url, method_not_allowed("PATCH is not supported by this server"))
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


def _parse_bundle(request: FhirRequest, max_entries: int) -> tuple[str, list[Any]]:
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


# -- transaction ------------------------------------------------------------------------------


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    """Replace every ``reference`` that names a fullUrl of the Bundle by the resolved address."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in mapping:
                out[key] = mapping[value]
            else:
                out[key] = _rewrite(value, mapping)
        return out
    if isinstance(node, list):
        return [_rewrite(item, mapping) for item in node]
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


def _rewritten(entry: Entry, mapping: dict[str, str], local_base: str) -> ValidatedResource:
    """The entry's resource with its fullUrl and conditional references rewritten.  The
    profiles judged the rewritten types before the transaction began (:func:`_check_targets`),
    except for a conditional create, judged only when no match makes it a create."""
    assert entry.validated is not None
    assert entry.resource_type is not None
    resource = _rewrite(entry.validated.resource, mapping)
    resource["id"] = entry.target_id
    references = _resolved(entry.validated.references, mapping, local_base)
    if entry.if_none_exist and any(found.parsed.text in mapping for found in entry.validated.references):
        problems = [issue for issue in validate_profiles(resource) if issue.severity in ("error", "fatal")]
        if problems:
            raise invalid(problems, status=422)
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
    problems = [
        issue
        for issue in validate_profiles(_rewrite(validated.resource, addresses))
        if issue.severity in ("error", "fatal")
    ]
    if problems:
        raise invalid(problems, status=422)


async def _resolve(unit: UnitOfWork, entry: Entry) -> None:
    """Decide which resource an entry creates, changes or deletes (step 1)."""
    assert entry.resource_type is not None
    if entry.method == "POST":
        if entry.if_none_exist:
            match = await unit.create_match(entry.resource_type, entry.if_none_exist)
            if match is not None:
                entry.target_id, entry.existing = match, True
                return
        entry.target_id = str(uuid.uuid4())
    elif entry.criteria and entry.method == "PUT":
        body_id = entry.resource.get("id") if entry.resource else None
        entry.target_id = await unit.conditional_update_target(
            entry.resource_type, entry.criteria, body_id if isinstance(body_id, str) else None
        )
    elif entry.criteria:
        found = await unit.find(entry.resource_type, entry.criteria)
        if len(found) > 1:
            raise precondition_failed(
                "The criteria match several resources; this server deletes one at a time", "request.url"
            )
        entry.target_id = found[0] if found else None
    else:
        entry.target_id = entry.resource_id


async def _resolve_conditional_reference(unit: UnitOfWork, text: str) -> str:
    parsed = parse_reference(text)
    if parsed is None or parsed.kind != "conditional" or parsed.resource_type not in STORED_TYPES:
        raise bad_request(f"{text} is not a conditional reference to a type this server stores", "reference")
    found = await unit.find(parsed.resource_type, parse_qsl(parsed.query or "", keep_blank_values=True))
    if len(found) != 1:
        raise precondition_failed(f"The conditional reference {text} matches {len(found)} resources, not exactly one")
    return f"{parsed.resource_type}/{found[0]}"


async def _apply(unit: UnitOfWork, entry: Entry) -> None:
    assert entry.resource_type is not None
    if entry.method == "DELETE":
        if entry.target_id is not None:
            entry.result = await unit.delete(entry.resource_type, entry.target_id)
        else:
            entry.result = WriteResult("absent", None)
    elif entry.method == "POST":
        if entry.existing:
            # answered as the caller sees it, as a read would answer it
            entry.result = WriteResult("existing", await unit.shown(entry.resource_type, entry.target_id or ""))
        else:
            assert entry.validated is not None
            entry.result = await unit.create(entry.validated, entry.target_id)
    elif entry.method == "PUT":
        assert entry.validated is not None
        assert entry.target_id is not None
        entry.result = await unit.update(entry.validated, entry.target_id, if_match=entry.if_match)


def _response_entry(entry: Entry, base_url: str, with_resource: bool) -> bytes:
    result = entry.result
    assert result is not None
    record: StoredResource | None = result.record
    status = {"created": 201, "updated": 200, "unchanged": 200, "existing": 200, "deleted": 204, "absent": 204}[
        result.outcome
    ]
    response: dict[str, Any] = {"status": _STATUS_TEXT[status]}
    parts = b"{"
    if record is not None and not record.deleted:
        address = f"{record.resource_type}/{record.resource_id}"
        parts += b'"fullUrl":' + dumps(f"{base_url}/{address}") + b","
        response.update(
            location=f"{address}/_history/{record.version}",
            etag=etag(record.version),
            lastModified=format_instant(record.last_updated),
        )
        if with_resource and record.content is not None:
            parts += b'"resource":' + record.content + b","
    elif record is not None:
        response["etag"] = etag(record.version)
    return parts + b'"response":' + dumps(response) + b"}"


def _entry_from_response(response: FhirResponse, failure: FhirError | None) -> bytes:
    if failure is not None:
        body = {"status": str(failure.status), "outcome": operation_outcome(failure.issues)}
        return b'{"response":' + dumps(body) + b"}"
    out: dict[str, Any] = {"status": _STATUS_TEXT.get(response.status, str(response.status))}
    headers = {k.lower(): v for k, v in response.headers.items()}
    if "location" in headers:
        out["location"] = headers["location"]
    if "etag" in headers:
        out["etag"] = headers["etag"]
    content = response.body if response.body is not None else (dumps(response.resource) if response.resource else None)
    parts = b"{"
    if content is not None and response.status not in (204, 304):
        resource = loads(content)
        if resource.get("resourceType") == "OperationOutcome":
            out["outcome"] = resource
        else:
            parts += b'"resource":' + content + b","
    return parts + b'"response":' + dumps(out) + b"}"


async def _transaction(ctx: ServiceContext, request: FhirRequest, raw_entries: list[Any]) -> FhirResponse:
    entries = [_parse_entry(i, raw, request.base_url) for i, raw in enumerate(raw_entries)]
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
                raise _entry_error(entry.index, entry.method, entry.url, exc) from None
    addresses = _provisional_addresses(entries)
    for entry in entries:
        if entry.method in ("POST", "PUT"):
            try:
                _check_targets(entry, addresses, request.base_url)
            except FhirError as exc:
                raise _entry_error(entry.index, entry.method, entry.url, exc) from None
    writes = sorted((e for e in entries if e.method in ("DELETE", "POST", "PUT")), key=lambda e: ORDER[e.method])

    async def work(unit: UnitOfWork) -> None:
        mapping: dict[str, str] = {}
        touched: set[tuple[str, str]] = set()
        for entry in writes:
            try:
                await _resolve(unit, entry)
            except FhirError as exc:
                raise _entry_error(entry.index, entry.method, entry.url, exc) from None
            if entry.target_id is not None and entry.resource_type is not None:
                key = (entry.resource_type, entry.target_id)
                if key in touched:
                    raise _entry_error(
                        entry.index,
                        entry.method,
                        entry.url,
                        bad_request(f"{key[0]}/{key[1]} is changed by two entries"),
                    )
                touched.add(key)
                unit.locations[key] = f"Bundle.entry[{entry.index}].resource"
                if entry.full_url:
                    mapping[entry.full_url] = f"{entry.resource_type}/{entry.target_id}"
        for entry in writes:  # DELETE, then POST, then PUT
            try:
                if entry.resource is not None and entry.resource_type is not None and not entry.existing:
                    assert entry.validated is not None
                    for found in entry.validated.references:
                        text = found.parsed.text
                        if found.parsed.kind == "conditional" and text not in mapping:
                            mapping[text] = await _resolve_conditional_reference(unit, text)
                    entry.validated = _rewritten(entry, mapping, request.base_url)
                await _apply(unit, entry)
            except FhirError as exc:
                raise _entry_error(entry.index, entry.method, entry.url, exc) from None

    await ctx.repository.write(request.identity, request.base_url, work)
    with_resource = request.prefer.return_ != "minimal"
    answers = []
    for entry in entries:
        if entry.method in ("GET", "HEAD"):
            # Reads come after the writes have committed, and answer as a batch entry would.
            answers.append(await _answer(ctx, request, entry.request, None))
        else:
            answers.append(_response_entry(entry, request.base_url, with_resource))
    return FhirResponse(200, body=_splice_response("transaction-response", answers))


# -- batch ------------------------------------------------------------------------------------


async def _dispatch(ctx: ServiceContext, outer: FhirRequest, request: dict[str, Any], resource: Any) -> FhirResponse:
    """Run one entry through the ordinary handlers, as if it had come as its own request."""
    from fhirbridge.rest.routes import match_route

    method, url = request.get("method"), str(request.get("url", ""))
    if url.startswith(outer.base_url):
        url = url[len(outer.base_url) :]
    parts = urlsplit(url.lstrip("/"))
    found = match_route("GET" if method == "HEAD" else str(method), parts.path)
    if found is None:
        raise not_found(f"No interaction answers {method} {url}")
    route, params = found
    if "type" in params and params["type"] not in STORED_TYPES:
        raise not_found(f"This server does not serve {params['type']} resources")
    headers = {
        header: str(request[key])
        for key, header in (
            ("ifMatch", "if-match"),
            ("ifNoneExist", "if-none-exist"),
            ("ifNoneMatch", "if-none-match"),
            ("ifModifiedSince", "if-modified-since"),
        )
        if request.get(key) is not None
    }
    if "prefer" in outer.headers:
        headers["prefer"] = outer.headers["prefer"]
    entry_request = FhirRequest(
        method=str(method),
        base_url=outer.base_url,
        identity=outer.identity,
        resource_type=params.get("type") or route.fixed_type,
        resource_id=params.get("id"),
        version_id=params.get("vid"),
        query=parse_qsl(parts.query, keep_blank_values=True),
        headers=headers,
        body=dumps(resource) if resource is not None else None,
        max_json_depth=outer.max_json_depth,
    )
    return await route.handler(ctx, entry_request)


async def _batch(ctx: ServiceContext, request: FhirRequest, raw_entries: list[Any]) -> FhirResponse:
    results: list[bytes | None] = [None] * len(raw_entries)
    ordered = sorted(
        range(len(raw_entries)),
        key=lambda i: ORDER.get(
            str((raw_entries[i].get("request") or {}).get("method")) if isinstance(raw_entries[i], dict) else "", 3
        ),
    )
    for index in ordered:
        try:
            entry = _parse_entry(index, raw_entries[index], request.base_url)
        except FhirError as exc:
            results[index] = _entry_from_response(FhirResponse(exc.status), exc)
            continue
        results[index] = await _answer(ctx, request, entry.request, entry.resource)
    return FhirResponse(200, body=_splice_response("batch-response", [r or b"{}" for r in results]))


async def _answer(ctx: ServiceContext, outer: FhirRequest, request: dict[str, Any], resource: Any) -> bytes:
    """One entry, handled on its own: its response, or its error as an outcome."""
    try:
        return _entry_from_response(await _dispatch(ctx, outer, request, resource), None)
    except FhirError as exc:
        return _entry_from_response(FhirResponse(exc.status), exc)


def _splice_response(kind: str, entries: list[bytes]) -> bytes:
    head = dumps({"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": kind})
    return head[:-1] + b',"entry":[' + b",".join(entries) + b"]}" if entries else head


async def transaction_or_batch(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """POST [base] with a Bundle of type transaction or batch."""
    kind, raw_entries = _parse_bundle(request, ctx.settings.max_bundle_entries)
    if kind == "transaction":
        return await _transaction(ctx, request, raw_entries)
    return await _batch(ctx, request, raw_entries)
