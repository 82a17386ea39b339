"""The files ``fhirbridge load`` reads, streamed: memory stays bounded by the largest resource,
not the file (R4 ndjson.html: one resource a line; bundle.html: a Bundle's ``entry``).

Each file is scanned once before anything in it is loaded: the scan counts its resources (the
progress bar's total) and, for a JSON file, finds whether it is well-formed, so that a Bundle
that is not valid JSON is refused whole, as before streaming, rather than loaded up to the
fault.  An NDJSON line stands alone: a line that is not a resource is refused by its line
number and the others load.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ijson

from fhirbridge.fhir.jsonio import loads
from fhirbridge.loading import NotAResource, SourcedResource

NDJSON_SUFFIXES = (".ndjson", ".jsonl")
SUFFIXES = (".json", *NDJSON_SUFFIXES)


@dataclass(frozen=True)
class ResourceFile:
    """A scanned file: how many resources it holds, whether it is a Bundle, and why it cannot be
    read at all (not valid JSON), if it cannot."""

    path: Path
    count: int
    bundle: bool = False
    unreadable: str | None = None


def scan(path: Path) -> ResourceFile:
    """Count ``path``'s resources without holding them (an NDJSON file's non-blank lines, a
    Bundle's entries) and check that a JSON file is well-formed."""
    if path.suffix in NDJSON_SUFFIXES:
        with path.open("rb") as handle:
            return ResourceFile(path, sum(1 for line in handle if line.strip()))
    resource_type: object = None
    entries = 0
    top_level = False
    try:
        with path.open("rb") as handle:
            for prefix, event, value in ijson.parse(handle):
                if prefix == "" and event == "start_map":
                    top_level = True
                elif prefix == "resourceType" and event == "string":
                    resource_type = value
                elif prefix == "entry.item" and event == "start_map":
                    entries += 1
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        return ResourceFile(path, 1, unreadable=f"{path} is not valid JSON: {exc}")
    if top_level and resource_type == "Bundle":
        return ResourceFile(path, entries, bundle=True)
    return ResourceFile(path, 1)


def read_resources(file: ResourceFile) -> Iterator[SourcedResource]:
    """The resources of a scanned file, one at a time, each with where it came from
    (``file:line`` or ``file#entry[n]``)."""
    path = file.path
    if file.unreadable is not None:
        yield SourcedResource(str(path), NotAResource(file.unreadable))
    elif path.suffix in NDJSON_SUFFIXES:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield SourcedResource(f"{path}:{number}", _parse(line, f"{path}:{number}"))
    elif file.bundle:
        with path.open("rb") as handle:
            for index, entry in enumerate(ijson.items(handle, "entry.item")):
                resource = entry.get("resource") if isinstance(entry, dict) else None
                found = NotAResource("the entry has no resource") if resource is None else resource
                yield SourcedResource(f"{path}#entry[{index}]", found)
    else:  # one resource: read whole
        yield SourcedResource(str(path), _parse(path.read_bytes(), str(path)))


def _parse(text: bytes, origin: str) -> object:
    try:
        return loads(text)
    except ValueError as exc:
        return NotAResource(f"{origin} is not valid JSON: {exc}")


def files_under(names: list[str]) -> tuple[list[Path], list[str]]:
    """The files named, a folder's ``.json``/``.ndjson``/``.jsonl`` files in name order; and the
    names that do not exist."""
    found: list[Path] = []
    missing: list[str] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            missing.append(name)
    return found, missing
