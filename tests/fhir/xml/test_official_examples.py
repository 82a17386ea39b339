"""JSON -> XML -> JSON round trips (R4 xml.html, json.html) on every official R4 example of the
types this service stores: the 135 examples in ``official/examples/``, copied unmodified from the
package ``hl7.fhir.r4.examples#4.0.1`` (CC0-1.0; see ``official/README.md``).

The narrative's XHTML is compared as canonical XML (C14N): the writer parses ``div`` and writes it
out again, so that ``&quot;`` in text comes back as ``"``, the same XHTML (R4 narrative.html).
Everything else must come back as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.fhir.xml import read_xml, write_xml

EXAMPLES = sorted((Path(__file__).parent / "official" / "examples").glob("*.json"))


def _with_canonical_narratives(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: etree.tostring(etree.fromstring(value.encode()), method="c14n")
            if key == "div" and isinstance(value, str)
            else _with_canonical_narratives(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_with_canonical_narratives(item) for item in node]
    return node


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_official_example_of_a_stored_type_survives_a_round_trip(path: Path) -> None:
    resource = loads(path.read_bytes())
    back = read_xml(write_xml(resource))
    assert _with_canonical_narratives(back) == _with_canonical_narratives(resource)


def test_there_is_an_official_example_of_every_stored_type() -> None:
    assert {path.name.split("-", 1)[0] for path in EXAMPLES} == set(STORED_TYPES)
