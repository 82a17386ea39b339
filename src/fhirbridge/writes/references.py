"""One rule for every reference that can name a patient (R4 references.html#Reference,
compartmentdefinition-patient.html).

The access policy, the fixed-contact rule and the search index learn whom a resource is about
from literal references (``Patient/123``).  A patient named any other way (by identifier, by an
absolute URL, by a contained resource, by a display text) would leave the resource outside its
patient's compartment: readable by others, writable by a patient about someone else, and out of
reach of the contract rules.  So the write path (:meth:`UnitOfWork.create` and ``update``, also
inside transactions, after ``urn:uuid`` and conditional references are rewritten) normalises
every resource here before the policy, the rules and the store see it:

1. A reference to this server by an absolute URL under any of its base URLs becomes relative,
   wherever it stands; on a patient or network link a versioned one names the resource
   (``Patient/1/_history/2`` becomes ``Patient/1``), except a Provenance's targets.
2. On a *patient link* (:mod:`fhirbridge.patients.link_elements`):

   - a logical reference (``identifier``, no ``reference``) that may name a Patient is resolved
     to the one Patient carrying that identifier whom the writer may reach: the literal
     reference is added and the identifier kept.  None, or several: 422;
   - a literal reference with an identifier must name the same resource: 422 if not;
   - an absolute URL to another server, a ``urn:`` that names no entry of the transaction, or a
     display text typed Patient (or on the element that says whom the resource is about): 422.

3. On a *network link* (care team members, authors, units) a logical reference is resolved
   the same way among the types it may name; several matches are 422, none leaves it logical
   (it then gives nobody a care relation).
4. A contained Patient is refused: no policy can tell whose it is.
5. A patient link may not name a Group (a CarePlan or Goal of a cohort, a Group of Groups),
   however written (relative, absolute, by identifier, contained): a resource here
   is about its patients, and one about a Group would be about nobody the policy could judge
   (readable by all), while the Group itself is for services only.
   A Provenance may still have a Group as its target.

A logical reference to a Patient the writer may not reach is answered exactly like one that
names nobody, so that a write cannot tell whether a person has a record here.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from fhirbridge.conformance.validator import hold_to_profiles
from fhirbridge.errors import Issue, error, invalid
from fhirbridge.fhir.references import ParsedReference, parse_reference
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.patients.link_elements import (
    DIRECTORY_SYSTEMS,
    PATIENT_IDENTITY_SYSTEMS,
    SUBJECT_LINKS,
    is_network_link,
    patient_link_paths,
)
from fhirbridge.validation.json_form import FoundReference, ReferenceSite
from fhirbridge.validation.pipeline import ValidatedResource

DIRECTORY_TYPES = ("Practitioner", "PractitionerRole", "Organization")
"""What an HSA-id names."""
VERSIONED_LINKS = frozenset({"Provenance.target"})
"""Patient links that name a version on purpose (what a Provenance is the history of)."""
PERSON_TYPES = ("Patient", "Practitioner", "RelatedPerson")
"""What a personnummer may name."""


class ReferenceResolver(Protocol):
    """What normalisation needs from the write transaction."""

    @property
    def bases(self) -> tuple[str, ...]:
        """This server's base URLs (``https://host/fhir``), without trailing slashes."""

    async def carrying(self, resource_type: str, system: str | None, value: str) -> list[str]:
        """Ids of live resources of a type holding the identifier, as the transaction sees them."""

    async def may_name(self, patient_id: str) -> bool:
        """Whether the writer may write about this patient."""

    async def has_version(self, reference: str) -> bool:
        """Whether a local versioned reference (``Type/id/_history/v``) names a stored version."""

    async def may_refer(self, resource_type: str, resource_id: str) -> bool:
        """Whether the resource exists for the writer (another patient's does not)."""


def is_patient_link(element: str) -> bool:
    return element in patient_link_paths(element.split(".", 1)[0])


def local_form(text: str, bases: tuple[str, ...]) -> str | None:
    """``Type/id[/_history/v]`` for an absolute URL under one of ``bases``; None otherwise."""
    parsed = parse_reference(text)
    if parsed is None or parsed.kind != "absolute" or parsed.base is None or parsed.resource_type is None:
        return None
    if _same_base(parsed.base) not in {_same_base(base) for base in bases}:
        return None
    local = f"{parsed.resource_type}/{parsed.resource_id}"
    return local + (f"/_history/{parsed.version}" if parsed.version else "")


def unversioned_form(text: str) -> str | None:
    """``Type/id`` for a local ``Type/id/_history/v``; None for anything else.  Whom a resource
    is about, and who is in its care network, is a resource, not one of its versions: a merge
    moves it, a block names it, and the care relation is read from it."""
    parsed = parse_reference(text)
    if parsed is None or parsed.kind != "local" or parsed.version is None:
        return None
    return f"{parsed.resource_type}/{parsed.resource_id}"


