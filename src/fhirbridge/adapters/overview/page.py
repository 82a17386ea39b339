"""The overview as an HTML page that works on a phone, reads well with a screen reader and
prints well on paper (many patients in municipal care keep a paper folder at home).

Plain semantic HTML (``<html lang>`` the reader's language, one ``h1``, a ``main``, sections
with headings, lists), no scripts, one small stylesheet with large type and high contrast
(WCAG 2.1 AA) and print rules.  Ways to act are links: ``tel:``, 1177 messages, booking,
video and rebooking (addresses from ``mappings/overview.json`` per unit).  The language switch
is a plain link (``?lang=en``).  On a page in another language than Swedish, what the care team
and the patient wrote stays in Swedish, marked ``lang="sv"`` (WCAG 3.1.2).  Every text is escaped.
"""

from __future__ import annotations

from html import escape

from fhirbridge.adapters.overview.model import Answers, Contact, ContractOverview, Goal, Message, Overview, Relative
from fhirbridge.adapters.overview.texts import Texts
from fhirbridge.adapters.overview.visits import Visit

DATA_LANGUAGE = "sv"
"""The language the care team and the patient write the plan in."""
STYLE = """
:root { color: #1a1a1a; background: #ffffff; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin: 0 auto; max-width: 42rem; padding: 1rem; font-size: 1.125rem; line-height: 1.55; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.3rem; margin: 1.75rem 0 0.5rem; border-bottom: 2px solid #1d5c8c; padding-bottom: 0.2rem; }
h3, h4 { font-size: 1.1rem; margin: 1rem 0 0.25rem; }
ul { padding-left: 1.25rem; }
li { margin: 0.25rem 0; }
p, li, dd { overflow-wrap: anywhere; }
a { color: #0b4f82; text-decoration: underline; }
a:focus { outline: 3px solid #1d5c8c; outline-offset: 2px; }
nav { text-align: right; }
.agreement { background: #eef4f9; border-left: 4px solid #1d5c8c; padding: 0.5rem 0.75rem; }
.contact { border: 1px solid #5b6770; border-radius: 0.4rem; padding: 0.75rem; margin: 0.5rem 0; }
.contact p { margin: 0.2rem 0; }
ul.actions { list-style: none; padding: 0; margin: 0.5rem 0 0; }
ul.actions a { display: inline-block; padding: 0.4rem 0.2rem; }
dl.visit { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 0.75rem; margin: 0.5rem 0; }
dl.visit dt { font-weight: bold; }
dl.visit dd { margin: 0; }
.note { color: #3d4750; font-size: 1rem; }
dl.answers dt { margin-top: 0.5rem; }
dl.answers dd { margin: 0; font-weight: bold; }
@media print {
  body { max-width: none; font-size: 12pt; }
  nav { display: none; }
  a { color: #000000; text-decoration: none; }
  a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 10pt; }
  section { break-inside: avoid; }
  .contact { border-color: #000000; break-inside: avoid; }
  .agreement { background: none; border-left-color: #000000; }
}
"""


def render(overview: Overview, texts: Texts) -> str:
    title = texts("title", name=overview.patient_name)
    body = [f"<h1>{escape(title)}</h1>"]
    if texts.language != DATA_LANGUAGE and texts("swedishText"):
        body.append(f'<p class="note">{escape(texts("swedishText"))}</p>')
    if not overview.contracts:
        body.append(f"<p>{escape(texts('noContract'))}</p>")
    for number, contract in enumerate(overview.contracts, 1):
        body.append(_contract(contract, texts, number, several=len(overview.contracts) > 1))
    if overview.answers is not None and overview.answers.answers:
        body.append(_answers(overview.answers, texts))
    return _document(title, "".join(body), texts)


def error_page(status: int, texts: Texts) -> str:
    """A plain page that says, in the reader's language, why the overview cannot be shown."""
    title = texts("errorTitle")
    key = f"error{status}" if f"error{status}" in texts.table["texts"] else "error"
    return _document(title, f"<h1>{escape(title)}</h1><p>{escape(texts(key))}</p>", texts)


def _document(title: str, body: str, texts: Texts) -> str:
    switch = "".join(
        f'<a href="?lang={code}" hreflang="{code}" lang="{code}">{escape(words)}</a>'
        for code, words in texts.other_languages()
    )
    return (
        f'<!DOCTYPE html><html lang="{escape(texts.language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><nav aria-label="{escape(texts("languageNav"))}">{switch}</nav><main>{body}</main></body></html>'
    )


