"""Authentication (RFC 6750, RFC 7519): which tokens are refused, and how."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import jwt
import pytest
import respx
from fastapi import FastAPI
from lxml import etree

from fhirbridge.adapters.npo import get_care_managers, get_care_plans
from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.rest.app import create_app
from fhirbridge.rest.smart import AuthenticationSettingsError
from tests.conftest import BASE
from tests.security.tokens import (
    AUDIENCE,
    ISSUER,
    NULL,
    SigningKey,
    bearer,
    ec_key,
    jwks,
    mint,
    rsa_key,
    write_jwks,
)

READER = "system/*.rs"


def refused(response: httpx.Response, why: str | None) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="fhirbridge"')
    assert response.json()["resourceType"] == "OperationOutcome"
    if why is None:
        assert "error=" not in challenge
    else:
        assert 'error="invalid_token"' in challenge and why in challenge, challenge


async def test_no_token_is_a_401_with_a_bearer_challenge(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    refused(await anyone.get("/fhir/Patient"), None)
    refused(await anyone.get("/fhir/Patient", headers={"Authorization": "Basic dXNlcjpwdw=="}), "not a bearer")
    refused(await anyone.get("/fhir/Patient", headers=bearer("not.a.jwt")), "well-formed")
    log = await anyone.get("/fhir/AuditEvent", params={"outcome": "4"}, headers=bearer(mint(rsa, scope="system/*.rs")))
    refusals = [e["resource"] for e in log.json()["entry"]]
    assert len(refusals) == 3 and all(e["outcomeDesc"].startswith("HTTP 401") for e in refusals)


async def test_rs256_and_es256_tokens_from_the_trusted_issuer_are_accepted(
    anyone: httpx.AsyncClient, rsa: SigningKey, ec: SigningKey
) -> None:
    for key in (rsa, ec):
        response = await anyone.get("/fhir/Patient", headers=bearer(mint(key, scope=READER)))
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iss": "https://evil.test/realms/vard"}, "issuer is not trusted"),
        ({"aud": "https://other-server.test/fhir"}, "not meant for this server"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"exp": None}, "no exp claim"),
    ],
)
async def test_wrong_issuer_audience_and_times_are_refused(
    anyone: httpx.AsyncClient, rsa: SigningKey, claims: dict[str, object], why: str
) -> None:
    refused(await anyone.get("/fhir/Patient", headers=bearer(mint(rsa, scope=READER, **claims))), why)


NOT_NUMBERS = {
    "a string": str(int(time.time()) + 300),
    "true": True,
    "null": NULL,
    "a list": [int(time.time()) + 300],
    "an object": {"seconds": int(time.time()) + 300},
    "NaN": float("nan"),
    "infinity": float("inf"),
}


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
async def test_time_claims_that_are_not_numbers_are_refused(
    anyone: httpx.AsyncClient, rsa: SigningKey, claim: str
) -> None:
    for kind, value in NOT_NUMBERS.items():
        response = await anyone.get("/fhir/Patient", headers=bearer(mint(rsa, scope=READER, **{claim: value})))
        assert response.status_code == 401, f"{claim} {kind}: {response.status_code}"
        refused(response, f"the {claim} claim is not a NumericDate")


async def test_fractional_time_claims_are_numbers_too(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    now = time.time()
    token = mint(rsa, scope=READER, iat=now, nbf=now - 0.5, exp=now + 300.25)
    assert (await anyone.get("/fhir/Patient", headers=bearer(token))).status_code == 200


PERSON_CLAIMS = {
    "fhirUser": [
        "Patient/",
        "Device/1",
        "Organization/1",
        "https://other.region.se/fhir/Practitioner/1",
        "Practitioner/a_b",
        "Practitioner/1/_history/2",
        "urn:uuid:6f1c3b9e-2f4e-4a8e-9a51-0c8a3c1f2d7e",
        "#p1",
        "",
        42,
        ["Practitioner/1"],
        NULL,
    ],
    "organization": ["Organization/a b", "Patient/1", "https://other.region.se/fhir/Organization/1", 42, NULL],
    "patient": ["a_b", 42, ["p1"], NULL],
}


@pytest.mark.parametrize("claim", PERSON_CLAIMS)
async def test_a_token_that_says_who_it_is_in_a_form_we_cannot_read_is_refused(
    anyone: httpx.AsyncClient, rsa: SigningKey, claim: str
) -> None:
    # With system scopes: were the claim ignored, the caller would pass as a trusted system.
    for value in PERSON_CLAIMS[claim]:
        token = mint(rsa, scope=f"{READER} user/*.rs patient/*.rs", **{claim: value})
        response = await anyone.get("/fhir/Patient", headers=bearer(token))
        assert response.status_code == 401, f"{claim}={value!r}: {response.status_code}"
        refused(response, f"the {claim} claim is not")


@pytest.mark.parametrize("person", ["Practitioner/karin", f"{AUDIENCE}/Practitioner/karin"])
async def test_a_person_on_this_server_is_a_user_relative_or_absolute(
    anyone: httpx.AsyncClient, rsa: SigningKey, person: str
) -> None:
    token = mint(rsa, scope="user/Practitioner.rs", fhirUser=person, organization="Organization/vc-norrtull")
    assert (await anyone.get("/fhir/Practitioner", headers=bearer(token))).status_code == 200


async def test_the_overview_refuses_a_browser_with_a_page_and_an_app_with_an_outcome(
    anyone: httpx.AsyncClient, rsa: SigningKey
) -> None:
    without_scope = bearer(mint(rsa, scope="system/Patient.rs"))
    for headers, status, words in (({}, 401, "logga in"), (without_scope, 403, "behörighet")):
        page = await anyone.get("/overview/p1", headers={**headers, "Accept": "text/html,*/*;q=0.8"})
        assert page.status_code == status and page.headers["content-type"].startswith("text/html")
        assert '<html lang="sv">' in page.text and words in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["www-authenticate"].startswith("Bearer")
        for asking in ({"Accept": "application/json"}, {"Accept": "application/fhir+json"}, {"_format": "json"}):
            accept, query = ({}, asking) if "_format" in asking else (asking, {})
            answer = await anyone.get("/overview/p1", params=query, headers={**headers, **accept})
            assert answer.status_code == status and "json" in answer.headers["content-type"]
            body = answer.json()
            assert body["resourceType"] == "OperationOutcome", body
            assert body["issue"][0]["code"] == ("login" if status == 401 else "forbidden")
            assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_a_small_clock_skew_is_tolerated(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    token = mint(rsa, scope=READER, exp=int(time.time()) - 20)  # the default leeway is 60 s
    assert (await anyone.get("/fhir/Patient", headers=bearer(token))).status_code == 200


async def test_a_forged_signature_is_refused(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    impostor = rsa_key(kid=rsa.kid)  # same key id, another key
    refused(await anyone.get("/fhir/Patient", headers=bearer(mint(impostor, scope=READER))), "signature")
    genuine = mint(rsa, scope=READER)
    head, body, signature = genuine.split(".")
    tampered_body = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(body).replace(b'"test-client"', b'"evil-client"')
    ).decode()
    refused(await anyone.get("/fhir/Patient", headers=bearer(f"{head}.{tampered_body}.{signature}")), "signature")


async def test_symmetric_and_unsigned_tokens_are_refused(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 300, "scope": READER}
    public_pem = rsa.public_jwk()["n"]  # the classic attack: the public key used as an HMAC secret
    hs256 = jwt.encode(claims, public_pem, algorithm="HS256", headers={"kid": rsa.kid})
    refused(await anyone.get("/fhir/Patient", headers=bearer(hs256)), "not accepted")
    unsigned = jwt.encode(claims, None, algorithm="none")
    refused(await anyone.get("/fhir/Patient", headers=bearer(unsigned)), "not accepted")


async def test_an_unknown_key_id_is_refused(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    refused(
        await anyone.get("/fhir/Patient", headers=bearer(mint(rsa, header_kid="nobody", scope=READER))),
        "no signing key",
    )


@pytest.mark.parametrize(
    ("scope", "method", "path", "status"),
    [
        ("system/Patient.rs", "GET", "/fhir/Patient", 200),
        ("system/Patient.read", "GET", "/fhir/Patient", 200),  # SMART v1
        ("system/Patient.r", "GET", "/fhir/Patient", 403),  # read is not search (v2)
        ("system/CarePlan.rs", "GET", "/fhir/Patient", 403),
        ("system/Patient.rs", "POST", "/fhir/Patient", 403),
        ("system/Patient.c", "POST", "/fhir/Patient", 201),
        ("system/Patient.write", "POST", "/fhir/Patient", 201),  # SMART v1
        ("system/Patient.cruds?identifier=x", "GET", "/fhir/Patient", 403),  # a narrowed scope grants nothing here
        ("user/*.cruds", "GET", "/fhir/Patient", 403),  # user scopes without fhirUser: a system with no system scope
    ],
)
async def test_scopes_are_enforced_per_interaction(
    anyone: httpx.AsyncClient, rsa: SigningKey, scope: str, method: str, path: str, status: int
) -> None:
    body = {"resourceType": "Patient", "name": [{"family": "Scopesson"}]} if method == "POST" else None
    response = await anyone.request(method, path, json=body, headers=bearer(mint(rsa, scope=scope)))
    assert response.status_code == status, response.text
    if status == 403:
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_the_public_documents_need_no_token(anyone: httpx.AsyncClient) -> None:
    statement = await anyone.get("/fhir/metadata")
    assert statement.status_code == 200
    security = statement.json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    smart = await anyone.get("/fhir/.well-known/smart-configuration")
    assert smart.status_code == 200
    configuration = smart.json()
    assert configuration["issuer"] == ISSUER
    assert {"permission-v2", "permission-v1", "context-standalone-patient"} <= set(configuration["capabilities"])
    assert "S256" in configuration["code_challenge_methods_supported"]
    assert (await anyone.get("/fhir/StructureDefinition")).status_code == 200


@pytest.mark.parametrize("path", [get_care_plans.PATH, get_care_managers.PATH])
async def test_the_riv_contracts_are_public_and_their_service_is_not(anyone: httpx.AsyncClient, path: str) -> None:
    wsdl = await anyone.get(path, params={"wsdl": ""})
    assert wsdl.status_code == 200, wsdl.text
    definitions = etree.fromstring(wsdl.content)
    assert definitions.tag == "{http://schemas.xmlsoap.org/wsdl/}definitions"
    schema = next(definitions.iter("{http://www.w3.org/2001/XMLSchema}import")).get("schemaLocation")
    assert (await anyone.get(schema)).status_code == 200, schema
    assert (await anyone.post(path, content=b"<x/>", headers={"Content-Type": "text/xml"})).status_code == 401


async def test_rotated_keys_are_fetched_from_the_jwks_url(database_url: str) -> None:
    old, new = rsa_key("2026-old"), ec_key("2026-new")
    settings = Settings(
        database_url=database_url,
        auto_migrate=False,
        outbox_worker="off",
        rate_limit_per_second=0,
        auth_audience=[AUDIENCE],
        auth_issuers=[TrustedIssuer(issuer=ISSUER, jwks="https://idp.region.test/jwks")],
    )
    app: FastAPI = create_app(settings)
    with respx.mock(assert_all_called=False) as idp:
        keys = idp.get("https://idp.region.test/jwks")
        keys.return_value = httpx.Response(200, json=jwks(old))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http,
        ):
            assert (await http.get("/fhir/Patient", headers=bearer(mint(old, scope=READER)))).status_code == 200
            assert (await http.get("/fhir/Patient", headers=bearer(mint(old, scope=READER)))).status_code == 200
            assert keys.call_count == 1  # cached
            keys.return_value = httpx.Response(200, json=jwks(old, new))  # the issuer rotates
            fetcher = app.state.tokens.key_sets[ISSUER]
            fetcher._fetched_at -= 60  # the refetch guard against made-up key ids has passed
            assert (await http.get("/fhir/Patient", headers=bearer(mint(new, scope=READER)))).status_code == 200
            assert keys.call_count == 2


async def test_authentication_on_without_a_trusted_issuer_or_audience_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(AuthenticationSettingsError, match="FHIRBRIDGE_AUTH_ISSUERS"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    issuers = [TrustedIssuer(issuer=ISSUER, jwks=str(tmp_path / "jwks.json"))]
    with pytest.raises(AuthenticationSettingsError, match="audience"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", auth_issuers=issuers))


async def test_the_audience_never_comes_from_the_host_header(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    token = mint(rsa, scope=READER, aud="http://evil.test/fhir")
    refused(await anyone.get("/fhir/Patient", headers={**bearer(token), "Host": "evil.test"}), "not meant")


async def test_a_key_added_to_the_jwks_file_is_picked_up_by_its_key_id(
    anyone: httpx.AsyncClient, secure_app: FastAPI, jwks_file: Path, rsa: SigningKey, ec: SigningKey
) -> None:
    newcomer = ec_key("added-later")
    assert (await anyone.get("/fhir/Patient", headers=bearer(mint(rsa, scope=READER)))).status_code == 200
    write_jwks(jwks_file, rsa, ec, newcomer)
    secure_app.state.tokens.key_sets[ISSUER]._fetched_at -= 60  # past the guard against made-up key ids
    assert (await anyone.get("/fhir/Patient", headers=bearer(mint(newcomer, scope=READER)))).status_code == 200


async def test_a_token_seen_before_is_refused_once_it_expires(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    """Verified tokens are remembered, but never past their ``exp`` (plus the clock skew)."""
    token = mint(rsa, scope=READER, exp=int(time.time()) - 58)  # within the 60 s skew for two seconds
    assert (await anyone.get("/fhir/Patient", headers=bearer(token))).status_code == 200
    assert (await anyone.get("/fhir/Patient", headers=bearer(token))).status_code == 200  # remembered
    await asyncio.sleep(3)
    refused(await anyone.get("/fhir/Patient", headers=bearer(token)), "expired")


async def test_a_token_seen_before_is_refused_once_its_key_is_removed(
    anyone: httpx.AsyncClient, secure_app: FastAPI, jwks_file: Path, rsa: SigningKey, ec: SigningKey
) -> None:
    """A key the issuer removed verifies nothing, also not a token it verified before."""
    token = mint(rsa, scope=READER)
    assert (await anyone.get("/fhir/Patient", headers=bearer(token))).status_code == 200
    write_jwks(jwks_file, ec)  # the issuer drops the RSA key
    secure_app.state.tokens.key_sets[ISSUER]._fetched_at = float("-inf")  # the key cache's time is up
    refused(await anyone.get("/fhir/Patient", headers=bearer(token)), "no signing key")
    assert (await anyone.get("/fhir/Patient", headers=bearer(mint(ec, scope=READER)))).status_code == 200
