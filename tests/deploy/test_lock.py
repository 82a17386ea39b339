"""The lock files (``requirements/runtime.lock`` for the image, ``requirements/dev.lock`` for
``make install`` and CI) against ``pyproject.toml``: a dependency added to pyproject.toml without
``make lock`` fails here, and so does a lock that is not what was installed.

Read offline: no resolver runs (``make lock`` re-resolves, with uv, when a dependency changes).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]+))?"
)


@dataclass(frozen=True)
class Pin:
    version: Version
    marker: str | None
    hashes: int


def read_lock(path: Path) -> dict[str, Pin]:
    """Each pinned package of a pip-style lock: its version, environment marker and hash count."""
    pins: dict[str, Pin] = {}
    name = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        found = _PIN.match(line)
        if found:
            name = canonicalize_name(found["name"])
            marker = found["marker"].strip() if found["marker"] else None
            pins[name] = Pin(Version(found["version"]), marker, 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            pin = pins[name]
            pins[name] = Pin(pin.version, pin.marker, pin.hashes + 1)
    return pins


def declared(extra: str | None) -> list[Requirement]:
    """The requirements pyproject.toml declares (the project's, or one extra's)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    texts = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def unlocked(requirements: list[Requirement], pins: dict[str, Pin]) -> list[str]:
    """The requirements the lock does not pin, or pins at a version outside their range."""
    problems = []
    for requirement in requirements:
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement} but the lock pins {pin.version}")
    return problems


RUNTIME = read_lock(LOCKS / "runtime.lock")
DEV = read_lock(LOCKS / "dev.lock")


def test_the_runtime_lock_pins_every_dependency() -> None:
    assert unlocked(declared(None), RUNTIME) == []


def test_the_dev_lock_pins_every_dependency_and_dev_extra() -> None:
    assert unlocked(declared(None) + declared("dev"), DEV) == []


def test_the_image_runs_what_ci_tested() -> None:
    """The runtime lock is the dev lock's subset at the same versions: the image holds exactly
    what the test suite ran against."""
    assert {name: pin.version for name, pin in RUNTIME.items()} == {
        name: DEV[name].version for name in RUNTIME if name in DEV
    }
    assert set(RUNTIME) <= set(DEV)


@pytest.mark.parametrize("lock", ["runtime", "dev"])
def test_every_pin_is_hashed(lock: str) -> None:
    """``pip install --require-hashes`` refuses a file whose hash the lock does not name."""
    pins = read_lock(LOCKS / f"{lock}.lock")
    assert len(pins) > 20
    assert [name for name, pin in pins.items() if pin.hashes == 0] == []


def test_what_is_installed_is_what_is_locked() -> None:
    """``make install`` (and so CI) installs the dev lock: a package upgraded or downgraded by
    hand shows up here."""
    drift = []
    for name, pin in DEV.items():
        if pin.marker is not None and not Marker(pin.marker).evaluate():
            continue
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            drift.append(f"{name}=={pin.version} is not installed")
            continue
        if installed != pin.version:
            drift.append(f"{name}=={pin.version} is locked, {installed} is installed")
    assert drift == []


def test_a_dependency_missing_from_the_lock_is_caught() -> None:
    """The check itself: a requirement added to pyproject.toml and not locked is named."""
    added = [Requirement("fhirclient>=4.3"), Requirement("a-package-nobody-locked>=1")]
    assert unlocked(added, RUNTIME) == [
        "fhirclient>=4.3 is not in the lock",
        "a-package-nobody-locked>=1 is not in the lock",
    ]
    assert unlocked([Requirement("fastapi<0.1")], RUNTIME) == [
        f"fastapi<0.1 but the lock pins {RUNTIME['fastapi'].version}"
    ]