def _same_base(url: str) -> str:
    scheme, _, rest = url.rstrip("/").partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def node_at(resource: dict[str, Any], path: str) -> Any:
    """The value at a FHIRPath of plain steps and indices (``CarePlan.activity[0].detail``)."""
    node: Any = resource
    for step in path.split(".")[1:]:
        name, _, index = step.partition("[")
        node = node.get(name) if isinstance(node, dict) else None
        if index:
            position = int(index.rstrip("]"))
            node = node[position] if isinstance(node, list) and position < len(node) else None
        if node is None:
            return None
    return node


async def normalise_references(validated: ValidatedResource, resolver: ReferenceResolver) -> ValidatedResource:
    """The resource with its references normalised (see the module's docstring); raises a 422
    naming every element it refuses."""
    resource = validated.resource
    if not validated.sites and "contained" not in resource:
        return validated
    issues = _contained_patients(validated.resource_type, resource)
    changes: dict[str, str] = {}
    for site in validated.sites:
        node = node_at(resource, site.path)
        if not isinstance(node, dict):
            continue
        text = node.get("reference")
        if isinstance(text, str):
            local = local_form(text, resolver.bases)
            if local is not None:
                changes[site.path] = text = local
        patient_link = is_patient_link(site.element)
        if not patient_link and not is_network_link(site.element):
            continue
        judged = _Site(site, node, patient_link, resolver)
        if isinstance(text, str):
            issue = await judged.literal(text)
            whole = unversioned_form(text) if site.element not in VERSIONED_LINKS else None
            if whole is not None:
                changes[site.path] = whole
                resource_type, _, resource_id = whole.partition("/")
                # Only what the writer may reach has versions to count; the rest is refused as a whole.
                known = await judged.may_refer_to(resource_type, resource_id)
                if issue is None and known and not await resolver.has_version(text):
                    issue = error("not-found", f"{text} does not exist on this server", f"{site.path}.reference")
        else:
            issue, resolved = await judged.logical()
            if resolved is not None:
                changes[site.path] = resolved
        if issue is None and patient_link and site.element not in VERSIONED_LINKS:
            issue = _names_a_group(node, changes.get(site.path) or text, site.path, resource)
        if issue is not None:
            issues.append(issue)
    if issues:
        raise invalid(issues, status=422)
    if not changes:
        return validated
    return _with_changes(validated, changes)


def _names_a_group(node: dict[str, Any], text: Any, path: str, resource: dict[str, Any]) -> Issue | None:
    """Rule 5: a 422 for a patient link that names a Group: of this server or another, by
    identifier, or contained."""
    parsed = parse_reference(text) if isinstance(text, str) else None
    named: str | None
    if parsed is None:
        named = None
    elif parsed.kind == "contained":  # what the contained resource is, whatever the reference says
        named = _contained_type(resource, parsed.text)
    else:  # a Group of another server (absolute) too: a cohort is nobody the policy can judge
        named = parsed.resource_type
    if node.get("type") == "Group" and isinstance(node.get("identifier"), dict):  # one the writer may not resolve
        where = f"{path}.type"
    elif named == "Group":
        where = f"{path}.reference"
    else:
        return None
    return error("invalid", "A Group cannot stand for its patients here; name each patient as Patient/[id]", where)


def _contained_type(resource: dict[str, Any], text: str) -> str | None:
    """The resourceType of the contained resource ``#id`` names (None when there is none)."""
    contained = resource.get("contained")
    for item in contained if isinstance(contained, list) else []:
        if isinstance(item, dict) and f"#{item.get('id')}" == text and isinstance(item.get("resourceType"), str):
            return str(item["resourceType"])
    return None


