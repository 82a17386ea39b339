"""An export's memory is bounded by a page (Bulk Data 2.0 export.html), on SQLite and
PostgreSQL, with tokens: the access policy's per-request memos (access/memos.py), which a whole
export judges under one identity, hold at most a page's worth after each page, whatever the
export's size; and the export holds the same resources, page by page, as in one page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhirbridge.access.memos import held
from fhirbridge.export import worker
from fhirbridge.export.jobs import Output
from fhirbridge.identity import Identity
from tests.export.conftest import export
from tests.security.callers import admin_post, service
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders

PATIENTS = 16
PAGE = 2
MOST_HELD = 24
"""What one page may leave in the memos: the rows it read (its two, and two more to tell
whether a next page has any), their patients, their Provenances' targets, judged and parsed,
and the units those name."""


def by_id(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {kind: sorted(resources, key=lambda r: str(r["id"])) for kind, resources in found.items()}


async def test_the_memos_hold_a_page_not_the_export_and_the_export_is_the_same(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(PATIENTS):
        patient = await admin_post(anyone, rsa, builders.patient(family=f"Sida{number}"))
        await admin_post(anyone, rsa, builders.goal(patient["id"], f"Mål {number}"))
    npo = service(rsa)  # blocks apply to a service: each patient's standing is decided
    in_one_page = await export(anyone, npo, _type="Patient,Goal,Provenance")
    assert len(in_one_page["Patient"]) == PATIENTS + 2

    sizes: list[tuple[str, int]] = []
    writing = worker.write_export

    async def counting(
        repository: Any,
        identity: Identity,
        plan: Any,
        transaction_time: int,
        folder: Path,
        progress: Callable[[str, int], Awaitable[bool]] | None = None,
    ) -> list[Output]:
        """The worker's own writer, with a look at the memos after each page it writes."""

        async def looking(resource_type: str, count: int) -> bool:
            sizes.append((resource_type, held(identity)))
            return True if progress is None else await progress(resource_type, count)

        return await writing(repository, identity, plan, transaction_time, folder, looking)

    monkeypatch.setattr(worker, "write_export", counting)
    monkeypatch.setattr("fhirbridge.export.plan.PAGE", PAGE)
    # a restricted caller's page reads on past what it may not see, a hundred rows at a time
    # (access/guarded.py): two here, so that a page's worth is a few rows, not the whole test's
    monkeypatch.setattr("fhirbridge.access.guarded.FILL_PAGE", PAGE)
    paged = await export(anyone, npo, _type="Patient,Goal,Provenance")
    assert by_id(paged) == by_id(in_one_page)
    assert len(sizes) > PATIENTS, "the export was read a page of two at a time"
    assert any(size for _, size in sizes), "the memos are looked at while they hold something"
    assert max(size for _, size in sizes) <= MOST_HELD, sizes
