"""Parsing untrusted XML safely (R4 security.html: hostile input).

No DTD is loaded and none is allowed: the prolog is read first (with expat, up to the root
element) and a document with a DOCTYPE is refused before lxml parses anything, so no entity can
be declared, expanded (billion laughs) or fetched (XXE).  lxml then parses without entity
resolution or network access, with its own limits on depth and text size (no ``huge_tree``).
"""

from __future__ import annotations

from typing import NoReturn
from xml.parsers import expat

from lxml import etree

from fhirbridge.errors import FhirError, bad_request
from fhirbridge.fhir.xml.structure import XHTML_NS


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


class _RootReached(Exception):
    """The prolog is over: the root element starts."""


def _refuse_dtd(*_: object) -> NoReturn:
    raise bad_request("The body declares a DTD (<!DOCTYPE>); DTDs and entities are not allowed", code="security")


def _root_reached(*_: object) -> NoReturn:
    raise _RootReached


def _check_prolog(body: bytes, what: str) -> None:
    """Refuse a DOCTYPE; stop reading at the root element."""
    prolog = expat.ParserCreate()
    prolog.StartDoctypeDeclHandler = _refuse_dtd
    prolog.EntityDeclHandler = _refuse_dtd
    prolog.StartElementHandler = _root_reached
    try:
        prolog.Parse(body, True)
    except _RootReached:
        return
    except expat.ExpatError as exc:
        raise bad_request(
            f"{what} is not well-formed XML: {expat.errors.messages[exc.code]}", code="structure"
        ) from None
    except FhirError as error:
        raise bad_request(error.issues[0].diagnostics.replace("The body", what), code="security") from None


def parse_document(body: bytes, what: str = "The body") -> etree._Element:
    """The root element of an XML document; a 400 naming the problem when it is not
    well-formed or declares a DTD or entities."""
    _check_prolog(body, what)
    try:
        tree = etree.fromstring(body, _parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise bad_request(f"{what} is not well-formed XML: {exc.msg}", code="structure") from None
    except ValueError as exc:  # a str with an encoding declaration, say
        raise bad_request(f"{what} is not well-formed XML: {exc}", code="structure") from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise bad_request(f"{what} declares a DTD (<!DOCTYPE>); DTDs and entities are not allowed", code="security")
    root = tree.getroot()
    for node in root.iter(etree.Entity):
        raise bad_request(f"{what} uses the entity {node.text}; entities are not allowed", code="security")
    return root


def parse_xhtml(div: object) -> etree._Element:
    """The Narrative div of the JSON form (a string) as an XHTML element (R4 narrative.html)."""
    if not isinstance(div, str):
        raise ValueError("Narrative.div must be a string")
    try:
        element = parse_document(div.encode(), "Narrative.div")
    except FhirError as error:
        raise ValueError(error.issues[0].diagnostics) from None
    if element.tag == "div":  # no namespace given: XHTML is meant
        element = _in_xhtml(element, None)
    if element.tag != f"{{{XHTML_NS}}}div":
        raise ValueError("Narrative.div must be an XHTML div")
    return element


def _in_xhtml(source: etree._Element, parent: etree._Element | None) -> etree._Element:
    """A copy of an element tree without a namespace, in the XHTML namespace."""
    tag = f"{{{XHTML_NS}}}{etree.QName(source).localname}"
    if parent is None:
        copy = etree.Element(tag, dict(source.attrib), nsmap={None: XHTML_NS})
    else:
        copy = etree.SubElement(parent, tag, dict(source.attrib))
    copy.text, copy.tail = source.text, source.tail
    for child in source:
        if isinstance(child.tag, str):
            _in_xhtml(child, copy)
    return copy
