"""The overview as an HTML page that works on a phone, reads well with a screen reader and
prints well on paper (many patients in municipal care keep a paper folder at home).

Plain semantic HTML (``lang="sv"``, one ``h1``, a ``main``, sections with headings, lists,
``tel:`` links), one small stylesheet with large type and high contrast (WCAG 2.1 AA) and print
rules.  Every text is escaped.  Headings and phrases come from ``mappings/overview.json``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fhirbridge.adapters.overview.model import Contact, ContractOverview, Overview

STYLE = """
:root { color: #1a1a1a; background: #ffffff; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin: 0 auto; max-width: 42rem; padding: 1rem; font-size: 1.125rem; line-height: 1.55; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.3rem; margin: 1.75rem 0 0.5rem; border-bottom: 2px solid #1d5c8c; padding-bottom: 0.2rem; }
h3 { font-size: 1.1rem; margin: 1rem 0 0.25rem; }
ul { padding-left: 1.25rem; }
li { margin: 0.25rem 0; }
a { color: #0b4f82; text-decoration: underline; }
a:focus { outline: 3px solid #1d5c8c; outline-offset: 2px; }
.contact { border: 1px solid #5b6770; border-radius: 0.4rem; padding: 0.75rem; margin: 0.5rem 0; }
.meta { color: #3d4750; font-size: 1rem; }
@media print {
  body { max-width: none; font-size: 12pt; }
  a { color: #000000; text-decoration: none; }
  section { break-inside: avoid; }
  .contact { border-color: #000000; }
}
"""


def render(overview: Overview, texts: dict[str, str]) -> str:
    title = texts["title"].format(name=overview.patient_name)
    body = [f"<h1>{escape(title)}</h1>"]
    if not overview.contracts:
        body.append(f"<p>{escape(texts['noContract'])}</p>")
    for number, contract in enumerate(overview.contracts, 1):
        body.append(_contract(contract, texts, number, several=len(overview.contracts) > 1))
    return _document(title, "".join(body))


def error_page(status: int, texts: dict[str, str]) -> str:
    """A plain page that says, in Swedish, why the overview cannot be shown."""
    title = texts["errorTitle"]
    message = texts.get(f"error{status}", texts["error"])
    return _document(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _contract(contract: ContractOverview, texts: dict[str, str], number: int, *, several: bool) -> str:
    parts = [f"<h2>{escape(contract.title)}</h2>"] if several else []
    level = "h3" if several else "h2"

    def section(key: str, content: str) -> None:
        if content:
            anchor = f"{key}-{number}"  # unique on a page with several contracts
            heading = f'<{level} id="{anchor}">{escape(texts[key])}</{level}>'
            parts.append(f'<section aria-labelledby="{anchor}">{heading}{content}</section>')

    section("whatMatters", _items([g.text for g in contract.what_matters]))
    next_items = [f"{t.when}: {t.what}" if t.when else t.what for t in contract.next_times]
    section("nextTime", _items(next_items))
    mine = _items(contract.my_part + contract.self_care)
    if contract.when_to_seek_care:
        mine += f"<p><strong>{escape(texts['whenToSeekCare'])}</strong></p>" + _items(contract.when_to_seek_care)
    section("myPart", mine)
    section("careDoes", _items(contract.care_does))
    people = "".join(_person(c, texts["fixedCareContact"]) for c in contract.fixed_care_contact)
    people += "".join(_person(c, texts["fixedDoctor"]) for c in contract.fixed_doctor)
    if contract.whom_to_contact or contract.channels:
        people += _items(contract.whom_to_contact)
    if contract.channels:
        people += f"<p>{escape(texts['channels'])}: {escape(', '.join(dict.fromkeys(contract.channels)))}</p>"
    if contract.other_contacts:
        people += f"<p><strong>{escape(texts['otherContacts'])}</strong></p>" + "".join(
            _person(c, c.role) for c in contract.other_contacts
        )
    section("contacts", people)
    plans = [
        f"{p.title} ({p.kind})" + (f", {texts['heldBy']} {p.held_by}" if p.held_by else "")
        for p in contract.other_plans
    ]
    section("otherPlans", _items(plans))
    if contract.last_revised:
        who = f" {texts['by']} {contract.revised_by}" if contract.revised_by else ""
        section("revised", f'<p class="meta">{escape(contract.last_revised + who)}</p>')
    return "".join(parts)


def _items(items: list[str]) -> str:
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _person(contact: Contact, label: str) -> str:
    lines = [f"<p><strong>{escape(label)}:</strong> {escape(contact.name)}</p>"]
    if contact.unit:
        lines.append(f"<p>{escape(contact.unit)}</p>")
    for phone in contact.phones:
        digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
        lines.append(f'<p>Telefon: <a href="tel:{escape(digits)}">{escape(phone)}</a></p>')
    for hours in contact.hours:
        lines.append(f"<p>{escape(hours)}</p>")
    return f'<div class="contact">{"".join(lines)}</div>'


def as_json(overview: Overview) -> dict[str, Any]:
    return overview.to_json()
