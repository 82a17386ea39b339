"""FHIR XML (R4 xml.html), converted to and from the JSON form the rest of the service uses.

:func:`~fhirbridge.fhir.xml.reader.read_xml` parses an untrusted XML resource into the same
dictionary the JSON parser gives (so one write path serves both); :func:`~fhirbridge.fhir.xml.writer.write_xml`
writes a JSON resource as XML.  Both follow the official R4 StructureDefinitions
(``fhirbridge.fhir.r4core``): element order, primitive types, and where a resource is nested.
"""

from __future__ import annotations

from fhirbridge.fhir.xml.reader import read_xml
from fhirbridge.fhir.xml.writer import write_xml

__all__ = ["read_xml", "write_xml"]
