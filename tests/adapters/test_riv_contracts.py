"""What every RIV-TA endpoint does the same way: the WSDL at ?wsdl, the schemas it imports, and
the LogicalAddress header (RIVTABP21)."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from fhirbridge.adapters.npo import get_care_managers, get_care_plans
from fhirbridge.adapters.riv.soap import SOAP

XS = "{http://www.w3.org/2001/XMLSchema}"
CONTRACTS = [get_care_plans.PATH, get_care_managers.PATH]


@pytest.mark.parametrize("path", CONTRACTS)
async def test_the_wsdl_and_every_schema_it_names_come_from_the_service(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, params={"wsdl": ""})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    wsdl = etree.fromstring(response.content)
    address = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == f"http://fhirbridge.test{path}"
    pending = [e.get("schemaLocation") for e in wsdl.iter(f"{XS}import")]
    fetched: set[str] = set()
    while pending:  # follow every import, as a client tool would
        location = pending.pop()
        if location in fetched:
            continue
        fetched.add(location)
        assert location.startswith(f"http://fhirbridge.test{path}?xsd=")
        schema = await client.get(location)
        assert schema.status_code == 200, location
        pending += [e.get("schemaLocation") for e in etree.fromstring(schema.content).iter(f"{XS}import")]
    assert len(fetched) >= 3


@pytest.mark.parametrize("wanted", ["../../../../config.py", "/etc/passwd", "interactions/nope.xsd"])
async def test_only_the_contracts_own_schemas_are_served(client: httpx.AsyncClient, wanted: str) -> None:
    assert (await client.get(get_care_plans.PATH, params={"xsd": wanted})).status_code == 404


def _envelope(address: str | None) -> bytes:
    header = f"<soap:Header><add:LogicalAddress>{address}</add:LogicalAddress></soap:Header>" if address else ""
    return f"""<soap:Envelope xmlns:soap="{SOAP}" xmlns:add="urn:riv:itintegration:registry:1"
        xmlns:r="{get_care_plans.RESPONDER}" xmlns:c="{get_care_plans.CORE}">{header}
      <soap:Body><r:GetCarePlans><r:patientId><c:id>191212121212</c:id><c:type>1.2.752.129.2.1.3.1</c:type>
      </r:patientId></r:GetCarePlans></soap:Body></soap:Envelope>""".encode()


@pytest.mark.parametrize(("address", "reason"), [(None, "LogicalAddress"), ("SE0000000000-ANNAN", "does not answer")])
async def test_a_request_for_another_logical_address_is_a_fault(
    client: httpx.AsyncClient, address: str | None, reason: str
) -> None:
    response = await client.post(get_care_plans.PATH, content=_envelope(address))
    assert response.status_code == 500
    assert reason in etree.fromstring(response.content).findtext(f".//{{{SOAP}}}Fault/faultstring")


async def test_this_systems_logical_address_is_answered(client: httpx.AsyncClient) -> None:
    response = await client.post(get_care_plans.PATH, content=_envelope("SE2321000198-FHIRBRIDGE"))
    assert response.status_code == 200


LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"""
MALFORMED = {
    "not XML": (b"inte xml alls", "not well-formed"),
    "empty": (b"", "not well-formed"),
    "cut short": (_envelope("SE2321000198-FHIRBRIDGE")[:120], "not well-formed"),
    "tags that do not match": (b"<soap:Envelope xmlns:soap='x'><a></b></soap:Envelope>", "not well-formed"),
    "invalid UTF-8": (b'<?xml version="1.0" encoding="UTF-8"?><a>\xff\xfe</a>', "not well-formed"),
    "an undeclared prefix": (b"<soap:Envelope><soap:Body/></soap:Envelope>", "not well-formed"),
    "an external entity": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        "document type",
    ),
    "entity expansion": (LAUGHS, "document type"),
    "another namespace": (_envelope(None).replace(SOAP.encode(), b"http://www.w3.org/2003/05/soap-envelope"), SOAP),
}
PARSER_WORDS = ("line", "column", "libxml", "lxml", "tag", "entity", "expected", "xmlparse", "etc/passwd")


@pytest.mark.parametrize("path", CONTRACTS)
async def test_a_fault_never_carries_the_parsers_words(client: httpx.AsyncClient, path: str) -> None:
    for name, (body, reason) in MALFORMED.items():
        response = await client.post(path, content=body, headers={"Content-Type": "text/xml; charset=utf-8"})
        assert response.status_code == 500, name
        fault = etree.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
        assert fault is not None and fault.findtext("faultcode") == "soap:Client", name
        text = fault.findtext("faultstring")
        assert reason in text, f"{name}: {text}"
        assert not [word for word in PARSER_WORDS if word in text.lower()], f"{name}: {text}"
