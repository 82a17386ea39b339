"""The lexical forms of FHIR R4's string-valued primitive types (R4 datatypes.html#primitive).

Each primitive type's regular expression is the one R4 gives in datatypes.html (and in the
``regex`` extension of its StructureDefinition), matched against the whole value.  Dates
are also held to the calendar: ``2023-02-30`` fits the expression and is not a date.  The
JSON kinds (booleans, integers, decimals) are checked by :mod:`fhirbridge.validation.json_form`
itself; strings, markdown and xhtml have no form beyond what it checks already.
"""

from __future__ import annotations

import calendar
import re

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"

FORMS: dict[str, re.Pattern[str]] = {
    name: re.compile(expression)
    for name, expression in {
        "date": rf"{_YEAR}(-{_MONTH}(-{_DAY})?)?",
        "dateTime": rf"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?",
        "instant": rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}",
        "time": _TIME,
        "code": r"[^\s]+(\s[^\s]+)*",
        "id": r"[A-Za-z0-9\-\.]{1,64}",
        "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
        "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "uri": r"\S*",
        "url": r"\S*",
        "canonical": r"\S*",
        "base64Binary": r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+",
    }.items()
}
"""The whole-value form of each primitive type that has one."""
_CALENDAR = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})")


def form_problem(type_code: str, value: str) -> str | None:
    """Why ``value`` is not a lexically valid ``type_code``, or None when it is."""
    form = FORMS.get(type_code)
    if form is None:
        return None
    if form.fullmatch(value) is None:
        return f"{value!r} is not a valid FHIR {type_code}"
    if type_code in ("date", "dateTime", "instant"):
        day = _CALENDAR.match(value)
        if day is not None:
            year, month, date = (int(part) for part in day.groups())
            if date > calendar.monthrange(year, month)[1]:
                return f"{value!r} is not a date in the calendar"
    return None