class _Writer:
    """Writes one contract's sections, headings one level below the contract's."""

    def __init__(self, texts: Texts, number: int, level: int) -> None:
        self.texts, self.number, self.level = texts, number, level
        self.parts: list[str] = []

    def data(self, text: str) -> str:
        """What the care team or patient wrote: in Swedish, marked so on another language's page."""
        if self.texts.language == DATA_LANGUAGE:
            return escape(text)
        return f'<span lang="{DATA_LANGUAGE}">{escape(text)}</span>'

    def items(self, texts: list[str]) -> str:
        return "<ul>" + "".join(f"<li>{self.data(t)}</li>" for t in texts) + "</ul>" if texts else ""

    def heading(self, words: str, offset: int = 0, anchor: str | None = None) -> str:
        tag = f"h{self.level + offset}"
        identifier = f' id="{anchor}"' if anchor else ""
        return f"<{tag}{identifier}>{escape(words)}</{tag}>"

    def section(self, key: str, content: str) -> None:
        if content:
            anchor = f"{key}-{self.number}"  # unique on a page with several contracts
            heading = self.heading(self.texts(key), anchor=anchor)
            self.parts.append(f'<section aria-labelledby="{anchor}">{heading}{content}</section>')


def _contract(contract: ContractOverview, texts: Texts, number: int, *, several: bool) -> str:
    out = _Writer(texts, number, 3 if several else 2)
    if several:
        out.parts.append(f"<h2>{out.data(contract.title)}</h2>")
    out.parts.append(_agreement(contract, texts))
    out.section("awaiting", _messages(contract.awaiting, out))
    out.section("whatMatters", _goals(contract.what_matters, out))
    out.section("careGoals", _goals(contract.care_goals, out))
    next_time = _visit(contract.next_visit, texts) if contract.next_visit else ""
    if contract.next_steps:
        next_time += f"<p><strong>{escape(texts('nextSteps'))}</strong></p>" + out.items(contract.next_steps)
    out.section("nextTime", next_time)
    mine = out.items(contract.my_part + contract.self_care)
    if contract.when_to_seek_care:
        mine += out.heading(texts("whenToSeekCare"), 1) + out.items(contract.when_to_seek_care)
    out.section("myPart", mine)
    out.section("careDoes", out.items(contract.care_does))
    people = "".join(_person(c, texts("fixedCareContact"), texts) for c in contract.fixed_care_contact)
    people += "".join(_person(c, texts("fixedDoctor"), texts) for c in contract.fixed_doctor)
    people += out.items(contract.whom_to_contact)
    if contract.other_contacts:
        people += out.heading(texts("otherContacts"), 1)
        people += "".join(
            _person(c, texts.column("roles", c.role, c.role_display), texts) for c in contract.other_contacts
        )
    if contract.relatives:
        people += out.heading(texts("relatives"), 1) + "".join(_relative(r, texts) for r in contract.relatives)
    out.section("contacts", people)
    plans = []
    for plan in contract.other_plans:
        kind = texts.column("planTypes", plan.kind, plan.kind_display)
        holder = f" – {escape(texts('responsible', holder=plan.held_by))}" if plan.held_by else ""
        plans.append(f"<li><strong>{escape(kind)}</strong>{holder}</li>")
    out.section("otherPlans", f"<ul>{''.join(plans)}</ul>" if plans else "")
    out.section("answered", _messages(contract.answered, out))
    return "".join(out.parts)


def _agreement(contract: ContractOverview, texts: Texts) -> str:
    """That this is the plan agreed with the patient, when, and when and by whom it was last changed."""
    sentences = [texts("intro")]
    if contract.agreed and texts.day(contract.agreed):
        sentences.append(texts("agreed", date=str(texts.day(contract.agreed))))
    revised = texts.day(contract.last_revised)
    if revised and contract.revised_by:
        sentences.append(texts("revisedBy", date=revised, unit=contract.revised_by))
    elif revised:
        sentences.append(texts("revised", date=revised))
    if revised and contract.revised_with_patient:
        sentences.append(texts("revisedWithYou"))
    return f'<p class="agreement">{escape(" ".join(sentences))}</p>'


