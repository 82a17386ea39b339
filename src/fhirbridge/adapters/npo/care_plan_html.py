"""A care plan as a small readable HTML document, for GetCarePlans' ``content`` (text/html).

NPÖ shows the document as it is, so it carries the parts a clinician looks for, in the
patient's own order (seeds 001, 003): what matters (the goals), what the patient does, what
care does, whom to contact and how, the next time, and the plans the contract links (SIP and
others, issue 15.3).  (The care contacts themselves travel
in GetCareManagers.)  Only the goals the patient expressed stand under "what matters to me";
the others (a clinician's "HbA1c under 58") stand apart, with who expressed them when known, so
that no one else's goal reads as the patient's own words (issue 13.4).  Headings come from
``mappings/npo.json``.  Every text is escaped.  Pure: the caller resolves the Goals.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fhirbridge.contract.codes import ACTIVITY_KIND_SYSTEM
from fhirbridge.contract.fixed_contacts import member_key
from fhirbridge.contract.people import Resources, display_name, person_of

KIND_ORDER = ("egen-insats", "egenvard", "nar-soka-vard", "vardens-insats", "kontaktvag", "nasta-kontakt")


def render(
    plan: dict[str, Any],
    goals: list[dict[str, Any]],
    headings: dict[str, str],
    resolved: Resources | None = None,
    linked: list[str] | None = None,
) -> str:
    """The plan as HTML; ``linked``: the contract's linked plans, in words, last."""
    title = escape(str(plan.get("title") or "Vårdplan"))
    parts = [f"<h1>{title}</h1>"]
    start = (plan.get("period") or {}).get("start")
    if start:
        parts.append(f"<p>{escape(headings['period'])} {escape(str(start))}</p>")
    if plan.get("description"):
        parts.append(f"<p>{escape(str(plan['description']))}</p>")
    patient = member_key(plan.get("subject") or {})
    own, others = [], []
    for goal in goals:
        text = str((goal.get("description") or {}).get("text") or "")
        expressed_by = goal.get("expressedBy") or {}
        if not text:
            continue
        if patient is not None and member_key(expressed_by) == patient:
            own.append(text)
        else:
            who = _who(expressed_by, resolved or {})
            others.append(f"{text} ({headings['expressedBy']} {who})" if who else text)
    if own:
        parts.append(_section(headings["whatMatters"], own))
    if others:
        parts.append(_section(headings["otherGoals"], others))
    by_kind: dict[str, list[str]] = {}
    for activity in plan.get("activity", []):
        detail = activity.get("detail") or {}
        kind = next(
            (
                c.get("code")
                for c in (detail.get("code") or {}).get("coding", [])
                if c.get("system") == ACTIVITY_KIND_SYSTEM
            ),
            None,
        )
        if kind in KIND_ORDER and detail.get("description"):
            by_kind.setdefault(str(kind), []).append(str(detail["description"]))
    for kind in KIND_ORDER:
        if kind in by_kind:
            parts.append(_section(headings[kind], by_kind[kind]))
    if linked:
        parts.append(_section(headings["linkedPlans"], linked))
    head = f'<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8"><title>{title}</title></head>'
    return head + "<body>" + "".join(parts) + "</body></html>"


def _who(reference: dict[str, Any], resolved: Resources) -> str | None:
    expresser = resolved.get(str(reference.get("reference")))
    return display_name(person_of(expresser, resolved)) or reference.get("display")


def _section(heading: str, items: list[str]) -> str:
    rows = "".join(f"<li>{escape(item)}</li>" for item in items)
    return f"<h2>{escape(heading)}</h2><ul>{rows}</ul>"
