"""Identifiers never written to the log in clear: every line passing the service's handler has
its personnummer, samordningsnummer and HSA-ids masked, in its message and its arguments, its
exception and its stack, and uvicorn's access log lines keep of a query string only what
the access log keeps of it (:func:`fhirbridge.audit.events.masked`).

The shapes are those of :mod:`fhirbridge.sweden.identifiers`, loosened to what a person types or
a URL carries: with or without the century, with ``-``, ``+`` or their percent-encoded forms
between date and number, and any check digit (a mistyped number still names someone).  A
number must hold a plausible month and day (61-91 for a samordningsnummer's), so that counts,
timestamps and organisation numbers are kept as they are.
"""

from __future__ import annotations

import logging
import re

from fhirbridge.audit.events import masked

PERSON_NUMBER_MASK = "[person-number]"
HSA_ID_MASK = "[hsa-id]"
_HSA_ID = re.compile(r"SE[0-9]{10}(?:[0-9]{2})?-[A-Za-z0-9]+")
_PERSON_NUMBER = re.compile(
    r"(?<![0-9])(?:[0-9]{2})?[0-9]{2}(?:0[1-9]|1[0-2])(?:[0-3][0-9]|[6-9][0-9])(?:[-+]|%2[DdBb])?[0-9]{4}(?![0-9])"
)
_SIX_DIGITS = re.compile(r"[0-9]{6}")
_ACCESS_LOGGER = "uvicorn.access"
_FORMATTER = logging.Formatter()


def mask_identifiers(text: str) -> str:
    """``text`` with every HSA-id and every personnummer or samordningsnummer masked."""
    if _SIX_DIGITS.search(text) is None:  # each shape holds six digits in a row: most lines do not
        return text
    return _PERSON_NUMBER.sub(PERSON_NUMBER_MASK, _HSA_ID.sub(HSA_ID_MASK, text))


class MaskIdentifiers(logging.Filter):
    """Masks a record's identifiers before any formatter sees it (on the handler: a logger's
    filters do not see the records its children pass up to it).  The record is changed in
    place: its message is written out, masked, and its arguments dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == _ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
            # uvicorn's (client, method, path with query, HTTP version, status)
            client, method, full_path, version, status = record.args
            path, question, query = str(full_path).partition("?")
            record.args = (client, method, path + question + masked(query), version, status)
        record.msg = mask_identifiers(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_identifiers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_identifiers(record.stack_info)
        return True
