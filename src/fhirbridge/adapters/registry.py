"""The one place that lists the outbound formats.

An :class:`~fhirbridge.adapters.adapter.Adapter` names its mapping file in ``mappings/``
(:mod:`fhirbridge.adapters.mappings`) and the HTTP endpoints it serves; the app registers every
adapter listed here.  To add a format: write a module with a pure mapping and an endpoint, a
JSON file in ``mappings/``, and one line here.
"""

from __future__ import annotations

from fhirbridge.adapters.adapter import Adapter
from fhirbridge.adapters.npo import get_care_managers, get_care_plans
from fhirbridge.adapters.overview import endpoint as overview
from fhirbridge.report import endpoint as report


def adapters() -> tuple[Adapter, ...]:
    """Every outbound format this server speaks."""
    return (get_care_plans.ADAPTER, get_care_managers.ADAPTER, overview.ADAPTER, report.ADAPTER)
