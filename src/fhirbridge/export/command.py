"""``fhirbridge export FOLDER``: the Bulk Data export's files written to a folder on the command
line, by the same writer as ``$export`` (:mod:`fhirbridge.export.writer`): one
``[type].ndjson`` a type, a page at a time, with a progress bar.  It runs as the server itself
(whoever runs it holds the database already): everything of the types asked for."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fhirbridge.config import get_settings
from fhirbridge.errors import FhirError
from fhirbridge.export.plan import parse_plan
from fhirbridge.export.writer import write_export
from fhirbridge.fhir.instants import format_instant, now_us
from fhirbridge.identity import SYSTEM


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="where the NDJSON files go (made if missing)")
    parser.add_argument("--type", dest="types", help="comma-separated types (default: all but AuditEvent)")
    parser.add_argument("--since", help="only resources changed after this instant (2026-01-31T12:00:00+01:00)")
    parser.add_argument(
        "--patients", action="store_true", help="the Patients and their compartments only (as Patient/$export)"
    )


async def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fhirbridge.bootstrap import repository_for
    from fhirbridge.storage.waiting import open_when_reachable

    query = [(name, value) for name, value in (("_type", args.types), ("_since", args.since)) if value is not None]
    now = now_us()
    try:
        plan = parse_plan("patient" if args.patients else "system", query, now=now)
    except FhirError as refused:
        for issue in refused.issues:
            print(f"fhirbridge export: {issue.diagnostics}", file=sys.stderr)
        return 2
    settings = get_settings()
    database = await open_when_reachable(settings, pool_size=2, migrate=True)
    try:
        repository = repository_for(database, settings)
        with tqdm(desc="exporting", unit="res", file=sys.stderr, disable=None) as bar:

            async def progress(resource_type: str, count: int) -> bool:
                bar.set_postfix_str(resource_type, refresh=False)
                bar.update(count)
                return True

            outputs = await write_export(repository, SYSTEM, plan, now, args.folder, progress)
    finally:
        await database.close()
    for resource_type, name, count in outputs:
        print(f"{count} {resource_type} in {args.folder / name}")
    print(f"{sum(count for _, _, count in outputs)} resources as of {format_instant(now)}")
    return 0
