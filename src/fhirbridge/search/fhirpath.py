"""The FHIRPath that search parameter expressions use, compiled to plain Python walkers.

Index extraction runs on every write, so the standard SearchParameter expressions (R4
search.html#expressions, FHIRPath N1) are compiled once into closures for the forms they
actually take: paths, ``|`` unions, ``(… as type)``, ``where(resolve() is Type)``,
``where(element='literal')``, ``extension('url')``, ``where(hasExtension('url'))`` (which
``fhirpathpy`` lacks) and ``choice.ofType(Type)``.  Anything else is evaluated by the
``fhirpathpy`` library, so every expression still works, only more slowly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from fhirbridge.fhir.references import referenced_type

Node = Any
Evaluator = Callable[[dict[str, Any]], list[Node]]

_WHERE_RESOLVE = re.compile(r"^where\(resolve\(\) is (?P<type>[A-Z][A-Za-z]+)\)$")
_WHERE_EQUALS = re.compile(r"^where\((?P<name>[a-zA-Z]+) ?= ?'(?P<value>[^']*)'\)$")
_EXTENSION = re.compile(r"^extension\('(?P<url>[^']+)'\)$")
_WHERE_HAS_EXTENSION = re.compile(r"^where\(hasExtension\('(?P<url>[^']+)'\)\)$")
_OF_TYPE = re.compile(r"^ofType\((?P<type>[A-Za-z]+)\)$")
_AS = re.compile(r"^(?P<path>.+?) as (?P<type>[a-zA-Z]+)$")
_STEP = re.compile(r"^[a-zA-Z][a-zA-Z0-9]*$")


def split_top_level(expression: str, separator: str) -> list[str]:
    """Split on a separator outside parentheses and quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    index = 0
    while index < len(expression):
        char = expression[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and expression.startswith(separator, index):
            parts.append(expression[start:index].strip())
            index += len(separator)
            start = index
            continue
        index += 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


@cache
def _choice_names() -> frozenset[str]:
    """Every ``name`` of a ``name[x]`` element in R4: only these can stand for ``nameType`` keys."""
    from fhirbridge.fhir.definitions import definitions

    names: set[str] = set()
    stack = [table.elements for table in definitions().types.values()]
    while stack:
        for spec in stack.pop().values():
            if spec.choice_of is not None:
                names.add(spec.choice_of)
            if spec.children is not None:
                stack.append(spec.children)
    return frozenset(names)


def children(nodes: Iterable[Node], name: str) -> list[Node]:
    """One path step: the ``name`` children of ``nodes``, lists flattened (FHIRPath's ``nodes.name``)."""
    out: list[Node] = []
    choice = name in _choice_names()
    for node in nodes:
        if not isinstance(node, dict):
            continue
        if name in node:
            value = node[name]
            if isinstance(value, list):
                out.extend(value)
            else:
                out.append(value)
            continue
        if not choice:
            continue
        # A choice element (``due`` for ``dueDate``/``dueDuration``) navigates to whichever is present.
        for key, value in node.items():
            if key.startswith(name) and len(key) > len(name) and key[len(name)].isupper():
                if isinstance(value, list):
                    out.extend(value)
                else:
                    out.append(value)
    return out


def _choice_of_type(parents: list[Node], name: str, type_name: str) -> list[Node]:
    return children(parents, name + type_name[:1].upper() + type_name[1:])


Step = Callable[[list[Node]], list[Node]]


def _child_step(name: str) -> Step:
    return lambda nodes: children(nodes, name)


def _resolves_to_step(resource_type: str) -> Step:
    return lambda nodes: [n for n in nodes if referenced_type(n) == resource_type]


def _equals_step(name: str, value: str) -> Step:
    return lambda nodes: [n for n in nodes if isinstance(n, dict) and n.get(name) == value]


def _extension_step(url: str) -> Step:
    return lambda nodes: [n for n in children(nodes, "extension") if isinstance(n, dict) and n.get("url") == url]


def _of_type_step(name: str, type_name: str) -> Step:
    return lambda nodes: _choice_of_type(nodes, name, type_name)


def _has_extension_step(url: str) -> Step:
    return lambda nodes: [n for n in nodes if _extension_step(url)([n])]


def _step(text: str) -> Step | None:
    if _STEP.match(text):
        return _child_step(text)
    if match := _WHERE_RESOLVE.match(text):
        return _resolves_to_step(match.group("type"))
    if match := _WHERE_EQUALS.match(text):
        return _equals_step(match.group("name"), match.group("value"))
    if match := _EXTENSION.match(text):
        return _extension_step(match.group("url"))
    if match := _WHERE_HAS_EXTENSION.match(text):  # fhirpathpy lacks hasExtension()
        return _has_extension_step(match.group("url"))
    return None


def _compile_steps(steps: list[str]) -> Step | None:
    """Compile ``a.b.where(…).c`` (after the leading type name) into one function."""
    funcs: list[Step] = []
    index = 0
    while index < len(steps):
        text = steps[index]
        index += 1
        typed = _OF_TYPE.match(steps[index]) if index < len(steps) else None
        if typed is not None and _STEP.match(text):  # ``value.ofType(Reference)``: ``valueReference``
            funcs.append(_of_type_step(text, typed.group("type")))
            index += 1
            continue
        step = _step(text)
        if step is None:
            return None
        funcs.append(step)

    def run(nodes: list[Node]) -> list[Node]:
        for func in funcs:
            if not nodes:
                return nodes
            nodes = func(nodes)
        return nodes

    return run


def _compile_single(expression: str, resource_type: str) -> Evaluator | None:
    expression = expression.strip()
    while expression.startswith("(") and expression.endswith(")") and len(split_top_level(expression[1:-1], "|")) == 1:
        inner = expression[1:-1].strip()
        if inner.count("(") != inner.count(")"):
            break
        expression = inner
    as_match = _AS.match(expression)
    if as_match:
        path_steps = split_top_level(as_match.group("path"), ".")
        type_name = as_match.group("type")
        if len(path_steps) < 2 or path_steps[0] != resource_type:
            return None
        parent = _compile_steps(path_steps[1:-1])
        last = path_steps[-1]
        if parent is None or not _STEP.match(last):
            return None
        return lambda resource: _choice_of_type(parent([resource]), last, type_name)
    steps = split_top_level(expression, ".")
    if not steps or steps[0] not in (resource_type, "Resource", "DomainResource"):
        return None
    compiled = _compile_steps(steps[1:])
    if compiled is None:
        return None
    return lambda resource: compiled([resource])


def compile_expression(expression: str, resource_type: str) -> Evaluator:
    """An evaluator for the part of ``expression`` that applies to ``resource_type``."""
    parts = [p for p in split_top_level(expression, "|") if _applies_to(p, resource_type)]
    evaluators: list[Evaluator] = []
    for part in parts:
        compiled = _compile_single(part, resource_type)
        evaluators.append(compiled if compiled is not None else _fhirpathpy_evaluator(part))
    if len(evaluators) == 1:
        return evaluators[0]

    def union(resource: dict[str, Any]) -> list[Node]:
        out: list[Node] = []
        for evaluate in evaluators:
            out.extend(evaluate(resource))
        return out

    return union


def _applies_to(part: str, resource_type: str) -> bool:
    stripped = part.lstrip("(").strip()
    head = re.split(r"[.\s]", stripped, maxsplit=1)[0]
    return head in (resource_type, "Resource", "DomainResource")


def _fhirpathpy_evaluator(expression: str) -> Evaluator:
    from fhirpathpy import compile as fhirpath_compile  # imported only for the rare fallback
    from fhirpathpy.models import models

    compiled = fhirpath_compile(expression, models["r4"])

    def evaluate(resource: dict[str, Any]) -> list[Node]:
        result = compiled(resource, {})
        return [r for r in result if r is not None] if isinstance(result, list) else []

    return evaluate
