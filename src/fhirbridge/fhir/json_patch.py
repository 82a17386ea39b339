"""JSON Patch documents (RFC 6902) read and applied to a resource's JSON, for the patch
interaction (R4 http.html#patch); pure, no storage.

The operations are applied by the ``jsonpatch`` library, one at a time, so that a failure
names its operation.  Errors follow RFC 5789 §2.2, to which R4 defers: a malformed document
is 400; an operation the resource's state does not allow (a failing ``test``, a path that is
not there) is 409 "conflicting state".  What the patched resource then is, is the update's to
judge (R4: "the server processes the resulting document as an Update operation").
"""

from __future__ import annotations

import copy
import re
from types import MappingProxyType
from typing import Any

import jsonpatch
from jsonpointer import JsonPointer, JsonPointerException

from fhirbridge.errors import FhirError, Issue, bad_request, conflict
from fhirbridge.fhir.jsonio import depth, dumps

MEDIA_TYPE = "application/json-patch+json"
MAX_OPERATIONS = 1000
"""The most operations one document may hold (more is 400 ``too-costly``)."""
_MEMBERS = {"add": "value", "replace": "value", "test": "value", "move": "from", "copy": "from", "remove": None}
_POINTER = re.compile(r"^(/([^~]|~[01])*)*$")
"""RFC 6901 §3: a JSON Pointer is empty or a sequence of ``/`` reference tokens, ``~`` escaped."""


def _json_equal(left: Any, right: Any) -> bool:
    """RFC 6902 §4.6: equal JSON values (a ``true`` is not a ``1``, as Python's ``==`` says)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and bool(left == right)


class _TestOperation(jsonpatch.TestOperation):
    """``test`` with JSON's equality (RFC 6902 §4.6) instead of Python's."""

    def apply(self, obj: Any) -> Any:
        try:
            subobj, part = self.pointer.to_last(obj)
            found = subobj if part is None else self.pointer.walk(subobj, part)
        except JsonPointerException as exc:
            raise jsonpatch.JsonPatchTestFailed(str(exc)) from None
        if not _json_equal(found, self.operation["value"]):
            raise jsonpatch.JsonPatchTestFailed("the value at the path is not the value tested")
        return obj


class _Patch(jsonpatch.JsonPatch):
    operations = MappingProxyType({**jsonpatch.JsonPatch.operations, "test": _TestOperation})


def _where(index: int, member: str | None = None) -> str:
    return f"JsonPatch[{index}]" + (f".{member}" if member else "")


def read_patch(document: Any) -> list[dict[str, Any]]:
    """The operations of a JSON Patch document (RFC 6902 §3, §4), each checked for the members
    its ``op`` needs; anything else is a 400 naming the operation and member."""
    if not isinstance(document, list):
        raise bad_request("A JSON Patch document is an array of operations (RFC 6902 §3)", "JsonPatch")
    if len(document) > MAX_OPERATIONS:
        raise bad_request(f"A JSON Patch may hold at most {MAX_OPERATIONS} operations", "JsonPatch", code="too-costly")
    for index, operation in enumerate(document):
        if not isinstance(operation, dict):
            raise bad_request("Each operation is a JSON object", _where(index))
        op = operation.get("op")
        if not isinstance(op, str) or op not in _MEMBERS:
            raise bad_request(f"op must be one of {', '.join(sorted(_MEMBERS))}", _where(index, "op"))
        for member in ("path", _MEMBERS[op] if _MEMBERS[op] == "from" else None):
            if member is None:
                continue
            pointer = operation.get(member)
            if not isinstance(pointer, str) or not _POINTER.match(pointer):
                raise bad_request(f"{member} must be a JSON Pointer such as /status (RFC 6901)", _where(index, member))
        if _MEMBERS[op] == "value" and "value" not in operation:
            raise bad_request(f"The {op} operation needs a value", _where(index, "value"), code="required")
        if op == "move" and operation["path"].startswith(operation["from"] + "/"):
            raise bad_request("An element cannot be moved into itself (RFC 6902 §4.4)", _where(index, "path"))
    return document


def apply_patch(operations: list[dict[str, Any]], resource: dict[str, Any], *, max_bytes: int, max_depth: int) -> Any:
    """The resource with the operations applied in order to a copy of it (RFC 6902 §3: all or
    nothing); an operation the resource does not allow is a 409 naming it.

    The patched resource is held to what a PUT's body is held to (at most ``max_bytes`` and
    ``max_depth`` levels, R4 security.html: hostile input), judged *before* each operation:
    ``copy`` doubles what it copies into itself, so thirty operations would otherwise ask for
    gigabytes, and a copy of something deep recurses past Python's limit."""
    document: Any = copy.deepcopy(resource)
    bound = _Bound(len(dumps(resource)), depth(resource), max_bytes, max_depth)
    for index, operation in enumerate(operations):
        bound.admit(index, operation, document)
        try:  # one at a time, so that a refusal names its operation
            document = _Patch([operation]).apply(document, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            raise _conflict(
                index, f"test of {operation['path']} failed: the resource has another value there"
            ) from None
        except (jsonpatch.JsonPatchException, JsonPointerException, LookupError, TypeError, ValueError):
            raise _conflict(
                index, f"{operation['op']} {operation['path']} cannot be applied: the resource has no such place"
            ) from None
    return document


class _Bound:
    """An upper bound of a document's size in bytes and depth while operations are applied:
    what ``add``, ``replace`` and ``copy`` put in is counted, what ``remove`` takes out is
    not, so the work of measuring is bounded by ``max_bytes`` too."""

    def __init__(self, size: int, deepest: int, max_bytes: int, max_depth: int) -> None:
        self.size, self.deepest, self.max_bytes, self.max_depth = size, deepest, max_bytes, max_depth

    def admit(self, index: int, operation: dict[str, Any], document: Any) -> None:
        op, path = operation["op"], operation["path"]
        if op in ("add", "replace"):
            value = operation["value"]
        elif op == "copy":
            try:
                value = JsonPointer(operation["from"]).resolve(document)
            except (JsonPointerException, LookupError, TypeError, ValueError):
                return  # nothing is copied: the operation itself is refused (409)
        elif op == "move":  # what moves is at most as deep as what is below ``from``
            deepest = self.deepest - _levels(operation["from"]) + _levels(path)
            self._check(index, self.size, deepest)
            return
        else:
            return
        deepest = _levels(path) + depth(value)
        if deepest > self.max_depth:  # refused before the value is serialised (orjson stops at 255)
            self._check(index, self.size, deepest)
        self._check(index, self.size + len(dumps(value)), deepest)

    def _check(self, index: int, size: int, deepest: int) -> None:
        if deepest > self.max_depth:
            raise bad_request(
                f"JSON Patch operation {index} would nest the resource more than {self.max_depth} levels deep",
                _where(index),
                code="too-costly",
            )
        if size > self.max_bytes:
            raise FhirError(
                413,
                [
                    Issue(
                        "error",
                        "too-costly",
                        f"JSON Patch operation {index} would make the resource larger than {self.max_bytes} bytes",
                        (_where(index),),
                    )
                ],
            )
        self.size, self.deepest = size, max(self.deepest, deepest)


def _levels(pointer: str) -> int:
    """How many reference tokens a JSON Pointer has (RFC 6901 §3): the levels above what it names."""
    return pointer.count("/")


def _conflict(index: int, message: str) -> FhirError:
    return conflict(f"JSON Patch operation {index}: {message} (RFC 5789 §2.2, conflicting state)", _where(index))
