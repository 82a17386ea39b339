"""The patient's next visit, shown once: when, what, where (or by video), and which unit to call
to change or cancel it (pure).

The visit is the earliest Appointment still ahead (``proposed``, ``pending``, ``booked``,
``arrived``, ``checked-in`` or ``waitlist``) among those linked to the contract; the agreed
``nasta-kontakt`` activity at the same moment (or pointing at it in ``activity.reference``) is
the same visit and fills in what the Appointment lacks.  Without an Appointment, the visit is
the ``nasta-kontakt`` activity scheduled soonest ahead.  Other ``nasta-kontakt`` activities
still ahead or without a time are the next steps.

Where: the Appointment's participant Location (its name and address when the Location was
read, else the reference's display: this server stores no Location, so a Reference with
``type`` Location and a display is the usual form), else the activity's ``location``.

By video (R4 Appointment has no ``virtualService``): a contact-channel ``video`` code in the
Appointment's ``appointmentType`` or ``serviceType``, the contact-channel extension ``video`` on
the activity (the demo data has both), or a participant Location whose ``physicalType`` is
``vi`` (virtual).  The unit: the organization of the Appointment's
PractitionerRole (or its Organization participant), else that of the activity's performer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.contract.codes import ACTIVITY_KIND_SYSTEM, CONTACT_CHANNEL_SYSTEM, CONTACT_CHANNELS
from fhirbridge.contract.people import display_name
from fhirbridge.search.dates import first_instant
from fhirbridge.sweden.identifiers import HSA_SYSTEM

Resources = dict[str, dict[str, Any]]
AHEAD = frozenset({"proposed", "pending", "booked", "arrived", "checked-in", "waitlist"})
DONE = frozenset({"completed", "cancelled", "stopped", "entered-in-error"})
VIRTUAL = ("http://terminology.hl7.org/CodeSystem/location-physical-type", "vi")


@dataclass
class Visit:
    start: str | None
    end: str | None
    what: str
    place: str | None
    video: bool
    unit: str | None
    unit_hsa_id: str | None
    unit_phone: str | None


def next_visit(
    plan: dict[str, Any], appointments: list[dict[str, Any]], resolved: Resources, now_us: int
) -> tuple[Visit | None, list[str]]:
    """The next visit and the next steps (the other agreed next contacts' descriptions)."""
    details = [
        detail
        for activity in plan.get("activity", [])
        if _is_next_contact(detail := {**(activity.get("detail") or {}), "_ref": activity.get("reference")})
        and detail.get("status") not in DONE
    ]
    upcoming = sorted(
        (a for a in appointments if a.get("status") in AHEAD and _ahead(a.get("end") or a.get("start"), now_us)),
        key=lambda a: first_instant(a.get("start")) or 0,
    )
    visit: Visit | None = None
    used: dict[str, Any] | None = None
    if upcoming:
        appointment = upcoming[0]
        used = next((d for d in details if _same_visit(d, appointment)), None)
        visit = _from_appointment(appointment, used or {}, resolved)
    else:
        timed = sorted(
            (d for d in details if _ahead(_scheduled(d), now_us)), key=lambda d: first_instant(_scheduled(d)) or 0
        )
        if timed:
            used = timed[0]
            visit = _from_activity(used, resolved)
    steps = [
        str(d["description"])
        for d in details
        if d is not used and d.get("description") and (_scheduled(d) is None or _ahead(_scheduled(d), now_us))
    ]
    return visit, steps


def channels_of(detail: dict[str, Any]) -> list[str]:
    """The contact-channel codes on an activity detail's extensions."""
    found = []
    for extension in detail.get("extension", []):
        coding = extension.get("valueCoding") or {}
        if coding.get("system") == CONTACT_CHANNEL_SYSTEM and coding.get("code") in CONTACT_CHANNELS:
            found.append(str(coding["code"]))
    return found


def _is_next_contact(detail: dict[str, Any]) -> bool:
    codings = (detail.get("code") or {}).get("coding", [])
    return any(c.get("system") == ACTIVITY_KIND_SYSTEM and c.get("code") == "nasta-kontakt" for c in codings)


def _scheduled(detail: dict[str, Any]) -> str | None:
    start = (detail.get("scheduledPeriod") or {}).get("start") or detail.get("scheduledString")
    return start if isinstance(start, str) and first_instant(start) is not None else None


def _ahead(value: object, now_us: int) -> bool:
    moment = first_instant(value)
    return moment is not None and moment >= now_us


def _same_visit(detail: dict[str, Any], appointment: dict[str, Any]) -> bool:
    reference = str((detail.get("_ref") or {}).get("reference") or "")
    if reference.split("/_history")[0] == f"Appointment/{appointment.get('id')}":
        return True
    start = first_instant(_scheduled(detail))
    return start is not None and start == first_instant(appointment.get("start"))


def _from_appointment(appointment: dict[str, Any], detail: dict[str, Any], resolved: Resources) -> Visit:
    actors = [p.get("actor") or {} for p in appointment.get("participant", [])]
    locations = [
        a for a in actors if str(a.get("reference") or "").startswith("Location/") or a.get("type") == "Location"
    ]
    place = next((p for p in (_place(a, resolved) for a in locations) if p), None)
    codes = [
        c
        for concept in [appointment.get("appointmentType") or {}, *appointment.get("serviceType", [])]
        for c in concept.get("coding", [])
    ]
    video = (
        any(c.get("system") == CONTACT_CHANNEL_SYSTEM and c.get("code") == "video" for c in codes)
        or "video" in channels_of(detail)
        or any(_virtual(resolved.get(str(a.get("reference")))) for a in locations)
    )
    workers = [a for a in actors if str(a.get("reference") or "").startswith(("PractitionerRole/", "Organization/"))]
    unit = next((u for u in (_unit(a, resolved) for a in workers) if u), None)
    fallback = _from_activity(detail, resolved) if detail else None
    what = appointment.get("description") or (appointment.get("serviceType") or [{}])[0].get("text")
    return Visit(
        start=appointment.get("start"),
        end=appointment.get("end"),
        what=str(what or (fallback.what if fallback else "")),
        place=None if video else place or (fallback.place if fallback else None),
        video=video,
        unit=(unit or {}).get("name") or (fallback.unit if fallback else None),
        unit_hsa_id=hsa_id_of(unit) or (fallback.unit_hsa_id if fallback else None),
        unit_phone=_phone(unit) or (fallback.unit_phone if fallback else None),
    )


def _from_activity(detail: dict[str, Any], resolved: Resources) -> Visit:
    video = "video" in channels_of(detail)
    unit = next((u for u in (_unit(p, resolved) for p in detail.get("performer", [])) if u), None)
    return Visit(
        start=_scheduled(detail),
        end=(detail.get("scheduledPeriod") or {}).get("end"),
        what=str(detail.get("description") or ""),
        place=None if video else _place(detail.get("location") or {}, resolved),
        video=video,
        unit=(unit or {}).get("name"),
        unit_hsa_id=hsa_id_of(unit),
        unit_phone=_phone(unit),
    )


def _place(reference: dict[str, Any], resolved: Resources) -> str | None:
    """A Location's name and address (``Vårdcentralen Norrtull, Norra Kungsgatan 1, Gävle``), else
    the reference's display."""
    location = resolved.get(str(reference.get("reference")).split("/_history")[0])
    if location is None:
        display = reference.get("display")
        return str(display) if isinstance(display, str) and display else None
    address = location.get("address") or {}
    parts = [location.get("name"), *address.get("line", []), address.get("city")]
    return ", ".join(str(p) for p in parts if p) or None


def _virtual(location: dict[str, Any] | None) -> bool:
    codings = ((location or {}).get("physicalType") or {}).get("coding", [])
    return any((c.get("system"), c.get("code")) == VIRTUAL for c in codings)


def _unit(reference: dict[str, Any], resolved: Resources) -> dict[str, Any] | None:
    """The Organization a PractitionerRole works for, or the Organization itself."""
    found = resolved.get(str(reference.get("reference")).split("/_history")[0])
    if found is not None and found.get("resourceType") == "PractitionerRole":
        found = resolved.get(str((found.get("organization") or {}).get("reference")))
    if found is None or found.get("resourceType") != "Organization":
        return None
    return {**found, "name": display_name(found)}


def hsa_id_of(unit: dict[str, Any] | None) -> str | None:
    """An Organization's HSA-id."""
    for identifier in (unit or {}).get("identifier", []):
        if identifier.get("system") == HSA_SYSTEM and identifier.get("value"):
            return str(identifier["value"])
    return None


def _phone(unit: dict[str, Any] | None) -> str | None:
    phones = [t.get("value") for t in (unit or {}).get("telecom", []) if t.get("system") == "phone" and t.get("value")]
    return str(phones[0]) if phones else None
