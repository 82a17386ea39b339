"""A contract's WSDL at ``[address]?wsdl`` and its schemas at ``[address]?xsd=path``.

The WSDL's ``soap:address`` becomes the address the client called, and every
``schemaLocation`` (in the WSDL and in the schemas) points back at this endpoint's ``?xsd=``,
so a client tool (SoapUI, wsimport) can fetch the whole contract from the service itself.  Only
files inside the contract's own schema folder are served.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from fhirbridge.adapters.adapter import Adapter, Endpoint
from fhirbridge.adapters.riv.soap import xml_response

SCHEMAS = Path(__file__).resolve().parent / "schemas"
XS = "{http://www.w3.org/2001/XMLSchema}"
WSDL_SOAP = "{http://schemas.xmlsoap.org/wsdl/soap/}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def wsdl_endpoint(contract: str, wsdl: str) -> Endpoint:
    """The GET endpoint of a contract (``GetCarePlans-2.0``) whose WSDL is ``wsdl`` (relative)."""
    root = SCHEMAS / contract

    async def endpoint(request: Request) -> Response:
        here = str(request.url.replace(query=""))
        wanted = request.query_params.get("xsd")
        if wanted is None:
            if "wsdl" not in request.query_params:
                return Response(
                    "GET this address with ?wsdl for the contract", status_code=404, media_type="text/plain"
                )
            return xml_response(_rewritten(root, wsdl, here, address=True))
        target = posixpath.normpath(wanted)
        if target.startswith(("..", "/")) or not target.endswith(".xsd") or not (root / target).is_file():
            return Response("No such schema in this contract", status_code=404, media_type="text/plain")
        return xml_response(_rewritten(root, target, here, address=False))

    return endpoint


def _rewritten(root: Path, relative: str, here: str, *, address: bool) -> bytes:
    document = etree.parse(str(root / relative), _PARSER)
    folder = posixpath.dirname(relative)
    for element in document.iter(f"{XS}import", f"{XS}include"):
        location = element.get("schemaLocation")
        if location:
            element.set("schemaLocation", f"{here}?xsd={posixpath.normpath(posixpath.join(folder, location))}")
    if address:
        for element in document.iter(f"{WSDL_SOAP}address"):
            element.set("location", here)
    return bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8"))


def rivta_adapter(name: str, path: str, endpoint: Endpoint, contract: str, wsdl: str, *, reads: str) -> Adapter:
    """A RIV-TA producer: the SOAP endpoint (POST) and its WSDL and schemas (GET) at ``path``;
    ``contract`` is its folder under ``schemas/`` and ``wsdl`` the WSDL's path in it; ``reads``
    the resource type whose read scope a caller needs."""
    return Adapter(
        name=name,
        mapping="npo",
        routes=(("POST", path, endpoint),),
        reads=reads,
        documents=(("GET", path, wsdl_endpoint(contract, wsdl)),),
    )
