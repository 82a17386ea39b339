"""FHIRPath Patch documents (R4 fhirpatch.html) read and applied to a resource's JSON, for the
patch interaction (R4 http.html#patch); pure, no storage.

A Parameters resource holds one ``operation`` parameter a change, whose parts are ``type``
(``add``, ``insert``, ``delete``, ``replace``, ``move``), ``path`` (a FHIRPath expression) and,
as the type needs them, ``name``, ``value``, ``index``, ``source`` and ``destination``.  A value
is a ``value[x]`` or, for a complex type without one (a BackboneElement), parts named by its
elements.  Paths are the navigational subset of FHIRPath that names elements: ``Type.a.b``,
an index ``[n]``, ``first()``, ``last()`` and ``where(element = 'literal' and …)``; any other
function is a 400 naming the operation, rather than a guess.

Errors follow RFC 5789 §2.2, as for JSON Patch: a malformed document is 400 naming
``Parameters.parameter[n]``; a path that does not find the one element the operation needs is
409 (conflicting state).  The patched resource is then judged as an update
(:func:`fhirbridge.rest.interactions.patch.patch_in`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from fhirbridge.errors import FhirError, bad_request, conflict, error
from fhirbridge.fhir.definitions import ElementSpec, definitions
from fhirbridge.fhir.json_patch import MAX_OPERATIONS
from fhirbridge.fhir.jsonio import depth, dumps

TYPES = ("add", "insert", "delete", "replace", "move")
_NEEDS = {
    "add": ("path", "name", "value"),
    "insert": ("path", "value", "index"),
    "delete": ("path",),
    "replace": ("path", "value"),
    "move": ("path", "source", "destination"),
}
_STEP = re.compile(
    r"\.(?P<call>first|last)\(\)"
    r"|\.where\((?P<where>[^()]*)\)"
    r"|\.(?P<name>[A-Za-z][A-Za-z0-9_]*+)(?!\()(?:\[(?P<index>\d{1,6})\])?"
)
MOST_WORK = 16 * 1024 * 1024
"""The most operations × bytes of the resource (with the values the patch adds) a patch may
cost: each operation walks the whole resource (:func:`_prune`, the depth), so a thousand of
them on a resource of megabytes would hold the service for minutes (R4 security.html)."""
_CONDITION = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|true|false|-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Operation:
    """One ``operation`` of a FHIRPath Patch."""

    index: int
    type: str
    path: str
    name: str | None = None
    value: Any = None
    position: int | None = None
    source: int | None = None
    destination: int | None = None


def _where(index: int, part: str | None = None) -> str:
    return f"Parameters.parameter[{index}]" + (f".part[{part}]" if part else "")


def _part_value(part: dict[str, Any], where: str) -> Any:
    """A part's value: its ``value[x]``, or an object of its named parts (a complex value)."""
    values = [v for k, v in part.items() if k.startswith("value")]
    if len(values) == 1:
        return copy.deepcopy(values[0])
    parts = part.get("part")
    if values or not isinstance(parts, list) or not parts:
        raise bad_request("A value is one value[x] or the parts of a complex value", where)
    out: dict[str, Any] = {}
    for n, child in enumerate(parts):
        if not isinstance(child, dict) or not isinstance(child.get("name"), str):
            raise bad_request("Each part of a complex value names its element", f"{where}.part[{n}]")
        value = _part_value(child, f"{where}.part[{n}]")
        name = child["name"]
        if name in out:
            out[name] = (out[name] if isinstance(out[name], list) else [out[name]]) + [value]
        else:
            out[name] = value
    return out


def read_fhirpath_patch(document: Any) -> list[Operation]:
    """The operations of a FHIRPath Patch (a Parameters resource), each checked for the parts
    its type needs; anything else is a 400 naming the parameter and part."""
    if not isinstance(document, dict) or document.get("resourceType") != "Parameters":
        raise bad_request("A FHIRPath Patch is a Parameters resource (R4 fhirpatch.html)", "Parameters")
    parameters = document.get("parameter") or []
    if not isinstance(parameters, list) or not parameters:
        raise bad_request("A FHIRPath Patch holds at least one operation", "Parameters.parameter", code="required")
    if len(parameters) > MAX_OPERATIONS:
        raise bad_request(
            f"A FHIRPath Patch may hold at most {MAX_OPERATIONS} operations", "Parameters.parameter", code="too-costly"
        )
    return [_operation(index, parameter) for index, parameter in enumerate(parameters)]


