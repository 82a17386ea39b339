"""Convert every resource of the official FHIR R4 core package JSON -> XML -> JSON and count
the ones that come back unchanged (R4 xml.html); the measurement behind fhirbridge's own
converter (docs/xml.md).

Run ``python scripts/xml_round_trip.py [--package hl7.fhir.r4.core.tgz]`` (the package is
downloaded with pip, as ``generate_fhir_definitions.py`` does, when it is not given).
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_fhir_definitions import fetch_core_tgz

from fhirbridge.errors import FhirError
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.xml import read_xml, write_xml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="hl7.fhir.r4.core.tgz (downloaded when absent)")
    args = parser.parse_args()
    tgz = args.package.read_bytes() if args.package else fetch_core_tgz()
    same, failures = 0, Counter[str]()
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as package:
        for member in package.getmembers():
            handle = package.extractfile(member) if member.name.endswith(".json") else None
            if handle is None or member.name.count("/") != 1 or "/." in member.name:
                continue
            resource = loads(handle.read())
            if not isinstance(resource, dict) or "resourceType" not in resource:
                continue
            try:
                back = read_xml(write_xml(resource))
            except (ValueError, FhirError) as problem:
                failures[f"{member.name}: {problem}"] += 1
                continue
            if back == resource:
                same += 1
            else:
                failures[f"{member.name}: differs"] += 1
    print(f"{same} resources unchanged, {sum(failures.values())} not")
    for failure in sorted(failures)[:20]:
        print(" ", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
