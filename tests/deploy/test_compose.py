"""compose.yaml (the worked PostgreSQL deployment) against the Compose Specification's own JSON
schema, and against what the service needs: two instances without their own notification
delivery, one ``fhirbridge worker``, PostgreSQL healthy before the instances start, readiness on
``/readyz``, and the proxy's address among the instances' trusted proxies.

No Docker engine runs here, so the file is checked, not started.  The schema is the one
check-jsonschema (a dev dependency) ships unmodified from the compose-spec project
(``schema/compose-spec.json``, Apache-2.0, its licence beside it in the package).
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fhirbridge.config import Settings
from fhirbridge.rest.forwarded import TrustedProxies

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]


def _schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema: dict[str, Any] = json.loads(vendored.read_text(encoding="utf-8"))
    return schema


def _errors(document: dict[str, Any]) -> list[str]:
    schema = _schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _instances() -> dict[str, Any]:
    """The services that serve the FHIR API: the image's own command."""
    return {name: s for name, s in SERVICES.items() if s.get("build") and "command" not in s}


def test_compose_yaml_follows_the_compose_specification() -> None:
    assert _schema()["title"] == "Compose Specification"
    assert _errors(COMPOSE) == []


def test_the_schema_check_can_fail() -> None:
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["app1"]["depends_on"]["db"]["condition"] = "when-it-feels-like-it"
    broken["services"]["worker"]["restart_policy"] = "always"
    assert len(_errors(broken)) >= 2


def test_two_instances_and_one_worker_deliver_each_notification_once() -> None:
    instances = _instances()
    assert len(instances) == 2
    for service in instances.values():
        assert service["environment"]["FHIRBRIDGE_OUTBOX_WORKER"] == "off"
    workers = [s for s in SERVICES.values() if s.get("command") == ["fhirbridge", "worker"]]
    assert len(workers) == 1


def test_everything_waits_for_a_healthy_postgresql() -> None:
    database = SERVICES["db"]
    assert database["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(database["healthcheck"]["test"])
    for name, service in SERVICES.items():
        if service.get("build"):
            assert service["depends_on"]["db"]["condition"] == "service_healthy", name
            url = service["environment"]["FHIRBRIDGE_DATABASE_URL"]
            assert url.startswith("postgresql://") and "@db:5432/" in url, name


def test_instances_are_ready_on_readyz_and_the_proxy_waits_for_them() -> None:
    for name, service in _instances().items():
        assert "/readyz" in " ".join(service["healthcheck"]["test"]), name
        assert SERVICES["proxy"]["depends_on"][name]["condition"] == "service_healthy"
    upstream = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert sorted(re.findall(r"server (\w+):8080", upstream)) == sorted(_instances())


def test_the_instances_trust_the_proxy_and_only_it() -> None:
    address = SERVICES["proxy"]["networks"]["backend"]["ipv4_address"]
    for service in _instances().values():
        trusted = TrustedProxies(service["environment"]["FHIRBRIDGE_TRUSTED_PROXIES"].split(","))
        assert trusted.trusts(address)
        assert not trusted.trusts("172.30.0.11")  # another container on the network
    assert "X-Forwarded-For $remote_addr" in (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if s.get("build")))
def test_every_setting_named_exists(name: str) -> None:
    """A misspelt FHIRBRIDGE_ variable would be ignored silently by the service."""
    known = {f"FHIRBRIDGE_{field.upper()}" for field in Settings.model_fields}
    named = {key for key in SERVICES[name]["environment"] if key.startswith("FHIRBRIDGE_")}
    assert named and named <= known
