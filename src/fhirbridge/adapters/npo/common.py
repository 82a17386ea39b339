"""What the NPÖ contracts share: RIV-TA time formats, HSA-ids, and finding the patient."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from starlette.requests import Request

from fhirbridge.adapters.adapter import caller
from fhirbridge.adapters.riv.soap import SoapFault
from fhirbridge.fhir.instants import now_us, to_datetime
from fhirbridge.patients.survivors import surviving_patient
from fhirbridge.search.dates import LOCAL_ZONE, first_instant
from fhirbridge.search.query import parse_query
from fhirbridge.sweden.identifiers import HSA_SYSTEM, identifier_problem


class InvalidRequest(Exception):
    """A request the contract answers with its own error (a result, or a SOAP fault)."""


TIMESTAMP = re.compile(r"(19|20)\d\d(0[1-9]|1[012])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]")
DATE = re.compile(r"(19|20)\d\d(0[1-9]|1[012])(0[1-9]|[12][0-9]|3[01])")
"""The RIV-TA patterns: years 1900-2099 only."""


def local_time(value: str | None) -> str:
    """``YYYYMMDDhhmmss`` in Swedish local time (RIV-TA TimeStampType) of the first moment a FHIR
    date or dateTime covers; now when there is none or it cannot be read."""
    first = first_instant(value)
    return to_datetime(now_us() if first is None else first).astimezone(LOCAL_ZONE).strftime("%Y%m%d%H%M%S")


def riv_date(value: str | None) -> str:
    """``YYYYMMDD`` (RIV-TA DateType) from a FHIR date or dateTime; today when there is none."""
    return local_time(value)[:8]


def valid_time(text: str) -> str | None:
    return text if TIMESTAMP.fullmatch(text) else None


def valid_date(text: str) -> str | None:
    return text if DATE.fullmatch(text) else None


def hsa_id(resource: dict[str, Any] | None) -> str | None:
    for identifier in (resource or {}).get("identifier", []):
        if identifier.get("system") == HSA_SYSTEM and identifier.get("value"):
            return str(identifier["value"])
    return None


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def person_system(table: dict[str, Any], oid: str, number: str) -> str:
    """The FHIR identifier system of a RIV-TA person id, after checking the number."""
    if not oid or not number:
        raise InvalidRequest(
            "patientId needs the number and the OID of personnummer, samordningsnummer or national reserve number"
        )
    system = table["fhirPersonSystems"].get(oid)
    if system is None:
        raise InvalidRequest(
            f"Unknown patientId type {oid}: this source system knows {', '.join(sorted(table['fhirPersonSystems']))}"
        )
    problem = identifier_problem(system, number)
    if problem is not None:
        raise InvalidRequest(f"patientId: {problem}")
    return str(system)


async def find_patient(request: Request, system: str, number: str) -> str | None:
    """The id of the patient with this identifier on this server, if any: the Patient that
    stands for the person now, when the one carrying the number was merged into another."""
    ctx = request.app.state.context
    query = parse_query("Patient", [("identifier", f"{system}|{number}")], strict=True, default_count=2, max_count=2)
    page = await ctx.repository.search(caller(request), query, fhir_base(request))
    return await surviving_patient(ctx.repository, page.matches[0].resource_id) if page.matches else None


def fhir_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def check_logical_address(address: str | None, table: dict[str, Any]) -> None:
    """RIVTABP21: every request names the logical address it is for; this source system answers
    only for its own (``logicalAddresses`` in ``mappings/npo.json``)."""
    if not address:
        raise SoapFault("The LogicalAddress header is required (RIVTABP21)")
    if address not in table["logicalAddresses"]:
        raise SoapFault(f"This source system does not answer for logical address {address}")
