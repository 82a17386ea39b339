"""Writing an export: one NDJSON file a type, from pages of a search through the access layer
(Bulk Data 2.0 export.html#bulk-data-output-file-request: one resource a line).

Each type is one search (:func:`fhirbridge.export.plan.type_query`) read a page of
:data:`~fhirbridge.export.plan.PAGE` resources at a time in key order, each page written out
before the next is read, and what the access policy memoised judging the last page forgotten
(:func:`fhirbridge.access.memos.forget_grown`): memory stays bounded by a page whatever the
size of the export.  The
search goes through :class:`~fhirbridge.access.guarded.GuardedRepository` as the caller who
asked, so an export holds what that caller may read, as they may read it (a plan from outside
a blocked unit without the unit's parts), and nothing else.

A Group export searches its members a batch at a time
(:meth:`~fhirbridge.export.plan.ExportPlan.member_batches`); a resource that names members of
two batches (a Provenance of both) is written with the first only.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from fhirbridge.access.compartment import patients_of
from fhirbridge.access.guarded import GuardedRepository
from fhirbridge.access.memos import forget_grown
from fhirbridge.export.files import output_name
from fhirbridge.export.jobs import Output
from fhirbridge.export.plan import ExportPlan, type_query
from fhirbridge.fhir.jsonio import loads
from fhirbridge.identity import Identity

Progress = Callable[[str, int], Awaitable[bool]]
"""Called after each page with the type and the resources it wrote; False stops the export."""


class Stopped(Exception):
    """The export was stopped from outside (cancelled) between two pages."""


async def write_export(
    repository: GuardedRepository,
    identity: Identity,
    plan: ExportPlan,
    transaction_time: int,
    folder: Path,
    progress: Progress | None = None,
) -> list[Output]:
    """Write the plan's files into ``folder``; returns ``(type, file name, count)`` of each
    type that has resources (a type with none gets no file).  Raises :class:`Stopped` when
    ``progress`` says so."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    outputs: list[Output] = []
    for resource_type in plan.types:
        name = output_name(resource_type)
        written = await _write_type(
            repository, identity, plan, resource_type, transaction_time, folder / name, progress
        )
        if written:
            outputs.append((resource_type, name, written))
    return outputs


async def _write_type(
    repository: GuardedRepository,
    identity: Identity,
    plan: ExportPlan,
    resource_type: str,
    transaction_time: int,
    path: Path,
    progress: Progress | None,
) -> int:
    partial = path.with_name(path.name + ".part")
    written = 0
    earlier: set[str] = set()  # the members of the batches written already
    with await asyncio.to_thread(partial.open, "wb") as out:
        for members in plan.member_batches():
            query = type_query(plan, resource_type, members)
            while True:
                forget_grown(identity)  # the last page's judgements: the memos are a page's, not the export's
                page = await repository.search(identity, query, None)
                lines = [
                    match.content + b"\n"
                    for match in page.matches
                    if match.content is not None
                    and match.last_updated <= transaction_time  # later: the next export's
                    and not (earlier and _names_any(resource_type, match.content, earlier))
                ]
                await asyncio.to_thread(out.writelines, lines)  # the server's other requests go on meanwhile
                written += len(lines)
                if progress is not None and not await progress(resource_type, len(page.matches)):
                    raise Stopped(resource_type)
                if page.next_cursor is None:
                    break
                query = dataclasses.replace(query, keyset_cursor=int(page.next_cursor[1:]))
            earlier.update(members or ())
    if written:
        await asyncio.to_thread(partial.replace, path)
    else:
        await asyncio.to_thread(partial.unlink)
    return written


def _names_any(resource_type: str, content: bytes, patients: set[str]) -> bool:
    """Whether a resource belongs to the compartment of one of ``patients``."""
    return bool((patients_of(resource_type, loads(content)) or frozenset()) & patients)
