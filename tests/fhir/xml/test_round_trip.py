"""JSON -> XML -> JSON round trips (R4 xml.html, json.html) on the official R4 examples and
definitions in ``official/`` and on resources of every type this service is about."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.xml import read_xml, write_xml
from tests.rest.test_transaction import contract_bundle
from tests.support import builders

OFFICIAL = sorted((Path(__file__).parent / "official").glob("*.json"))
NS = {"f": "http://hl7.org/fhir", "h": "http://www.w3.org/1999/xhtml"}


@pytest.mark.parametrize("path", OFFICIAL, ids=lambda p: p.stem)
def test_the_official_resources_survive_a_round_trip_unchanged(path: Path) -> None:
    resource = loads(path.read_bytes())
    assert read_xml(write_xml(resource)) == resource


def test_there_are_official_resources_to_convert() -> None:
    assert len(OFFICIAL) >= 10


def _ours() -> list[dict[str, Any]]:
    patient_id, practitioner_id = "p1", "pr1"
    patient = builders.patient(given="Tolvan")
    patient["name"][0]["given"] = ["Tolvan", "Karl"]
    patient["name"][0]["_given"] = [
        None,
        {"id": "g2", "extension": [{"url": "http://example.se/x", "valueBoolean": True}]},
    ]
    goal = builders.goal(patient_id)
    goal["target"] = [{"measure": {"text": "vikt"}, "detailQuantity": {"value": Decimal("80.50"), "unit": "kg"}}]
    plan = builders.care_plan(
        patient_id,
        contained=[dict(builders.goal(patient_id), id="g1")],
        goal=[{"reference": "#g1"}],
        text={
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Kontrakt &amp; mål</p></div>',
        },
        activity=[{"detail": {"status": "scheduled", "description": "Promenad", "scheduledString": "dagligen"}}],
    )
    bundle, _ = contract_bundle(builders.personnummer())
    return [
        patient,
        builders.practitioner(),
        builders.organization(),
        builders.practitioner_role(practitioner_id, "o1"),
        builders.care_team(patient_id, practitioner_id),
        goal,
        plan,
        builders.consent(patient_id, f"Practitioner/{practitioner_id}"),
        builders.communication(patient_id, practitioner_id),
        builders.subscription(f"CarePlan?subject=Patient/{patient_id}"),
        bundle,
    ]


@pytest.mark.parametrize("resource", _ours(), ids=lambda r: r["resourceType"])
def test_our_types_survive_a_round_trip_unchanged(resource: dict[str, Any]) -> None:
    assert read_xml(write_xml(resource)) == resource
    assert read_xml(write_xml(resource, pretty=True)) == resource


def test_elements_are_written_in_the_order_of_the_structure_definition() -> None:
    plan = builders.care_plan(
        "p1", id="cp1", meta={"versionId": "1"}, note=[{"text": "ok"}], identifier=[builders.contract_identifier("k1")]
    )
    backwards = dict(reversed(list(plan.items())))
    root = etree.fromstring(write_xml(backwards))
    names = [etree.QName(child).localname for child in root]
    assert names == ["id", "meta", "identifier", "status", "intent", "title", "subject", "note"]


def test_a_hand_written_document_reads_as_the_json_form() -> None:
    """Written by hand from the rules of R4 xml.html, not by :func:`write_xml`."""
    document = b"""<?xml version="1.0" encoding="UTF-8"?>
<CarePlan xmlns="http://hl7.org/fhir">
  <!-- comments are not content -->
  <id value="cp1"/>
  <text>
    <status value="generated"/>
    <div xmlns="http://www.w3.org/1999/xhtml"><p>Kontrakt <b>1</b></p></div>
  </text>
  <contained>
    <Goal>
      <id value="g1"/>
      <lifecycleStatus value="active"/>
      <description><text value="G\xc3\xa5 till aff\xc3\xa4ren"/></description>
      <subject><reference value="Patient/p1"/></subject>
      <target><detailQuantity><value value="0.010"/></detailQuantity></target>
    </Goal>
  </contained>
  <extension url="http://example.se/kontrakt"><valueInteger value="3"/></extension>
  <status id="s1" value="active">
    <extension url="http://example.se/why"><valueString value="avtalat"/></extension>
  </status>
  <intent value="plan"/>
  <subject id="ref1"><reference value="Patient/p1"/></subject>
  <activity><detail><status value="scheduled"/><doNotPerform value="false"/></detail></activity>
  <instantiatesUri value="http://example.se/a"/>
  <instantiatesUri id="u2">
    <extension url="http://example.se/absent"><valueCode value="unknown"/></extension>
  </instantiatesUri>
</CarePlan>"""
    assert read_xml(document) == {
        "resourceType": "CarePlan",
        "id": "cp1",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Kontrakt <b>1</b></p></div>',
        },
        "contained": [
            {
                "resourceType": "Goal",
                "id": "g1",
                "lifecycleStatus": "active",
                "description": {"text": "Gå till affären"},
                "subject": {"reference": "Patient/p1"},
                "target": [{"detailQuantity": {"value": Decimal("0.010")}}],
            }
        ],
        "extension": [{"url": "http://example.se/kontrakt", "valueInteger": 3}],
        "status": "active",
        "_status": {"id": "s1", "extension": [{"url": "http://example.se/why", "valueString": "avtalat"}]},
        "intent": "plan",
        "subject": {"id": "ref1", "reference": "Patient/p1"},
        "activity": [{"detail": {"status": "scheduled", "doNotPerform": False}}],
        "instantiatesUri": ["http://example.se/a", None],
        "_instantiatesUri": [
            None,
            {"id": "u2", "extension": [{"url": "http://example.se/absent", "valueCode": "unknown"}]},
        ],
    }
    value = read_xml(document)["contained"][0]["target"][0]["detailQuantity"]["value"]
    assert str(value) == "0.010"  # kept exactly


def test_the_narrative_is_xhtml_and_nested_resources_are_wrapped_in_their_type() -> None:
    plan = _ours()[6]
    root = etree.fromstring(write_xml(plan))
    assert root.find("f:text/h:div/h:p", NS).text == "Kontrakt & mål"
    assert root.find("f:contained/f:Goal/f:id", NS).get("value") == "g1"
    bundle = etree.fromstring(write_xml(_ours()[-1]))
    assert bundle.find("f:entry/f:resource/f:CarePlan/f:status", NS).get("value") == "active"


def test_ids_and_extension_urls_are_attributes_and_primitives_carry_value_attributes() -> None:
    patient = _ours()[0]
    root = etree.fromstring(write_xml(patient))
    given = root.findall("f:name/f:given", NS)
    assert [g.get("value") for g in given] == ["Tolvan", "Karl"]
    assert given[1].get("id") == "g2"
    assert given[1].find("f:extension", NS).get("url") == "http://example.se/x"
    assert given[1].find("f:extension/f:valueBoolean", NS).get("value") == "true"
