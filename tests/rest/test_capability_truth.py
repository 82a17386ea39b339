"""The CapabilityStatement is valid FHIR and says only what the server does."""

from __future__ import annotations

import httpx

from fhirbridge.validation.pipeline import validate_resource


async def test_capability_statement_is_valid_fhir(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    validate_resource(statement, "CapabilityStatement", url_id=statement["id"], local_base=None)
    assert statement["fhirVersion"] == "4.0.1"
    system = {i["code"] for i in statement["rest"][0]["interaction"]}
    assert system == {"transaction", "batch", "history-system", "search-system"}
    common = {p["name"] for p in statement["rest"][0]["searchParam"]}
    assert common == {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}


async def test_every_listed_search_parameter_and_include_is_accepted_strictly(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    strict = {"Prefer": "handling=strict"}
    samples = {"token": "x", "string": "x", "date": "2026", "reference": "Patient/x", "uri": "http://x"}
    for resource in statement["rest"][0]["resource"]:
        for parameter in resource["searchParam"]:
            response = await client.get(
                f"/fhir/{resource['type']}", params={parameter["name"]: samples[parameter["type"]]}, headers=strict
            )
            assert response.status_code == 200, (resource["type"], parameter["name"], response.text)
        for include in resource.get("searchInclude", [])[:3] + resource.get("searchRevInclude", [])[:3]:
            kind = "_include" if include.startswith(resource["type"] + ":") else "_revinclude"
            response = await client.get(f"/fhir/{resource['type']}", params={kind: include}, headers=strict)
            assert response.status_code == 200, (resource["type"], include, response.text)
