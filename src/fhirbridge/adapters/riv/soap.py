"""SOAP 1.1 envelopes as the national platform sends and expects them (RIVTABP21).

Requests are parsed without DTDs, entities or network access (a hostile envelope cannot read
files or make the server fetch anything).  The ``LogicalAddress`` header names the source
system's address that the platform routed the call to.  Faults are SOAP 1.1 faults with a
plain message of our own: never a stack trace, nor the XML parser's words (which quote the
request back and name the library).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ADDRESSING = "urn:riv:itintegration:registry:1"
log = logging.getLogger(__name__)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class SoapFault(Exception):
    """A request that gets a SOAP fault: ``client`` faults are the caller's, others the server's."""

    def __init__(self, message: str, *, client: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.client = client


def parse_request(body: bytes) -> tuple[str | None, etree._Element]:
    """The ``LogicalAddress`` (if any) and the one element in the SOAP Body."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise SoapFault("The request is not well-formed XML: send one SOAP 1.1 Envelope in UTF-8") from None
    if root.getroottree().docinfo.doctype:
        raise SoapFault("A SOAP request must not carry a document type declaration")
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SoapFault(f"The request is not a SOAP 1.1 Envelope (an Envelope element in the namespace {SOAP})")
    address = root.findtext(f"{{{SOAP}}}Header/{{{ADDRESSING}}}LogicalAddress")
    body_element = root.find(f"{{{SOAP}}}Body")
    children = [child for child in body_element if isinstance(child.tag, str)] if body_element is not None else []
    if len(children) != 1:
        raise SoapFault("The SOAP Body must hold exactly one request element")
    return (address.strip() if address else None), children[0]


def envelope(payload: etree._Element, logical_address: str | None = None) -> bytes:
    """A SOAP 1.1 Envelope around ``payload``."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    if logical_address:
        etree.SubElement(header, f"{{{ADDRESSING}}}LogicalAddress", nsmap={"add": ADDRESSING}).text = logical_address
    etree.SubElement(root, f"{{{SOAP}}}Body").append(payload)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def fault(error: SoapFault) -> bytes:
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    element = etree.SubElement(body, f"{{{SOAP}}}Fault")
    etree.SubElement(element, "faultcode").text = "soap:Client" if error.client else "soap:Server"
    etree.SubElement(element, "faultstring").text = error.message
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


async def read_request(request: Request, limit: int, expected: str) -> tuple[str | None, etree._Element]:
    """The LogicalAddress and request element of an HTTP request, which must be ``expected``
    (a Clark name, ``{namespace}GetCarePlans``); a SoapFault otherwise."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise SoapFault("The request is too large")
    chunks, size = [], 0
    async for chunk in request.stream():  # stop reading as soon as the limit is passed
        size += len(chunk)
        if size > limit:
            raise SoapFault("The request is too large")
        chunks.append(chunk)
    body = b"".join(chunks)
    address, element = parse_request(body)
    if element.tag != expected:
        raise SoapFault(f"This address answers {expected}, not {element.tag}")
    return address, element


def xml_response(content: bytes, status: int = 200) -> Response:
    return Response(content, status_code=status, media_type="text/xml; charset=utf-8")


def soap_endpoint(answer: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that answers SoapFaults as faults, and anything unexpected as a server fault
    (logged with its stack trace here, never sent): a SOAP client always gets SOAP."""

    async def endpoint(request: Request) -> Response:
        try:
            return await answer(request)
        except SoapFault as error:
            return xml_response(fault(error), 500)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("RIV-TA request failed (incident %s)", incident)
            return xml_response(fault(SoapFault(f"Internal error (incident {incident})", client=False)), 500)

    return endpoint
