"""FHIR JSON in and out (R4 json.html), with orjson for speed.

Decimals keep the precision they were written with (R4 datatypes.html#decimal: ``0.010`` is
not ``0.01``): a document holding a number with a fraction or exponent is read again with
those numbers as :class:`~decimal.Decimal`, and written back digit for digit.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

from fhirbridge.errors import bad_request


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    if pretty:
        return orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2)
    return orjson.dumps(value, default=_default)


def _has_float(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


_MAYBE_DECIMAL = re.compile(rb"[:\[,]\s*-?\d+(?:\.\d|[eE])")
"""A number with a fraction or exponent after ``:``, ``[`` or ``,``; also matches some strings
(``10:00:00.5``), which only costs a closer look."""


def loads(body: bytes | str) -> Any:
    """Parse FHIR JSON; numbers with a fraction or exponent become exact Decimals."""
    value = orjson.loads(body)
    raw = body.encode() if isinstance(body, str) else body
    if _MAYBE_DECIMAL.search(raw) and _has_float(value):
        value = json.loads(body, parse_float=Decimal)
    return value


def parse_body(body: bytes) -> Any:
    """Parse a request body; a syntax error is a 400 that says where it is."""
    if not body or not body.strip():
        raise bad_request("The request body is empty; a FHIR JSON resource was expected", code="required")
    try:
        return loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The body is not valid JSON: {exc}", code="structure") from None


def pretty_print(body: bytes) -> bytes:
    return dumps(loads(body), pretty=True)
