"""Hypothesis strategies for hostile FHIR request bodies: random JSON, valid resources with one
or more hostile mutations, broken bytes and wrong content types.

A body is built as Python data and written with :func:`json.dumps`, which escapes lone
surrogates and control characters (``\\ud800``, ``\\u0000``) as a hostile client would send
them; tokens Python cannot write (``1e999``, ``-0``, duplicate keys) are spliced into the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.support import builders

RAW = re.compile(r'"@raw:([^"@]*)@"')
"""A string that stands for a JSON token Python cannot write, spliced in as is."""

FHIR_JSON = "application/fhir+json"
CONTENT_TYPES = (
    FHIR_JSON,
    "application/json",
    "application/fhir+json; charset=utf-8",
    "application/json; charset=latin-1",
    "text/plain",
    "application/xml",
    "application/fhir+xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
)


@dataclass(frozen=True)
class HostileBody:
    """What to send: the bytes, their Content-Type, and the resource type they claim."""

    content: bytes
    content_type: str
    resource_type: str

    def __repr__(self) -> str:  # Hypothesis prints the failing example: keep it readable
        return f"HostileBody({self.content[:300]!r}… {len(self.content)} bytes, {self.content_type!r})"


SEED_PATIENT = "fuzz-patient"
"""The Patient the seed resources refer to; the tests store it first."""


def raw(token: str) -> str:
    return f"@raw:{token}@"


def seeds() -> list[dict[str, Any]]:
    """Valid resources of several types to mutate (their references need not resolve)."""
    return [
        builders.patient(),
        builders.practitioner(),
        builders.care_plan(SEED_PATIENT),
        builders.goal(SEED_PATIENT),
        builders.organization(),
    ]


HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "Tol\x00vansson",
        "\x01\x02\x1b[31m\x7f",
        "\ud800",
        "\udfff\ud800",
        "\u202egnirts",
        "\ufeff",
        "A" * 100_000,
        "Å" * 30_000,
        "../../../../etc/passwd",
        "..%2F..%2Fx",
        "javascript:alert(1)",
        "<script>alert(1)</script>",
        "'; DROP TABLE resources; --",
        "%s%s%n",
        "${jndi:ldap://x}",
        "9999-99-99",
        "2026-02-30T25:61:61Z",
    ]
)
HOSTILE_NUMBERS = st.sampled_from(
    [raw("1e999"), raw("-1e999"), raw("-0"), raw("-0.0"), raw("1e-400"), raw("0.1e+308"), raw("1" + "0" * 400)]
) | st.integers(min_value=-(10**40), max_value=10**40)
HOSTILE_REFERENCES = st.sampled_from(
    [
        "../../x",
        "Patient/../../x",
        "javascript:alert(1)",
        "Patient/",
        "/Patient/1",
        "Patient/1/_history/x",
        "Patient?identifier=",
        "Patient?",
        "urn:uuid:not-a-uuid",
        "#",
        "#missing",
        "http://evil.example/Patient/1",
        "Patient/" + "x" * 2000,
        "Okänd/1",
        "Patient/a b",
    ]
).map(lambda reference: {"reference": reference})
HOSTILE_IDS = st.sampled_from(["../../x", "a/b", "a%00", "x" * 65, "", " ", "Patient/1", 5, None, ["1"]])
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


def nested(levels: int) -> Any:
    value: Any = "botten"
    for level in range(levels):
        value = [value] if level % 2 else {"extension": value}
    return value


HOSTILE_VALUES = st.one_of(
    HOSTILE_STRINGS,
    HOSTILE_NUMBERS,
    HOSTILE_REFERENCES,
    JSON_VALUES,
    st.integers(min_value=20, max_value=400).map(nested),
    st.integers(min_value=1000, max_value=20_000).map(lambda n: [{"family": "T"}] * n),
    st.sampled_from([[], {}, [None], [[]], [{}], True]),
)
ELEMENT_NAMES = st.sampled_from(
    [
        "resourceType",
        "id",
        "meta",
        "text",
        "contained",
        "extension",
        "identifier",
        "name",
        "gender",
        "birthDate",
        "subject",
        "status",
        "intent",
        "telecom",
        "address",
        "_gender",
        "_birthDate",
        "modifierExtension",
    ]
) | st.text(max_size=20)


@st.composite
def mutated_resource(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid resource with one to three elements set to hostile values, and its claimed type."""
    resource = dict(draw(st.sampled_from(seeds())))
    resource_type = str(resource["resourceType"])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["value", "reference", "id", "type", "nested-value", "drop"]))
        if kind == "value":
            resource[draw(ELEMENT_NAMES)] = draw(HOSTILE_VALUES)
        elif kind == "reference":
            resource[draw(st.sampled_from(["subject", "generalPractitioner", "managingOrganization"]))] = draw(
                HOSTILE_REFERENCES | HOSTILE_REFERENCES.map(lambda r: [r])
            )
        elif kind == "id":
            resource["id"] = draw(HOSTILE_IDS)
        elif kind == "type":
            resource["resourceType"] = draw(st.sampled_from(["Practitioner", "patient", "", "Bundle", 5, None]))
        elif kind == "nested-value":
            name = draw(st.sampled_from([key for key in resource if isinstance(resource[key], list)] or ["name"]))
            resource[name] = [{draw(ELEMENT_NAMES): draw(HOSTILE_VALUES)}]
        elif len(resource) > 1:
            resource.pop(draw(st.sampled_from(sorted(resource))))
    return resource, resource_type


def as_text(value: Any) -> bytes:
    return RAW.sub(r"\1", json.dumps(value)).encode()


@st.composite
def byte_damage(draw: st.DrawFn, content: bytes) -> bytes:
    """The same body with broken bytes: invalid UTF-8, a BOM, a cut, a duplicate key."""
    kind = draw(st.sampled_from(["invalid-utf8", "bom", "truncate", "duplicate-key", "trailing"]))
    middle = draw(st.integers(min_value=0, max_value=max(0, len(content) - 1)))
    if kind == "invalid-utf8":
        return (
            content[:middle]
            + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
            + content[middle:]
        )
    if kind == "bom":
        return b"\xef\xbb\xbf" + content
    if kind == "truncate":
        return content[:middle]
    if kind == "duplicate-key" and content.startswith(b"{"):
        duplicate = draw(st.sampled_from([b'"resourceType": "Practitioner", ', b'"id": "x", ', b'"gender": 5, ']))
        return b"{" + duplicate + content[1:]
    return content + b"\x00 {}"


@st.composite
def hostile_body(draw: st.DrawFn) -> HostileBody:
    """A hostile body of any kind, sent as FHIR JSON three times in four."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "random-json", "damaged-bytes"]))
    if kind == "random-json":
        content, resource_type = as_text(draw(JSON_VALUES)), "Patient"
    else:
        resource, resource_type = draw(mutated_resource())
        content = as_text(resource)
        if kind == "damaged-bytes":
            content = draw(byte_damage(content))
    content_type = draw(st.sampled_from([FHIR_JSON] * 3 + [draw(st.sampled_from(CONTENT_TYPES))]))
    return HostileBody(content, content_type, resource_type)
