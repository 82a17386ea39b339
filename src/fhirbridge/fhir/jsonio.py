"""FHIR JSON in and out (R4 json.html), with orjson for speed.

Decimals keep the precision they were written with (R4 datatypes.html#decimal: ``0.010`` is
not ``0.01``): a document holding a number with a fraction or exponent is read again with
those numbers as :class:`~decimal.Decimal`, and written back digit for digit.

A request body is refused when it nests deeper than a limit (R4 security.html asks servers to
guard against hostile input): the validators walk resources recursively, and orjson alone
would accept 1024 levels, past Python's recursion limit.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

from fhirbridge.errors import bad_request

DEFAULT_MAX_DEPTH = 64
"""Levels of arrays and objects a request body may nest; FHIR resources need far fewer."""


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


_MAYBE_DECIMAL = re.compile(rb"[:\[,]\s*-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+)\s*[,\]}]")
"""A number with a fraction or exponent between ``:``, ``[`` or ``,`` and ``,``, ``]`` or ``}``
(RFC 8259 section 6: where a number stands in a document).  A time inside a string
(``"10:00:00.5+01:00"``, every stored ``meta.lastUpdated``) ends in a sign, a zone or a quote
and does not match; a string that happens to look like one (``"a:1.5,"``) only costs a closer
look."""


def depth(value: Any) -> int:
    """How many arrays and objects deep ``value`` nests (a scalar is 0, ``{}`` is 1); iterative,
    so any depth orjson accepts is measured without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _with_decimals(value: Any, body: bytes | str) -> Any:
    raw = body.encode() if isinstance(body, str) else body
    if _MAYBE_DECIMAL.search(raw) and _has_float(value):
        return json.loads(body, parse_float=Decimal)
    return value


def loads(body: bytes | str) -> Any:
    """Parse FHIR JSON; numbers with a fraction or exponent become exact Decimals."""
    return _with_decimals(orjson.loads(body), body)


def loads_inexact(body: bytes | str) -> Any:
    """Parse FHIR JSON with numbers as :class:`float`: for judging what a stored resource names
    (its references, codes and labels) and never for serving or storing it, where a decimal
    keeps its digits (:func:`loads`).  Skips the second look for decimals that a judgement of a
    history page's every version would otherwise pay (docs/benchmarks.md)."""
    return orjson.loads(body)


def loads_limited(body: bytes | str, max_depth: int, what: str = "The body") -> Any:
    """:func:`loads` for untrusted JSON: nesting deeper than ``max_depth`` is a 400, found
    before anything (the Decimal re-read included) recurses into the document."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise _too_deep(what, max_depth) from None
        raise
    if depth(value) > max_depth:
        raise _too_deep(what, max_depth)
    return _with_decimals(value, body)


def _too_deep(what: str, max_depth: int) -> Exception:
    return bad_request(f"{what} nests arrays and objects more than {max_depth} levels deep", code="too-costly")


def parse_body(body: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse a request body; a syntax error is a 400 that says where it is, and so is JSON
    nested deeper than ``max_depth``."""
    if not body or not body.strip():
        raise bad_request("The request body is empty; a FHIR JSON resource was expected", code="required")
    try:
        return loads_limited(body, max_depth)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The body is not valid JSON: {exc}", code="structure") from None


def pretty_print(body: bytes) -> bytes:
    return dumps(loads(body), pretty=True)
