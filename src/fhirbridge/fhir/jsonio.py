"""FHIR JSON in and out (R4 json.html), with orjson for speed."""

from __future__ import annotations

from typing import Any

import orjson

from fhirbridge.errors import bad_request


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    if pretty:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2)
    return orjson.dumps(value)


def loads(body: bytes | str) -> Any:
    return orjson.loads(body)


def parse_body(body: bytes) -> Any:
    """Parse a request body; a syntax error is a 400 that says where it is."""
    if not body or not body.strip():
        raise bad_request("The request body is empty; a FHIR JSON resource was expected", code="required")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The body is not valid JSON: {exc}", code="structure") from None


def pretty_print(body: bytes) -> bytes:
    return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
