"""The endpoint rule as a table: which URLs a Subscription may make the server call, and why not.

Nothing here connects anywhere: the rule judges URLs (names are judged by their addresses when
a delivery connects, tests/notifications/test_egress.py and test_delivery.py).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fhirbridge.config import Settings
from fhirbridge.notifications.endpoints import EndpointPolicy, endpoint_refusal
from fhirbridge.notifications.hosts import allowed_host

STRICT = EndpointPolicy()  # outside development mode, nothing allow-listed
DEVELOPMENT = EndpointPolicy(https_only=False)


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [
        ("https://127.0.0.1/hook", "a loopback address"),
        ("https://127.200.0.9:8443/hook", "a loopback address"),
        ("https://[::1]/hook", "a loopback address"),
        ("https://localhost:8080/hook", "a loopback name"),
        ("https://LocalHost./hook", "a loopback name"),
        ("https://journal.localhost/hook", "a loopback name"),
        ("https://0.0.0.0/hook", "an unspecified address"),
        ("https://0.1.2.3/hook", "an unspecified address"),
        ("https://[::]/hook", "an unspecified address"),
        ("https://10.12.0.5/hook", "a private address (RFC 1918)"),
        ("https://172.16.0.1/hook", "a private address (RFC 1918)"),
        ("https://172.31.255.254/hook", "a private address (RFC 1918)"),
        ("https://192.168.1.20/hook", "a private address (RFC 1918)"),
        ("https://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("https://[fe80::1]/hook", "a link-local address"),
        ("https://[fe80::1%25eth0]/hook", "a link-local address"),
        ("https://[fd00:ec2::254]/hook", "a unique-local address"),
        ("https://[fc00::1]/hook", "a unique-local address"),
        ("https://[fec0::1]/hook", "a site-local address"),
        ("https://100.64.0.1/hook", "a shared address (carrier-grade NAT, RFC 6598)"),
        ("https://224.0.0.251/hook", "a multicast address"),
        ("https://[ff02::1]/hook", "a multicast address"),
        ("https://240.0.0.1/hook", "a reserved or special-purpose address"),
        ("https://255.255.255.255/hook", "a reserved or special-purpose address"),
        ("https://192.0.0.1/hook", "a reserved or special-purpose address"),
        ("https://198.18.0.1/hook", "a reserved or special-purpose address"),
        ("https://[64:ff9b:1::a00:1]/hook", "a local-use NAT64 address"),
        # IPv4 inside IPv6 goes where the IPv4 address goes
        ("https://[::ffff:127.0.0.1]/hook", "an IPv6 form of 127.0.0.1, a loopback address"),
        ("https://[::ffff:169.254.169.254]/hook", "an IPv6 form of 169.254.169.254, a link-local address"),
        ("https://[::ffff:10.0.0.1]/hook", "an IPv6 form of 10.0.0.1, a private address (RFC 1918)"),
        ("https://[2002:a9fe:a9fe::]/hook", "an IPv6 form of 169.254.169.254, a link-local address"),
        ("https://[64:ff9b::c0a8:101]/hook", "an IPv6 form of 192.168.1.1, a private address (RFC 1918)"),
        # the spellings the resolver reads as IPv4
        ("https://2130706433/hook", "a loopback address"),
        ("https://0x7f.1/hook", "a loopback address"),
        ("https://127.1/hook", "a loopback address"),
        ("https://0xa9fea9fe/hook", "a link-local address"),
    ],
)
def test_an_address_that_is_not_public_is_refused(endpoint: str, kind: str) -> None:
    for policy in (STRICT, DEVELOPMENT):
        refusal = endpoint_refusal(endpoint, policy)
        assert refusal is not None and f" is {kind}; " in refusal


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://journal.region.se/notify",
        "https://journal.region.se:8443/fhir",
        "https://8.8.8.8/hook",
        "https://172.32.0.1/hook",  # just past 172.16.0.0/12
        "https://[2001:4860:4860::8888]/hook",
        "https://[::ffff:8.8.8.8]/hook",
        "https://[64:ff9b::808:808]/hook",  # NAT64 (DNS64 networks) of a public address
        "https://127.0.0.1.nip.io/hook",  # a name: judged by its addresses when delivering
    ],
)
def test_a_public_https_endpoint_is_allowed(endpoint: str) -> None:
    assert endpoint_refusal(endpoint, STRICT) is None


@pytest.mark.parametrize(
    ("endpoint", "refusal"),
    [
        ("http://journal.region.se/notify", "A rest-hook endpoint is an https: URL (http: only in development mode)"),
        ("ftp://journal.region.se/notify", "A rest-hook endpoint is an http: or https: URL"),
        ("file:///etc/passwd", "A rest-hook endpoint is an http: or https: URL"),
        ("gopher://127.0.0.1:6379/_INFO", "A rest-hook endpoint is an http: or https: URL"),
        ("journal.region.se/notify", "A rest-hook endpoint is an http: or https: URL"),
        ("https:///notify", "A rest-hook endpoint is an http: or https: URL"),
        ("http://[::1/x", "A rest-hook endpoint is an http: or https: URL"),
        (
            "https://admin:hemligt@journal.region.se/notify",
            "A rest-hook endpoint has no user name or password; send credentials in channel.header",
        ),
        (
            "https://journal.region.se@169.254.169.254/",
            "A rest-hook endpoint has no user name or password; send credentials in channel.header",
        ),
    ],
)
def test_outside_development_mode_only_https_without_credentials(endpoint: str, refusal: str) -> None:
    assert endpoint_refusal(endpoint, STRICT) == refusal


def test_development_mode_allows_http_but_not_internal_addresses() -> None:
    assert endpoint_refusal("http://journal.region.se/notify", DEVELOPMENT) is None
    assert endpoint_refusal("http://127.0.0.1:8080/notify", DEVELOPMENT) is not None
    assert endpoint_refusal("ftp://journal.region.se/notify", DEVELOPMENT) is not None


def test_the_allow_list_lifts_the_address_rule_for_its_hosts_only() -> None:
    entries = ["127.0.0.1", "[::1]:8443", "Engine.Region.Internal.", "10.20.30.40:443"]
    policy = EndpointPolicy(https_only=False, allowed_hosts=frozenset(allowed_host(e) for e in entries))
    allowed = [
        "http://127.0.0.1:9999/hook",
        "http://[::1]:8443/hook",
        "http://engine.region.internal/hook",
        "https://engine.region.internal./hook",
        "https://10.20.30.40/hook",  # the default port of https
    ]
    refused = [
        "http://127.0.0.2/hook",
        "http://[::1]:8444/hook",  # another port than the entry's
        "http://[::ffff:127.0.0.1]/hook",  # the same place, but not the allow-listed host
        "http://10.20.30.40/hook",  # port 80, the entry says 443
        "http://10.20.30.41/hook",
    ]
    assert [e for e in allowed if endpoint_refusal(e, policy) is not None] == []
    assert [e for e in refused if endpoint_refusal(e, policy) is None] == []


def test_the_allow_list_does_not_lift_https_or_the_credentials_rule() -> None:
    policy = EndpointPolicy(https_only=True, allowed_hosts=frozenset({allowed_host("10.20.30.40")}))
    assert endpoint_refusal("https://10.20.30.40/hook", policy) is None
    assert endpoint_refusal("http://10.20.30.40/hook", policy) == (
        "A rest-hook endpoint is an https: URL (http: only in development mode)"
    )
    assert endpoint_refusal("https://u:p@10.20.30.40/hook", policy) is not None


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ("127.0.0.1", ("127.0.0.1", None)),
        ("::1", ("::1", None)),
        ("[::1]", ("::1", None)),
        ("[::1]:8443", ("::1", 8443)),
        ("engine.region.internal:443", ("engine.region.internal", 443)),
        ("Engine.Region.Internal.", ("engine.region.internal", None)),
        ("räksmörgås.se", ("xn--rksmrgs-5wao1o.se", None)),
    ],
)
def test_an_allow_list_entry_is_a_host_and_maybe_a_port(entry: str, key: tuple[str, int | None]) -> None:
    assert allowed_host(entry) == key


@pytest.mark.parametrize("entry", ["https://engine.region.internal", "engine/hook", "u@engine", "engine:port", ""])
def test_an_allow_list_entry_that_is_not_a_host_stops_the_service_at_start(entry: str) -> None:
    with pytest.raises(ValidationError, match="an allowed host is host or host:port"):
        Settings(subscription_allowed_hosts=[entry])


def test_the_allow_list_setting_is_comma_separated_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS", "engine.region.internal, [::1]:8443")
    assert Settings().subscription_allowed_hosts == ["engine.region.internal", "[::1]:8443"]
    monkeypatch.setenv("FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS", '["127.0.0.1:8080"]')
    assert Settings().subscription_allowed_hosts == ["127.0.0.1:8080"]
    monkeypatch.setenv("FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS", "[::1]")
    assert EndpointPolicy.from_settings(Settings()).allowed_hosts == {("::1", None)}
