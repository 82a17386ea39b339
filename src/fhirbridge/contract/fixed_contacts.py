"""Fixed contacts in a CareTeam: who holds which fixed role, and since when (DOMAIN.md; seed 001).

A *fixed care contact* (fast vårdkontakt) or *fixed doctor* (fast läkarkontakt) is a
``CareTeam.participant`` whose ``role`` carries that code of :data:`CARE_ROLE_SYSTEM`.  An
assignment is *active* while its CareTeam is neither ``inactive`` nor ``entered-in-error``
(R4 CareTeam.status) and its ``participant.period`` has not ended.  Ending an assignment is
setting ``period.end``; the reason goes in the participant's ``role`` text or the team's note,
so that it stays in the CareTeam's history.

These functions are pure: they read one CareTeam as JSON and never touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES

FIXED_CARE_CONTACT = "fast-vardkontakt"
FIXED_DOCTOR = "fast-lakarkontakt"
FIXED_ROLES = (FIXED_CARE_CONTACT, FIXED_DOCTOR)
INACTIVE_TEAM_STATUSES = frozenset({"inactive", "entered-in-error"})


@dataclass(frozen=True)
class Assignment:
    """One participant holding one fixed role in one CareTeam."""

    role: str
    member_key: str
    """What identifies the person across teams: the member's reference, else its identifier."""
    member_display: str
    care_team_id: str | None
    participant_index: int
    start: str | None

    def describe(self) -> str:
        where = f" in CareTeam/{self.care_team_id}" if self.care_team_id else ""
        since = f" since {self.start}" if self.start else ""
        return f"{self.member_display}{where}{since}"


def role_name(role: str) -> str:
    return CARE_ROLES[role].lower()


def active_assignments(care_team: dict[str, Any], now_us: int) -> list[Assignment]:
    """The fixed-role assignments of a CareTeam that are in force at ``now_us`` (µs since 1970)."""
    if care_team.get("status") in INACTIVE_TEAM_STATUSES:
        return []
    found = []
    for index, participant in enumerate(care_team.get("participant", [])):
        member = participant.get("member") or {}
        key = _member_key(member)
        if key is None or has_ended(participant.get("period") or {}, now_us):
            continue
        for role in _fixed_roles(participant):
            display = member.get("display") or key
            start = (participant.get("period") or {}).get("start")
            found.append(Assignment(role, key, display, care_team.get("id"), index, start))
    return found


def _fixed_roles(participant: dict[str, Any]) -> list[str]:
    return [
        coding["code"]
        for concept in participant.get("role", [])
        for coding in concept.get("coding", [])
        if coding.get("system") == CARE_ROLE_SYSTEM and coding.get("code") in FIXED_ROLES
    ]


def _member_key(member: dict[str, Any]) -> str | None:
    if isinstance(member.get("reference"), str):
        return str(member["reference"])
    identifier = member.get("identifier") or {}
    if identifier.get("value"):
        return f"{identifier.get('system', '')}|{identifier['value']}"
    return None


def has_ended(period: dict[str, Any], now_us: int) -> bool:
    """Whether ``period.end`` lies before ``now_us``; a date alone counts to the end of that day."""
    end = period.get("end")
    if not isinstance(end, str):
        return False
    if len(end) <= 10:  # a year, year-month or date: the period runs through all of it
        return end < datetime.fromtimestamp(now_us / 1_000_000, UTC).date().isoformat()[: len(end)]
    moment = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return moment.timestamp() * 1_000_000 < now_us
