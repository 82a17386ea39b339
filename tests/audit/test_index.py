"""The access log indexes its AuditEvents without FHIRPath (issue 12), into exactly the rows the
generic extraction gives: for every event the log writes, and for any AuditEvent at all."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirbridge.access.grants import AUDIT_SUBTYPES, EMERGENCY_ACCESS
from fhirbridge.audit import index
from fhirbridge.audit.events import Seen, audit_events
from fhirbridge.fhir.instants import format_instant
from fhirbridge.identity import DEVELOPER, SYSTEM, Identity
from fhirbridge.search.index import extract_index
from fhirbridge.writes.canonical import with_server_fields

LOCAL = "https://fhir.region.se/fhir"
EXAMPLES = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

ids = st.from_regex(r"[A-Za-z0-9\-.]{1,12}", fullmatch=True)
persons = st.sampled_from(["Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Organization", "Device"])
identities = st.one_of(
    st.just(DEVELOPER),
    st.just(SYSTEM),
    st.builds(
        Identity,
        kind=st.sampled_from(["user", "patient", "system", "anonymous"]),
        subject=st.one_of(st.none(), st.builds(lambda t, i: f"{t}/{i}", persons, ids), ids),
        on_behalf_of=st.one_of(st.none(), st.builds(lambda i: f"Organization/{i}", ids)),
        client_id=st.one_of(st.none(), ids),
    ),
)
resource_references = st.builds(
    lambda t, i, v: f"{t}/{i}/_history/{v}",
    st.sampled_from(["CarePlan", "Goal", "Patient", "Communication", "AuditEvent"]),
    ids,
    st.integers(1, 40),
)
texts = st.text(max_size=40)


@st.composite
def logged_events(draw: st.DrawFn) -> dict[str, Any]:
    """One of the AuditEvents the access log writes for a request, as it is stored."""
    resources = draw(st.lists(resource_references, max_size=120))
    seen = Seen(
        resources,
        set(draw(st.lists(ids, max_size=4))),
        set(draw(st.lists(texts, max_size=2))),
        {reference for reference in resources if draw(st.booleans())},
    )
    interaction = draw(st.sampled_from(["read", "vread", "search-type", "history-instance", "create", "operation"]))
    events = audit_events(
        draw(identities),
        interaction=interaction,
        operation=draw(st.one_of(st.none(), st.sampled_from(["merge", "everything", EMERGENCY_ACCESS]))),
        status=draw(st.sampled_from([200, 201, 401, 403, 404, 422, 500, 503])),
        message=draw(st.one_of(st.none(), texts)),
        seen=seen,
        query=draw(st.one_of(st.none(), st.builds(lambda i: f"patient={i}&_count=10", ids), texts)),
        client_address=draw(
            st.one_of(st.none(), st.sampled_from(["127.0.0.1", "10.1.2.3", "::1", "Ölands Vårdcentral"]))
        ),
        now_us=draw(st.integers(0, 4_102_444_800_000_000)),
        request_id=draw(st.one_of(st.none(), ids)),
    )
    event = draw(st.sampled_from(events))
    if draw(st.booleans()):  # an emergency grant, as emergency_access writes it
        event["subtype"] = [{"system": AUDIT_SUBTYPES, "code": EMERGENCY_ACCESS}]
        event["period"] = {"start": format_instant(0), "end": format_instant(60_000_000)}
    return with_server_fields(event, draw(ids), 1, draw(st.integers(0, 4_102_444_800_000_000)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
references = st.fixed_dictionaries(
    {},
    optional={
        "reference": st.one_of(
            st.builds(lambda t, i: f"{t}/{i}", persons, ids),
            st.builds(lambda t, i: f"{LOCAL}/{t}/{i}", persons, ids),
            st.sampled_from(["#contained", "urn:uuid:1d1f4d2a-3c54-4b1c-9d43-2a7c1d1f4d2a", "https://x.se/doc", "?"]),
        ),
        "type": persons,
        "identifier": st.fixed_dictionaries({}, optional={"system": ids, "value": st.one_of(ids, st.integers())}),
        "display": texts,
    },
)
codings = st.fixed_dictionaries({}, optional={"system": ids, "code": ids, "display": texts, "text": texts})
anything = st.one_of(json_values, references, codings, st.lists(st.one_of(references, codings), max_size=3))


def somewhere(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value, a list of them, or anything at all in its place."""
    return st.one_of(value, st.lists(value, max_size=3), anything)


parts = st.fixed_dictionaries(
    {},
    optional={
        name: somewhere(st.one_of(references, codings, texts))
        # nameString, sourceUri, entityReference: what a missing choice element stands for
        for name in (
            "who",
            "what",
            "name",
            "nameString",
            "role",
            "altId",
            "policy",
            "type",
            "query",
            "observer",
            "site",
        )
    }
    | {"network": somewhere(st.fixed_dictionaries({}, optional={"address": somewhere(texts), "type": texts}))},
)


@st.composite
def any_audit_events(draw: st.DrawFn) -> dict[str, Any]:
    """An AuditEvent of any shape the elements the search parameters read can take."""
    event = draw(
        st.fixed_dictionaries(
            {"resourceType": st.just("AuditEvent")},
            optional={
                "meta": somewhere(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "security": somewhere(codings),
                            "tag": somewhere(codings),
                            "profile": somewhere(texts),
                            "source": somewhere(texts),
                        },
                    )
                ),
                "type": somewhere(codings),
                "subtype": somewhere(codings),
                "action": somewhere(texts),
                "recorded": somewhere(st.sampled_from(["2026-03-01T10:00:00.123+00:00", "2026", "2026-03-01", "nope"])),
                "outcome": somewhere(texts),
                "outcomeDesc": texts,
                "agent": somewhere(parts),
                "entity": somewhere(parts),
                "source": somewhere(parts),
                "sourceUri": texts,
                "entityReference": somewhere(parts),
                "period": json_values,
            },
        )
    )
    return dict(event)


@EXAMPLES
@given(logged_events(), st.sampled_from([None, LOCAL]))
def test_every_event_the_log_writes_is_indexed_as_the_generic_extraction_indexes_it(
    event: dict[str, Any], local_base: str | None
) -> None:
    assert index.audit_index(event, local_base) == extract_index("AuditEvent", event, local_base)


@EXAMPLES
@given(any_audit_events(), st.sampled_from([None, LOCAL]))
def test_any_audit_event_is_indexed_as_the_generic_extraction_indexes_it(
    event: dict[str, Any], local_base: str | None
) -> None:
    assert index.audit_index(event, local_base) == extract_index("AuditEvent", event, local_base)


def test_the_paths_are_those_of_this_servers_search_parameters() -> None:
    """Else every event is indexed the generic way, and the log is slow again."""
    assert index._written_for()
