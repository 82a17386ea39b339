"""The overview's words in the reader's language, from ``mappings/overview.json`` (pure).

Every fixed text is one entry with a column per language (``sv``, the default, and ``en``).
The language is ``?lang=`` when it names one the table has, else the best of
``Accept-Language`` (RFC 9110 §12.5.4, by quality; ``en-GB`` counts as ``en``), else Swedish.
Dates and times are shown in Europe/Stockholm, in long form ("torsdag 14 januari 2027 kl.
09.30"); opening hours as "mån–fre kl. 08.00–16.00".  Care team goals are put in plain words
from the plain-language table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fhirbridge.fhir.instants import to_datetime
from fhirbridge.search.dates import LOCAL_ZONE, first_instant

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def choose_language(requested: str | None, accept_language: str | None, languages: list[str]) -> str:
    """``requested`` if the table has it, else the best-quality language of ``Accept-Language``
    the table has (the first of equals), else the table's first language (Swedish)."""
    if requested in languages:
        return str(requested)
    best, best_quality = languages[0], 0.0
    for part in (accept_language or "").split(","):
        tag, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.split("-")[0].lower()
        if primary in languages and quality > best_quality:
            best, best_quality = primary, quality
    return best


@dataclass(frozen=True)
class Texts:
    """The mapping table read in one language."""

    table: dict[str, Any]
    language: str

    def __call__(self, key: str, **values: str) -> str:
        entry = self.table["texts"][key]
        return str(entry.get(self.language, entry["sv"])).format(**values)

    def column(self, section: str, code: str | None, fallback: str = "") -> str:
        """A coded word (``roles``, ``planTypes``, ``relationships``) in this language."""
        entry = self.table.get(section, {}).get(code or "")
        if not isinstance(entry, dict):
            return fallback
        return str(entry.get(self.language, entry.get("sv", fallback)))

    def other_languages(self) -> list[tuple[str, str]]:
        """(language, the switch link's words in that language) for each other language."""
        names = self.table["languageSwitch"]
        return [(code, str(names[code])) for code in self.table["languages"] if code != self.language]

    def unit(self, hsa_id: str | None) -> dict[str, Any]:
        """A unit's links, phone and hours: its own entry over the default one."""
        units = self.table.get("units", {})
        return {**units.get("default", {}), **units.get(hsa_id or "", {})}

    def _calendar(self, key: str) -> Any:
        entry = self.table["calendar"][key]
        return entry.get(self.language, entry["sv"])

    def day(self, value: str | None) -> str | None:
        """A FHIR date or dateTime as a day in long form (``16 april 2026``)."""
        moment = _local(value)
        if moment is None:
            return None
        months = self._calendar("months")
        return str(self._calendar("date")).format(day=moment.day, month=months[moment.month - 1], year=moment.year)

    def moment(self, value: str | None) -> str | None:
        """A FHIR dateTime in long form with weekday and time (``torsdag 14 januari 2027 kl. 09.30``);
        a date without time as :meth:`day`."""
        moment = _local(value)
        if moment is None or not isinstance(moment, datetime):
            return self.day(value)
        return str(self._calendar("dateTime")).format(
            weekday=self._calendar("weekdays")[moment.weekday()],
            day=moment.day,
            month=self._calendar("months")[moment.month - 1],
            year=moment.year,
            time=self._time(f"{moment.hour:02d}:{moment.minute:02d}"),
        )

    def _time(self, clock: str) -> str:
        hour, _, minute = clock.partition(":")
        return str(self._calendar("time")).format(hour=hour, minute=minute or "00")

    def hours(self, text: str) -> str:
        """``mon tue wed thu fri 08:00-16:00`` (as :mod:`fhirbridge.contract.care_contacts` writes a
        PractitionerRole.availableTime) as ``mån–fre kl. 08.00–16.00``; other text as it is."""
        parts = text.split()
        all_day = parts[-2:] == ["all", "day"]
        days = parts[:-2] if all_day else parts[:-1]
        if not parts or any(day not in DAYS for day in days):
            return text
        span = self._days(days)
        if all_day:
            return str(self._calendar("allDay")).format(days=span).strip()
        start, _, end = parts[-1].partition("-")
        return str(self._calendar("hours")).format(days=span, start=self._time(start), end=self._time(end)).strip()

    def _days(self, days: list[str]) -> str:
        short = self._calendar("weekdaysShort")
        indexes = [DAYS.index(day) for day in days]
        if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
            return f"{short[indexes[0]]}–{short[indexes[-1]]}"
        return ", ".join(short[index] for index in indexes)

    def plain(self, text: str) -> tuple[str, list[str]]:
        """A care team goal in plain words: on the Swedish page each term of the plain-language table
        is replaced by its plain wording; on another page the goal stays as written (it is Swedish)
        and each term found is explained.  Returns the text and the explanations."""
        explanations: list[str] = []
        entries = sorted(self.table.get("plainLanguage", {}).get("entries", []), key=lambda e: -len(e["term"]))
        for entry in entries:
            pattern = re.compile(re.escape(entry["term"]), re.IGNORECASE)
            found = pattern.search(text)
            if found is None:
                continue
            wording = str(entry.get(self.language, entry["sv"]))
            if self.language == "sv":
                replacement = wording[:1].upper() + wording[1:] if found.start() == 0 else wording
                text = text[: found.start()] + replacement + text[found.end() :]
            else:
                explanations.append(self("explained", term=found.group(0), plain=wording))
        return text, explanations


def _local(value: str | None) -> date | datetime | None:
    """A FHIR date (a day) or dateTime (a moment in Swedish local time)."""
    if not isinstance(value, str):
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value)
    if "T" not in value:
        return None
    first = first_instant(value)
    return None if first is None else to_datetime(first).astimezone(LOCAL_ZONE)
