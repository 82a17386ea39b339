"""batch and transaction Bundles (R4 http.html#transaction, bundle.html#transaction).

A **transaction** is all or nothing, in one database transaction:

1. every entry's target is resolved first: ``POST`` gets a new id (or, with ``ifNoneExist``,
   the one existing match), ``PUT``/``DELETE`` by id or by search criteria;
2. references to ``fullUrl``\\ s (``urn:uuid:…``) and conditional references
   (``Patient?identifier=…``) are rewritten to the resolved ``Type/id``;
3. the writes run in the order the specification prescribes: DELETE, POST, PUT and PATCH;
4. referential integrity is checked for the whole Bundle at the end, so entries may refer to
   each other in any order.

A ``PATCH`` entry carries a Binary holding a JSON Patch (R4 http.html#transaction); its url is
``[type]/[id]``, ``[type]?criteria`` or the fullUrl of an entry the Bundle creates, and it is
applied as the instance PATCH applies it (:func:`~fhirbridge.rest.interactions.patch.patch_in`),
after the creates, so it may patch what the Bundle created (the one overlap allowed).

One failing entry fails the Bundle with the entry named in the OperationOutcome, and nothing
is persisted.  ``GET`` entries are answered after the writes.  A **batch** runs each entry
on its own, through the same handlers as single requests, and reports each outcome.  Reading
the Bundle and making a transaction ready (parsing, validating, judging the references it
rewrites) is :mod:`fhirbridge.rest.interactions.transaction_entries`'s; this module runs it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhirbridge.errors import FhirError, bad_request, not_found, precondition_failed
from fhirbridge.fhir.instants import format_instant
from fhirbridge.fhir.jsonio import dumps, loads
from fhirbridge.fhir.outcome import operation_outcome
from fhirbridge.fhir.references import parse_reference
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.interactions.patch import Patch, patch_in
from fhirbridge.rest.interactions.transaction_entries import (
    ORDER,
    Entry,
    entry_error,
    parse_bundle,
    parse_entry,
    prepared_transaction,
    rewrite_references,
    rewritten,
)
from fhirbridge.rest.messages import FhirRequest, FhirResponse, etag
from fhirbridge.storage.records import StoredResource
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult

_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content", 304: "304 Not Modified"}


# -- transaction ------------------------------------------------------------------------------


async def _resolve(unit: UnitOfWork, entry: Entry, mapping: dict[str, str]) -> None:
    """Decide which resource an entry creates, changes or deletes (step 1); a PATCH of another
    entry's fullUrl resolves to what that entry (resolved before it) creates or changes."""
    if entry.bundle_target is not None:
        address = mapping.get(entry.bundle_target)
        if address is None:
            raise not_found(f"No entry of this Bundle has the fullUrl {entry.bundle_target}", "request.url")
        entry.resource_type, _, entry.target_id = address.partition("/")
        return
    assert entry.resource_type is not None
    if entry.method == "PATCH" and entry.criteria:
        entry.target_id = await unit.find_one(
            entry.resource_type,
            entry.criteria,
            several=f"The criteria match several {entry.resource_type} resources; make them more selective",
            expression="request.url",
        )
        if entry.target_id is None:
            raise not_found(f"No {entry.resource_type} matches the criteria: there is nothing to patch", "request.url")
    elif entry.method == "POST":
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
        entry.target_id = await unit.find_one(
            entry.resource_type,
            entry.criteria,
            several="The criteria match several resources; this server deletes one at a time",
            expression="request.url",
        )
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


async def _apply(unit: UnitOfWork, entry: Entry, patching: _Patching) -> None:
    assert entry.resource_type is not None
    if entry.method == "PATCH":
        assert entry.operations is not None
        assert entry.target_id is not None
        entry.result = await patch_in(
            unit,
            entry.resource_type,
            entry.target_id,
            _rewritten_patch(entry.operations, patching.mapping),  # values may name the Bundle's entries
            if_match=entry.if_match,
            local_base=patching.local_base,
            limits=patching.limits,
        )
    elif entry.method == "DELETE":
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


def _rewritten_patch(patch: Patch, mapping: dict[str, str]) -> Patch:
    """The patch with the references its values make to the Bundle's entries resolved."""
    if patch.fhirpath is not None:
        return Patch(fhirpath=[replace(op, value=rewrite_references(op.value, mapping)) for op in patch.fhirpath])
    return Patch(json_patch=rewrite_references(patch.json_patch, mapping))


@dataclass(frozen=True)
class _Patching:
    """What a PATCH entry is applied with: the Bundle's resolved addresses, the base and the
    limits a PUT body is held to (which the patched resource is held to too)."""

    mapping: dict[str, str]
    local_base: str
    limits: tuple[int, int]


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
    entries, writes = prepared_transaction(request, raw_entries)

    async def work(unit: UnitOfWork) -> None:
        mapping: dict[str, str] = {}
        touched: set[tuple[str, str]] = set()
        created: set[tuple[str, str]] = set()
        patching = _Patching(mapping, request.base_url, (ctx.settings.max_body_bytes, request.max_json_depth))
        for entry in writes:
            try:
                await _resolve(unit, entry, mapping)
            except FhirError as exc:
                raise entry_error(entry.index, entry.method, entry.url, exc) from None
            if entry.target_id is not None and entry.resource_type is not None:
                key = (entry.resource_type, entry.target_id)
                if entry.bundle_target is not None and key in created:
                    created.discard(key)  # a PATCH of what the Bundle creates: once
                    continue
                if entry.method == "POST" and not entry.existing:
                    created.add(key)
                if key in touched:
                    raise entry_error(
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
                    entry.validated = rewritten(entry, mapping, request.base_url)
                await _apply(unit, entry, patching)
            except FhirError as exc:
                raise entry_error(entry.index, entry.method, entry.url, exc) from None

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
            entry = parse_entry(index, raw_entries[index], request.base_url, request.max_json_depth)
        except FhirError as exc:
            results[index] = _entry_from_response(FhirResponse(exc.status), exc)
            continue
        if entry.method == "PATCH":
            if entry.bundle_target is not None:
                failure = entry_error(
                    index,
                    "PATCH",
                    entry.url,
                    bad_request(
                        "A batch's entries are independent: a url naming another entry is for a transaction",
                        "request.url",
                    ),
                )
                results[index] = _entry_from_response(FhirResponse(failure.status), failure)
                continue
            assert entry.operations is not None
            patch = entry.operations.json_patch
            body = patch if patch is not None else raw_entries[index]["resource"]  # what its own request sends
            results[index] = await _answer(ctx, request, entry.request, body)
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
    kind, raw_entries = parse_bundle(request, ctx.settings.max_bundle_entries)
    if kind == "transaction":
        return await _transaction(ctx, request, raw_entries)
    return await _batch(ctx, request, raw_entries)