def _operation(index: int, parameter: Any) -> Operation:
    if not isinstance(parameter, dict) or parameter.get("name") != "operation":
        raise bad_request("Each parameter of a FHIRPath Patch is an operation", _where(index))
    parts: dict[str, dict[str, Any]] = {}
    for part in parameter.get("part") or []:
        name = part.get("name") if isinstance(part, dict) else None
        if not isinstance(name, str) or name in parts:
            raise bad_request("Each part of an operation is named once", _where(index, "name"))
        parts[name] = part
    kind = parts.get("type", {}).get("valueCode")
    if kind not in TYPES:
        raise bad_request(f"The operation's type is one of {', '.join(TYPES)}", _where(index, "type"))
    for needed in _NEEDS[kind]:
        if needed not in parts:
            raise bad_request(f"A {kind} operation needs its {needed}", _where(index, needed), code="required")
    path = parts["path"].get("valueString")
    if not isinstance(path, str) or not path:
        raise bad_request("path is a FHIRPath expression (valueString)", _where(index, "path"))

    def integer(name: str) -> int | None:
        if name not in _NEEDS[kind]:
            return None
        value = parts[name].get("valueInteger")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise bad_request(f"{name} is a list index (valueInteger, 0 or more)", _where(index, name))
        return value

    name = parts["name"].get("valueString") if "name" in _NEEDS[kind] else None
    if "name" in _NEEDS[kind] and (not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name)):
        raise bad_request("name is an element name (valueString)", _where(index, "name"))
    value = _part_value(parts["value"], _where(index, "value")) if "value" in _NEEDS[kind] else None
    return Operation(index, kind, path, name, value, integer("index"), integer("source"), integer("destination"))


# -- paths ------------------------------------------------------------------------------------


@dataclass
class _Node:
    """An element a path reached: where it is (its parent object or list and key) and its
    definition (None: not known, the resource itself)."""

    holder: Any
    key: Any
    spec: ElementSpec | None

    @property
    def value(self) -> Any:
        return self.holder[self.key]


def _children(resource_type: str, spec: ElementSpec | None) -> dict[str, ElementSpec]:
    tables = definitions().types
    if spec is None:
        found = tables.get(resource_type)
        return found.elements if found is not None else {}
    if spec.children is not None:
        return spec.children
    found = tables.get(spec.type_code)
    return found.elements if found is not None else {}


def _matches(value: Any, condition: str, where: str) -> bool:
    for clause in re.split(r"\s+and\s+", condition):
        match = _CONDITION.match(clause)
        if match is None:
            raise bad_request(f"where() takes element = 'literal' (and …) here, not {condition!r}", where)
        element, literal = match.groups()
        expected: Any
        if literal.startswith("'"):
            expected = re.sub(r"\\(.)", r"\1", literal[1:-1])
        elif literal in ("true", "false"):
            expected = literal == "true"
        else:
            expected = float(literal) if "." in literal else int(literal)
        found = value.get(element) if isinstance(value, dict) else None
        if found != expected or isinstance(found, bool) != isinstance(expected, bool):
            return False
    return True


def evaluate(resource: dict[str, Any], path: str, where: str) -> list[_Node]:
    """The elements ``path`` names in ``resource``, each with where it is held."""
    resource_type = resource.get("resourceType", "")
    if not path.startswith(resource_type) or (len(path) > len(resource_type) and path[len(resource_type)] != "."):
        raise bad_request(f"A path starts at the resource: {resource_type}.…", where)
    root = {"": resource}
    nodes = [_Node(root, "", None)]
    rest = path[len(resource_type) :]
    while rest:
        step = _STEP.match(rest)
        if step is None:
            raise bad_request(
                f"This server applies paths of element names, [n], first(), last() and where(): {path}", where
            )
        rest = rest[step.end() :]
        if step.group("name"):
            name = step.group("name")
            reached = []
            for node in nodes:
                value = node.value
                spec = _children(resource_type, node.spec).get(name)
                if not isinstance(value, dict) or name not in value:
                    continue
                child = value[name]
                if isinstance(child, list):
                    reached += [_Node(child, i, spec) for i in range(len(child))]
                else:
                    reached.append(_Node(value, name, spec))
            nodes = reached
            if step.group("index") is not None:
                at = int(step.group("index"))
                nodes = nodes[at : at + 1]
        elif step.group("call"):
            nodes = nodes[:1] if step.group("call") == "first" else nodes[-1:]
        else:
            nodes = [node for node in nodes if _matches(node.value, step.group("where"), where)]
    return nodes