def _messages(messages: list[Message], out: _Writer) -> str:
    """What the patient proposed or asked, when, and the care team's reply when there is one."""
    texts, items = out.texts, []
    for message in messages:
        label = texts(f"message.{message.kind}")
        if message.sent_by:
            label += f" ({texts('sentBy', name=message.sent_by)})"
        sent = texts.day(message.sent)
        line = f"<strong>{escape(label)}</strong>"
        line += f' <span class="note">{escape(texts("sentOn", date=sent))}</span>' if sent else ""
        line += f"<br>{out.data(message.text)}"
        if message.reply:
            line += f"<br><strong>{escape(texts('reply'))}:</strong> {out.data(message.reply)}"
        elif message.answered:
            line += f"<br>{escape(texts('noReplyText'))}"
        items.append(f"<li>{line}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _answers(answers: Answers, texts: Texts) -> str:
    """The patient's latest answers to the seven questions (seed 003), question by question."""
    heading = f'<h2 id="yourAnswers">{escape(texts("yourAnswers"))}</h2>'
    day = texts.day(answers.authored)
    intro = f"<p>{escape(texts('answersOn', date=day))}</p>" if day else ""
    rows = "".join(
        f"<dt>{escape(texts.column('sevenQuestions', link_id))}</dt><dd>{escape(texts('yes' if yes else 'no'))}</dd>"
        for link_id, yes in answers.answers
        if texts.column("sevenQuestions", link_id)
    )
    return f'<section aria-labelledby="yourAnswers">{heading}{intro}<dl class="answers">{rows}</dl></section>'


def _goals(goals: list[Goal], out: _Writer) -> str:
    items = []
    for goal in goals:
        text, explanations = out.texts.plain(goal.text) if goal.expressed_by == "care" else (goal.text, [])
        line = out.data(text)
        if goal.said_by:
            line += f' <span class="note">({escape(out.texts("saidBy", name=goal.said_by))})</span>'
        line += "".join(f'<br><span class="note">{escape(e)}</span>' for e in explanations)
        items.append(f"<li>{line}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _visit(visit: Visit, texts: Texts) -> str:
    """The next visit once: when, what, where or by video, and how to change or cancel it."""
    rows = [("visitWhen", escape(texts.moment(visit.start) or visit.start or ""))]
    if visit.what:
        what = escape(visit.what)
        rows.append(("visitWhat", what if texts.language == DATA_LANGUAGE else f'<span lang="sv">{what}</span>'))
    if visit.video:
        rows.append(("visitWhere", escape(texts("videoVisit"))))
    elif visit.place:
        rows.append(("visitWhere", escape(visit.place)))
    parts = ['<dl class="visit">' + "".join(f"<dt>{escape(texts(k))}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"]
    unit = texts.unit(visit.unit_hsa_id)
    if visit.video:
        parts.append(f"<p>{escape(texts('videoHowTo'))}</p>")
        if unit.get("video"):
            parts.append(f'<p><a href="{escape(unit["video"])}">{escape(texts("videoLink"))}</a></p>')
    actions = []
    phone = unit.get("changePhone") or visit.unit_phone
    if phone:
        actions.append(_tel(phone, texts("changeByPhone", phone=phone)))
    if unit.get("changeUrl"):
        actions.append(f'<a href="{escape(unit["changeUrl"])}">{escape(texts("changeLink"))}</a>')
    if actions:
        parts.append(f"<p><strong>{escape(texts('change'))}</strong></p>")
        parts.append('<ul class="actions">' + "".join(f"<li>{a}</li>" for a in actions) + "</ul>")
    return "".join(parts)


def _tel(phone: str, words: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return f'<a href="tel:{escape(digits)}">{escape(words)}</a>'


LINKED_CHANNELS = {"meddelande": "message", "webbokning": "booking", "e-tjanst": "eService", "video": "video"}
"""Channels that are a link on 1177, and the unit's mapping entry that holds its address."""


def _person(contact: Contact, label: str, texts: Texts) -> str:
    """A contact card: who, their role and unit, when they can be reached, and links to reach them.
    Hours come from the PractitionerRole's availableTime, else from the unit's mapping entry."""
    profession = texts.column("roles", contact.profession) if contact.profession != contact.role else ""
    lines = [f"<p><strong>{escape(label)}:</strong> {escape(contact.name)}</p>"]
    about = [part for part in (profession, contact.unit) if part]
    if about:
        lines.append(f"<p>{escape(', '.join(about))}</p>")
    unit = texts.unit(contact.unit_hsa_id)
    for hours in contact.hours or unit.get("hours", []):
        lines.append(f"<p>{escape(texts('available', hours=texts.hours(hours)))}</p>")
    actions = [_tel(phone, texts("call", phone=phone)) for phone in contact.phones]
    for channel in contact.channels:
        key = LINKED_CHANNELS.get(channel)
        if key and unit.get(key):
            actions.append(f'<a href="{escape(unit[key])}">{escape(texts(f"channel.{channel}"))}</a>')
        elif channel not in LINKED_CHANNELS and channel != "telefon" and f"channel.{channel}" in texts.table["texts"]:
            actions.append(escape(texts(f"channel.{channel}")))
    if actions:
        lines.append('<ul class="actions">' + "".join(f"<li>{a}</li>" for a in actions) + "</ul>")
    return f'<div class="contact">{"".join(lines)}</div>'


def _relative(relative: Relative, texts: Texts) -> str:
    relationship = texts.column("relationships", relative.relationship, relative.relationship_text or "")
    who = escape(relative.name) + (f" ({escape(relationship)})" if relationship else "")
    lines = [f"<p><strong>{who}</strong></p>"]
    actions = [_tel(phone, texts("call", phone=phone)) for phone in relative.phones]
    if actions:
        lines.append('<ul class="actions">' + "".join(f"<li>{a}</li>" for a in actions) + "</ul>")
    return f'<div class="contact">{"".join(lines)}</div>'
