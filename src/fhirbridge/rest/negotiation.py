"""Content negotiation (R4 http.html#mime-type): FHIR JSON and FHIR XML in and out, and honest refusals.

``_format`` overrides ``Accept``; JSON is the default.  A format the service does not speak
is 406 for the response and 415 for a request body (as is a body without a
``Content-Type``), each with an OperationOutcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhirbridge.errors import not_acceptable, unsupported_media_type
from fhirbridge.fhir.json_patch import MEDIA_TYPE as JSON_PATCH
from fhirbridge.fhir.jsonio import dumps
from fhirbridge.fhir.xml import read_xml

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
JSON_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir", "text/json"})
XML_TYPES = frozenset({FHIR_XML, "application/xml", "application/xml+fhir", "text/xml"})
FORMAT_ALIASES = {
    "json": FHIR_JSON,
    "application/json": "application/json",
    FHIR_JSON: FHIR_JSON,
    "application/json+fhir": FHIR_JSON,
    "xml": FHIR_XML,
    "text/xml": "text/xml",
    "application/xml": "application/xml",
    FHIR_XML: FHIR_XML,
    "application/xml+fhir": FHIR_XML,
}
_PLAIN_TYPES = frozenset({"application/json", "application/xml", "text/xml"})
"""Types answered as asked (a client that asks for ``application/xml`` gets that header)."""
FHIR_VERSIONS = ("4.0", "4.0.1")


@dataclass(frozen=True)
class ResponseFormat:
    media_type: str
    pretty: bool

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"

    @property
    def is_xml(self) -> bool:
        return self.media_type in XML_TYPES


def media_ranges(accept: str) -> list[tuple[str, float, dict[str, str]]]:
    """The media ranges of an ``Accept`` header (RFC 9110 §12.5.1), most wanted first."""
    ranges = []
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";") if p.strip()]
        if not parts:
            continue
        params: dict[str, str] = {}
        for param in parts[1:]:
            key, _, value = param.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 1.0
        ranges.append((parts[0].lower(), quality, params))
    return sorted(ranges, key=lambda r: -r[1])


def response_format(accept: str | None, format_param: str | None, pretty_param: str | None) -> ResponseFormat:
    """Pick the response media type from ``_format`` or ``Accept``; 406 when none fits."""
    pretty = pretty_param == "true"
    if format_param is not None:
        media_type = FORMAT_ALIASES.get(format_param.split(";")[0].strip().lower())
        if media_type is None:
            raise not_acceptable(
                f"_format={format_param} is not available: this server speaks FHIR JSON (_format=json) "
                "and FHIR XML (_format=xml)"
            )
        return ResponseFormat(media_type, pretty)
    if not accept:
        return ResponseFormat(FHIR_JSON, pretty)
    for media_type, quality, params in media_ranges(accept):
        if quality <= 0:
            continue
        version = params.get("fhirversion")
        if version is not None and version not in FHIR_VERSIONS:
            continue
        if media_type in JSON_TYPES:
            return ResponseFormat("application/json" if media_type == "application/json" else FHIR_JSON, pretty)
        if media_type in XML_TYPES:
            return ResponseFormat(media_type if media_type in _PLAIN_TYPES else FHIR_XML, pretty)
        if media_type in ("*/*", "application/*"):
            return ResponseFormat(FHIR_JSON, pretty)
    raise not_acceptable(
        f"None of {accept!r} is available: this server speaks FHIR JSON ({FHIR_JSON}) and FHIR XML "
        f"({FHIR_XML}), FHIR version 4.0"
    )


def check_request_body_type(content_type: str | None, *, has_body: bool) -> bool:
    """A body must be declared FHIR JSON or FHIR XML (or plain JSON or XML): another type, or
    none at all, is 415, so that nothing a client sends is read as something it did not say it
    is.  True when the body is XML."""
    if not content_type:
        if has_body:
            raise unsupported_media_type(f"A request body needs a Content-Type: send {FHIR_JSON} or {FHIR_XML}")
        return False
    media_type, _, params = content_type.partition(";")
    kind = media_type.strip().lower()
    if kind not in JSON_TYPES and kind not in XML_TYPES:
        raise unsupported_media_type(
            f"Content-Type {media_type.strip()} is not accepted: send {FHIR_JSON} or {FHIR_XML}"
        )
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "fhirversion" and value.strip().strip('"') not in FHIR_VERSIONS:
            raise unsupported_media_type(f"fhirVersion={value.strip()} is not served here: this is FHIR 4.0.1")
    return kind in XML_TYPES


def check_patch_body_type(content_type: str | None) -> bool:
    """A patch body is a JSON Patch (R4 http.html#patch, RFC 6902) or a FHIRPath Patch (R4
    fhirpatch.html: a Parameters resource in FHIR JSON or FHIR XML); True when it is XML, to be
    read into the JSON form.  XML Patch (RFC 5261) and anything else is 415 (RFC 5789 §2.2)."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == JSON_PATCH or media_type in JSON_TYPES:
        return False
    if media_type in XML_TYPES:
        return True
    shown = media_type or "none"
    raise unsupported_media_type(
        f"Content-Type {shown} is not a patch this server applies: send a JSON Patch ({JSON_PATCH}) or a "
        f"FHIRPath Patch (a Parameters resource as {FHIR_JSON} or {FHIR_XML}); XML Patch is not supported"
    )


def xml_body_as_json(body: bytes, max_depth: int) -> bytes:
    """A FHIR XML request body in the JSON form every interaction reads (R4 xml.html), so XML
    takes the one write path; XML that is not FHIR is a 400 naming the element."""
    return dumps(read_xml(body, max_depth))