def _one(nodes: list[_Node], op: Operation) -> _Node:
    if len(nodes) != 1:
        raise conflict(f"The path {op.path} finds {len(nodes)} elements, not one", _where(op.index, "path"))
    return nodes[0]


def _list_at(resource: dict[str, Any], op: Operation) -> list[Any]:
    """The list a ``Type.….name`` path of insert or move names (an absent one is empty)."""
    parent_path, _, name = op.path.rpartition(".")
    if not parent_path or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise bad_request("insert and move name a list: a path ending in its element's name", _where(op.index, "path"))
    holder = _one(evaluate(resource, parent_path, _where(op.index, "path")), op).value
    if not isinstance(holder, dict):
        raise conflict(f"{parent_path} holds no elements", _where(op.index, "path"))
    found = holder.setdefault(name, [])
    if not isinstance(found, list):
        raise conflict(f"{op.path} is not a list", _where(op.index, "path"))
    return found


def apply_fhirpath_patch(
    operations: list[Operation], resource: dict[str, Any], *, max_bytes: int, max_depth: int
) -> dict[str, Any]:
    """The resource with the operations applied in order to a copy of it (all or nothing); an
    operation the resource's state does not allow is a 409 naming it; a result larger or deeper
    than a PUT body may be is a 413/400 ``too-costly``, and so is a patch costing more than
    :data:`MOST_WORK`."""
    largest = len(dumps(resource)) + sum(len(dumps(op.value)) for op in operations if op.value is not None)
    if len(operations) * largest > MOST_WORK:  # what the resource may grow to, walked once an operation
        raise bad_request(
            f"{len(operations)} operations on a resource this large cost too much: send fewer, or PUT the resource",
            "Parameters.parameter",
            code="too-costly",
        )
    patched = copy.deepcopy(resource)
    for op in operations:
        where = _where(op.index, "path")
        if op.type == "add":
            node = _one(evaluate(patched, op.path, where), op)
            holder = node.value
            if not isinstance(holder, dict):
                raise conflict(f"{op.path} is a value, not an element to add to", where)
            assert op.name is not None
            spec = _children(patched.get("resourceType", ""), node.spec).get(op.name)
            if spec is not None and spec.repeats:
                holder.setdefault(op.name, []).append(op.value)
            elif op.name in holder:
                raise conflict(f"{op.path}.{op.name} is there already (add does not replace)", where)
            else:
                holder[op.name] = op.value
        elif op.type == "insert":
            found = _list_at(patched, op)
            assert op.position is not None
            if op.position > len(found):
                raise conflict(f"{op.path} has {len(found)} elements: index {op.position} is past its end", where)
            found.insert(op.position, op.value)
        elif op.type == "delete":
            nodes = evaluate(patched, op.path, where)
            if len(nodes) > 1:
                raise conflict(f"The path {op.path} finds {len(nodes)} elements: delete takes one", where)
            for node in nodes:
                del node.holder[node.key]
        elif op.type == "replace":
            node = _one(evaluate(patched, op.path, where), op)
            node.holder[node.key] = op.value
        else:
            found = _list_at(patched, op)
            assert op.source is not None and op.destination is not None  # noqa: PT018
            if max(op.source, op.destination) >= len(found):
                raise conflict(f"{op.path} has {len(found)} elements: source and destination are within it", where)
            found.insert(op.destination, found.pop(op.source))
        # judged after each operation, before anything recurses into the result (_prune, and
        # orjson, which stops at 255 levels): each add may nest a value under the last one
        if depth(patched) > max_depth:
            raise bad_request(
                f"The patched resource nests deeper than {max_depth} levels", "Parameters", code="too-costly"
            )
        _prune(patched)
    if len(dumps(patched)) > max_bytes:
        raise FhirError(
            413, [error("too-costly", f"The patched resource is larger than {max_bytes} bytes", "Parameters")]
        )
    return patched


def _prune(node: Any) -> None:
    """Empty lists and objects a delete left are no element at all (R4 json.html)."""
    if isinstance(node, dict):
        for key in list(node):
            _prune(node[key])
            if node[key] in ([], {}):
                del node[key]
    elif isinstance(node, list):
        for item in node:
            _prune(item)
        node[:] = [item for item in node if item not in ([], {})]
