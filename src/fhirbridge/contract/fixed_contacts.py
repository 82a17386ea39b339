"""Fixed contacts in a CareTeam: who holds which fixed role, and when (DOMAIN.md; seed 001).

A *fixed care contact* (fast vårdkontakt) or *fixed doctor* (fast läkarkontakt) is a
``CareTeam.participant`` whose ``role`` carries that code of :data:`CARE_ROLE_SYSTEM`.  The
assignment holds during its ``participant.period`` (from ``start``, through ``end``; a date
without a time covers the whole day), in a CareTeam that is neither ``inactive`` nor
``entered-in-error`` (R4 CareTeam.status).  Ending an assignment is setting ``period.end``
with the reason in the ``assignment-end-reason`` extension (the contract CareTeam profile asks
for it); a handover is one assignment ending on the day the next starts.  A declined offer is a
participant with the ``offer-declined`` extension: recorded, but never holding the role.

Members are compared by a *member key*: the member's reference, made local (``Type/id``,
without base or version) when it points at this server, else its identifier.  Contained
members (``#id``) exist only inside their team and are not tracked across teams.

These functions are pure: they read one CareTeam as JSON and never touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES, OFFER_DECLINED_EXTENSION
from fhirbridge.fhir.references import parse_reference
from fhirbridge.search.dates import first_instant, first_instant_after

FIXED_CARE_CONTACT = "fast-vardkontakt"
FIXED_DOCTOR = "fast-lakarkontakt"
FIXED_ROLES = (FIXED_CARE_CONTACT, FIXED_DOCTOR)
INACTIVE_TEAM_STATUSES = frozenset({"inactive", "entered-in-error"})


@dataclass(frozen=True)
class Assignment:
    """One participant holding one fixed role in one CareTeam, during ``[begins, ends)`` (µs)."""

    role: str
    member_key: str
    """What identifies the person across teams (see the module's docstring)."""
    member_display: str
    care_team_id: str | None
    participant_index: int
    start: str | None
    end: str | None
    begins: int | None
    ends: int | None

    def describe(self) -> str:
        where = f" in CareTeam/{self.care_team_id}" if self.care_team_id else ""
        since = f" since {self.start}" if self.start else ""
        until = f" until {self.end}" if self.end else ""
        return f"{self.member_display}{where}{since}{until}"

    def in_force(self, now_us: int) -> bool:
        return (self.begins is None or self.begins <= now_us) and (self.ends is None or now_us < self.ends)

    def overlaps(self, other: Assignment) -> bool:
        """Whether both hold the role at some moment; a handover day (one ends on the date the
        other starts, both given as dates) is not an overlap."""
        if _handover(self, other) or _handover(other, self):
            return False
        return (self.begins is None or other.ends is None or self.begins < other.ends) and (
            other.begins is None or self.ends is None or other.begins < self.ends
        )


def role_name(role: str) -> str:
    return CARE_ROLES[role].lower()


def assignments(care_team: dict[str, Any], local_base: str | None = None) -> list[Assignment]:
    """Every fixed-role assignment of a CareTeam that is in force (past, present or future)."""
    if care_team.get("status") in INACTIVE_TEAM_STATUSES:
        return []
    found = []
    for index, participant in enumerate(care_team.get("participant", [])):
        member = participant.get("member") or {}
        key = member_key(member, local_base)
        if key is None or declined(participant):
            continue
        period = participant.get("period") or {}
        start, end = period.get("start"), period.get("end")
        for role in _fixed_roles(participant):
            found.append(
                Assignment(
                    role=role,
                    member_key=key,
                    member_display=member.get("display") or key,
                    care_team_id=care_team.get("id"),
                    participant_index=index,
                    start=start,
                    end=end,
                    begins=first_instant(start),
                    ends=first_instant_after(end),
                )
            )
    return found


def active_assignments(care_team: dict[str, Any], now_us: int, local_base: str | None = None) -> list[Assignment]:
    """The fixed-role assignments of a CareTeam in force at ``now_us`` (µs since 1970)."""
    return [a for a in assignments(care_team, local_base) if a.in_force(now_us)]


def member_key(member: dict[str, Any], local_base: str | None = None) -> str | None:
    """The member's reference made local, or its identifier; None for contained members."""
    reference = member.get("reference")
    if isinstance(reference, str):
        if reference.startswith("#"):
            return None
        parsed = parse_reference(reference, local_base)
        if parsed is not None and parsed.kind == "local" and parsed.resource_type and parsed.resource_id:
            return f"{parsed.resource_type}/{parsed.resource_id}"
        return reference.split("/_history/")[0]
    identifier = member.get("identifier") or {}
    if identifier.get("value"):
        return f"{identifier.get('system', '')}|{identifier['value']}"
    return None


def declined(participant: dict[str, Any]) -> bool:
    """Whether the participant is an offer the patient declined (it never held the role)."""
    return any(
        isinstance(extension, dict) and extension.get("url") == OFFER_DECLINED_EXTENSION
        for extension in participant.get("extension", [])
    )


def has_ended(period: dict[str, Any], now_us: int) -> bool:
    """Whether ``period.end`` lies before ``now_us``; a date alone counts to the end of that day."""
    ends = first_instant_after(period.get("end"))
    return ends is not None and ends <= now_us


def _handover(earlier: Assignment, later: Assignment) -> bool:
    return (
        earlier.end is not None
        and later.start is not None
        and len(earlier.end) == 10
        and len(later.start) == 10
        and _is_date(earlier.end)
        and earlier.end == later.start
    )


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _fixed_roles(participant: dict[str, Any]) -> list[str]:
    return [
        coding["code"]
        for concept in participant.get("role", [])
        for coding in concept.get("coding", [])
        if coding.get("system") == CARE_ROLE_SYSTEM and coding.get("code") in FIXED_ROLES
    ]