class _Site:
    """One Reference element on a patient or network link, judged."""

    def __init__(self, site: ReferenceSite, node: dict[str, Any], patient_link: bool, resolver: ReferenceResolver):
        self.site = site
        self.node = node
        self.patient_link = patient_link
        self.resolver = resolver
        declared = node.get("type")
        self.declared = declared if isinstance(declared, str) else None
        identifier = node.get("identifier")
        self.identifier = identifier if isinstance(identifier, dict) else None

    @property
    def where(self) -> str:
        return self.site.path

    async def literal(self, text: str) -> Issue | None:
        parsed = parse_reference(text)
        if parsed is None:
            return None  # the JSON form check has said so already
        if parsed.kind == "contained":
            return None  # a contained Patient is refused as such; other contained resources name nobody here
        if parsed.kind == "local":
            return await self._agrees(parsed)
        if not self.patient_link or (self.declared not in (None, "Patient")):
            return None
        if parsed.kind == "urn":
            return error(
                "not-found",
                f"{text} names no entry of this transaction; a patient must be a Patient on this server",
                f"{self.where}.reference",
            )
        if parsed.resource_type in (None, "Patient"):
            return error(
                "invalid",
                f"{text} is not a Patient on this server. Refer to the patient as Patient/[id], or by "
                "personnummer in Reference.identifier",
                f"{self.where}.reference",
            )
        return None

    async def _agrees(self, parsed: ParsedReference) -> Issue | None:
        """A literal reference with an identifier: both must name the same resource."""
        if self.identifier is None or parsed.resource_type not in STORED_TYPES or parsed.resource_id is None:
            return None
        value = self.identifier.get("value")
        if not isinstance(value, str):
            return None
        if not await self.may_refer_to(parsed.resource_type, parsed.resource_id):
            return None  # the access policy refuses it; saying more would tell whose identifier it is
        system = self.identifier.get("system")
        found = await self.resolver.carrying(parsed.resource_type, system if isinstance(system, str) else None, value)
        if parsed.resource_id in found:
            return None
        return error(
            "invalid",
            f"Reference.identifier does not belong to {parsed.resource_type}/{parsed.resource_id}: the reference and "
            "the identifier must name the same resource",
            f"{self.where}.identifier",
        )

    async def may_refer_to(self, resource_type: str, resource_id: str) -> bool:
        if resource_type == "Patient":
            return await self.resolver.may_name(resource_id)
        return await self.resolver.may_refer(resource_type, resource_id)

    async def logical(self) -> tuple[Issue | None, str | None]:
        """A reference without ``reference``: resolved (the literal to add), refused, or left."""
        value = self.identifier.get("value") if self.identifier is not None else None
        if not isinstance(value, str):
            named_patient = self.declared == "Patient" or (self.declared is None and self.site.element in SUBJECT_LINKS)
            if self.patient_link and named_patient:
                return (
                    error(
                        "invalid",
                        "A patient must be named by a reference to a Patient on this server (Patient/[id]) or by "
                        "identifier (personnummer, samordningsnummer or reserve number), not by a display text",
                        self.where,
                    ),
                    None,
                )
            return None, None
        assert self.identifier is not None
        raw_system = self.identifier.get("system")
        system = raw_system if isinstance(raw_system, str) else None
        if system in PATIENT_IDENTITY_SYSTEMS and self.declared not in (None, *PERSON_TYPES):
            return (
                error(
                    "invalid",
                    f"{system} identifies a person: Reference.type must be Patient, not {self.declared}",
                    f"{self.where}.type",
                ),
                None,
            )
        types = self._candidate_types(system)
        matches: list[str] = []
        for resource_type in types:
            for resource_id in await self.resolver.carrying(resource_type, system, value):
                if not await self.may_refer_to(resource_type, resource_id):
                    continue  # what the writer may not reach does not carry it, as far as they can tell
                matches.append(f"{resource_type}/{resource_id}")
        shown = f"{system}|{value}" if system else value
        if len(matches) > 1:
            return error("multiple-matches", f"Several resources carry the identifier {shown}", self.where), None
        if matches:
            return None, matches[0]
        if self.patient_link and "Patient" in types:
            return (
                error(
                    "not-found",
                    f"No Patient that you may write about carries the identifier {shown}. Register the patient "
                    "first, or refer to them as Patient/[id]",
                    f"{self.where}.identifier",
                ),
                None,
            )
        return None, None

    def _candidate_types(self, system: str | None) -> tuple[str, ...]:
        """The stored types a logical reference may name: its declared type, what its
        identifier system identifies, or else every type the element allows."""
        if self.declared is not None:
            return (self.declared,) if self.declared in STORED_TYPES else ()
        if system in PATIENT_IDENTITY_SYSTEMS:
            return ("Patient",)
        allowed = self.site.targets or STORED_TYPES
        if system in DIRECTORY_SYSTEMS:
            return tuple(t for t in DIRECTORY_TYPES if t in allowed)
        return tuple(t for t in STORED_TYPES if t in allowed and t != "Provenance")


def _contained_patients(resource_type: str, resource: dict[str, Any]) -> list[Issue]:
    contained = resource.get("contained")
    return [
        error(
            "invalid",
            "A Patient cannot be contained: no one could tell whose data the resource is. Store the Patient and "
            "refer to it as Patient/[id]",
            f"{resource_type}.contained[{index}]",
        )
        for index, item in enumerate(contained if isinstance(contained, list) else [])
        if isinstance(item, dict) and item.get("resourceType") == "Patient"
    ]


def _with_changes(validated: ValidatedResource, changes: dict[str, str]) -> ValidatedResource:
    """A copy with the new references written in; the profiles are checked again, since a
    reference that now names a Patient may meet a ``targetProfile``."""
    resource = copy.deepcopy(validated.resource)
    for path, reference in changes.items():
        node = node_at(resource, path)
        node["reference"] = reference
    by_path = {found.path: found for found in validated.references}
    for site in validated.sites:
        if site.path in changes:
            parsed = parse_reference(changes[site.path])
            assert parsed is not None
            by_path[site.path] = FoundReference(site.path, parsed, site.targets)
    hold_to_profiles(resource)
    return ValidatedResource(validated.resource_type, resource, tuple(by_path.values()), validated.sites)
