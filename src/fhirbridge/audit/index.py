"""The search index of an AuditEvent without the FHIRPath walk: the access log writes one per
request, and picking each search parameter's nodes through the compiled expressions was most
of what a logged event cost.

:func:`audit_index` picks the nodes of every AuditEvent search parameter directly, path by path
as the expressions below say, and hands them to the same code that indexes any resource's nodes
(:func:`fhirbridge.search.index.add_nodes`), so the rows are those of
:func:`~fhirbridge.search.index.extract_index` for any AuditEvent, not only for the shape
:func:`~fhirbridge.audit.events.audit_event` gives them (``tests/audit/test_index.py`` holds the
two equal over many varied events).  The paths below hold only while the server's AuditEvent
search parameters are the ones they were written from (:data:`EXPRESSIONS`); should those change
(a parameter added in ``profiles/``, a new definitions package), every event is indexed the
generic way.

Most nodes recur from event to event (the codings, the action, whoever asked and from where,
the patients): what a node of plain strings puts into the index is kept for the next event
that has an equal one (:func:`_node_rows`), as the node alone decides it.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from fhirbridge.fhir.references import referenced_type
from fhirbridge.search.fhirpath import children
from fhirbridge.search.index import IndexRows, add_nodes, extract_index
from fhirbridge.search.parameters import COLUMN_PARAMETERS, search_parameters

EXPRESSIONS = {
    "_id": "Resource.id",
    "_lastUpdated": "Resource.meta.lastUpdated",
    "_profile": "Resource.meta.profile",
    "_security": "Resource.meta.security",
    "_source": "Resource.meta.source",
    "_tag": "Resource.meta.tag",
    "action": "AuditEvent.action",
    "address": "AuditEvent.agent.network.address",
    "agent": "AuditEvent.agent.who",
    "agent-name": "AuditEvent.agent.name",
    "agent-role": "AuditEvent.agent.role",
    "altid": "AuditEvent.agent.altId",
    "date": "AuditEvent.recorded",
    "entity": "AuditEvent.entity.what",
    "entity-name": "AuditEvent.entity.name",
    "entity-role": "AuditEvent.entity.role",
    "entity-type": "AuditEvent.entity.type",
    "outcome": "AuditEvent.outcome",
    "patient": "AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)",
    "policy": "AuditEvent.agent.policy",
    "site": "AuditEvent.source.site",
    "source": "AuditEvent.source.observer",
    "subtype": "AuditEvent.subtype",
    "type": "AuditEvent.type",
}
"""The AuditEvent search parameters (code: FHIRPath) that :func:`_nodes` follows."""


@cache
def _written_for() -> bool:
    """Whether the server's AuditEvent search parameters are those of :data:`EXPRESSIONS`."""
    found = {code: param.expression for code, param in search_parameters("AuditEvent").items()}
    return found == EXPRESSIONS


def _nodes(event: dict[str, Any]) -> dict[str, list[Any]]:
    """The nodes each expression of :data:`EXPRESSIONS` selects (but ``_id`` and
    ``_lastUpdated``, which are columns), each path walked once, step by step as the compiled
    expressions step (:func:`~fhirbridge.search.fhirpath.children`)."""
    top = [event]
    meta = children(top, "meta")
    agents = children(top, "agent")
    entities = children(top, "entity")
    sources = children(top, "source")
    who = children(agents, "who")
    what = children(entities, "what")
    return {
        "_profile": children(meta, "profile"),
        "_security": children(meta, "security"),
        "_source": children(meta, "source"),
        "_tag": children(meta, "tag"),
        "action": children(top, "action"),
        "address": children(children(agents, "network"), "address"),
        "agent": who,
        "agent-name": children(agents, "name"),
        "agent-role": children(agents, "role"),
        "altid": children(agents, "altId"),
        "date": children(top, "recorded"),
        "entity": what,
        "entity-name": children(entities, "name"),
        "entity-role": children(entities, "role"),
        "entity-type": children(entities, "type"),
        "outcome": children(top, "outcome"),
        "patient": [node for node in (*who, *what) if _referenced_type(node) == "Patient"],
        "policy": children(agents, "policy"),
        "site": children(sources, "site"),
        "source": children(sources, "observer"),
        "subtype": children(top, "subtype"),
        "type": children(top, "type"),
    }


PlainNode = str | tuple[tuple[str, str], ...]
"""A string, or an object whose values are all strings (a Coding, a literal reference) as its items."""


def _plain(node: Any) -> PlainNode | None:
    if type(node) is str:
        return node
    if type(node) is not dict:
        return None
    for value in node.values():
        if type(value) is not str:  # only strings: 1 == True, and they are not indexed alike
            return None
    return tuple(node.items())


@lru_cache(maxsize=4096)
def _node_rows(code: str, node: PlainNode, local_base: str | None) -> IndexRows:
    """What one node of plain strings puts into the index for a parameter (not to be changed)."""
    rows = IndexRows()
    add_nodes(search_parameters("AuditEvent")[code], [node if isinstance(node, str) else dict(node)], rows, local_base)
    return rows


@lru_cache(maxsize=4096)
def _plain_type(node: PlainNode) -> str | None:
    return referenced_type(node if isinstance(node, str) else dict(node))


def _referenced_type(node: Any) -> str | None:
    plain = _plain(node)
    return referenced_type(node) if plain is None else _plain_type(plain)


def audit_index(event: dict[str, Any], local_base: str | None = None) -> IndexRows:
    """The index rows of an AuditEvent, as :func:`~fhirbridge.search.index.extract_index`
    gives them."""
    if not _written_for():
        return extract_index("AuditEvent", event, local_base)
    rows = IndexRows()
    nodes = _nodes(event)
    present = event.keys()
    for param in search_parameters("AuditEvent").values():
        if param.code in COLUMN_PARAMETERS or (param.root_keys is not None and param.root_keys.isdisjoint(present)):
            continue  # as extract_index skips them
        for node in nodes[param.code]:  # each node adds its own rows, after those of the node before
            plain = _plain(node)
            if plain is None:
                add_nodes(param, [node], rows, local_base)
                continue
            known = _node_rows(param.code, plain, local_base)
            rows.token += known.token
            rows.string += known.string
            rows.date += known.date
            rows.reference += known.reference
            rows.uri += known.uri
    return rows
