"""The report page's filter form: what the caller asked for, and the units and caregivers it may
choose from (those the access policy lets it read, by name, from the directory)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import QueryParams

from fhirbridge.identity import Identity
from fhirbridge.report.directory import load_directory
from fhirbridge.report.filters import readable_units
from fhirbridge.storage.database import Database


@dataclass(frozen=True)
class Form:
    """The filter form as the caller filled it, and what it may choose from."""

    period: str
    unit: str
    caregiver: str
    units: tuple[tuple[str, str], ...]
    """(id, name) of the units the caller may read, by name."""
    caregivers: tuple[tuple[str, str], ...]
    names: dict[str, str]
    """Every unit's name by id (the directory's)."""

    def query(self) -> dict[str, str]:
        """The filters as query parameters (the links to the CSV and JSON of the same figures)."""
        pairs = (("period", self.period), ("unit", self.unit), ("caregiver", self.caregiver))
        return {name: value for name, value in pairs if value}


async def filter_form(database: Database, identity: Identity, params: QueryParams) -> Form:
    async with database.reader() as conn:
        directory = await load_directory(conn)
    readable = readable_units(identity, directory)
    units = sorted(readable if readable is not None else directory.names, key=directory.name)
    caregivers = sorted({directory.caregiver(unit) for unit in units}, key=directory.name)
    return Form(
        period=params.get("period") or "",
        unit=params.get("unit") or "",
        caregiver=params.get("caregiver") or "",
        units=tuple((unit, directory.name(unit)) for unit in units),
        caregivers=tuple((unit, directory.name(unit)) for unit in caregivers),
        names=dict(directory.names),
    )
