"""``fhirbridge``: run the service and manage its data.

    fhirbridge serve [--host 127.0.0.1] [--port 8080]
    fhirbridge db upgrade
    fhirbridge db check
    fhirbridge db repair
    fhirbridge load PATH [PATH ...]
    fhirbridge demo [--patients 12]
    fhirbridge worker
    fhirbridge report [--format csv|json] [--output FILE] [--period P] [--unit ID] [--caregiver ID]
    fhirbridge export FOLDER [--type T,T] [--since INSTANT] [--patients]
    fhirbridge reindex [--restart]

The database is ``FHIRBRIDGE_DATABASE_URL`` (default ``sqlite:///./fhirbridge.db``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fhirbridge import __version__
from fhirbridge.config import ConfigurationError, get_settings
from fhirbridge.rest.smart import check_authentication_settings
from fhirbridge.storage.data_folder import check_data_folder

if TYPE_CHECKING:
    from fhirbridge.access.guarded import GuardedRepository
    from fhirbridge.maintenance.references import Finding


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fhirbridge.observability.logs import logging_config

    settings = get_settings()
    check_authentication_settings(settings)  # refuse here, with a plain message, rather than in a worker
    check_data_folder(settings.database_url)
    shown_host = "localhost" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104 - only for the printed URL
    print(f"fhirbridge {__version__}: FHIR R4 at http://{shown_host}:{args.port}/fhir", flush=True)
    print(
        f"  CapabilityStatement: http://{shown_host}:{args.port}/fhir/metadata   API docs: http://{shown_host}:{args.port}/docs",
        flush=True,
    )
    if settings.auth == "off":
        print("  WARNING: authentication is OFF (FHIRBRIDGE_AUTH=off): development with demo data only", flush=True)
    # A start that fails for good (the database never came within FHIRBRIDGE_DB_WAIT_SECONDS)
    # ends the server process with SystemExit(1) after one line saying why (rest/app.py).
    uvicorn.run(
        "fhirbridge.rest.app:serve",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level, settings.log_format),
        proxy_headers=False,  # FHIRBRIDGE_TRUSTED_PROXIES instead (rest/forwarded.py)
        access_log=args.access_log,
    )
    return 0


def _db_check(args: argparse.Namespace) -> int:
    """Report Patients that share a number, replaced Patients whose records have not moved, and
    stored resources whose patient the access policy cannot place; 1 when anything is found.
    Runs on any schema version (before an upgrade that refuses, too)."""
    identities = asyncio.run(_check_identities())
    references = asyncio.run(_with_repository(_check_references, migrate=False))
    return max(identities, references)


async def _check_identities() -> int:
    from fhirbridge.bootstrap import identity_systems
    from fhirbridge.patients.check import check_identities
    from fhirbridge.storage.waiting import open_when_reachable

    settings = get_settings()
    systems = identity_systems(settings)
    database = await open_when_reachable(settings, pool_size=2)
    try:
        report = await check_identities(database, systems)
    finally:
        await database.close()
    if report.clean:
        print("one Patient per person: no number is shared, and every replaced Patient's records have moved")
        return 0
    if report.shared:
        print(f"{len(report.shared)} number(s) held by several active Patients:")
        for number in report.shared:
            print(f"  {number.describe(systems)}")
        print("  link each group: POST Patient/$merge with source-patient = each duplicate and target-patient")
        print("  = the Patient to keep (or correct a mistyped number)")
    if report.unfinished:
        print(f"{len(report.unfinished)} replaced Patient(s) that resources still refer to:")
        for link in report.unfinished:
            replaced = f"Patient/{link.patient_id} (replaced by Patient/{link.replaced_by})"
            print(f"  {replaced}: {link.referrers} resource(s)")
        print("  POST Patient/$merge with the same source-patient and target-patient moves them")
    return 1


async def _check_references(repository: GuardedRepository) -> int:
    found = await _findings(repository)
    for finding in found:
        print(finding.reference)
        for problem in finding.problems:
            print(f"  - {problem}")
    print(f"{len(found)} resource(s) name a patient in a form the access policy cannot place")
    if found:
        print("run `fhirbridge db repair` to resolve them through the write path")
    return 1 if found else 0


def _db_repair(args: argparse.Namespace) -> int:
    """Write every found resource again through the write path; 1 when some could not be repaired."""
    from fhirbridge.maintenance import references

    async def run(repository: GuardedRepository) -> int:
        report = await references.repair(repository, get_settings().base_url, await _findings(repository))
        print(f"{len(report.repaired)} repaired, {len(report.left)} could not be repaired")
        for finding, reason in report.left:
            print(f"  {finding.reference}: {reason}")
        return 1 if report.left else 0

    return asyncio.run(_with_repository(run))


async def _findings(repository: GuardedRepository) -> list[Finding]:
    from tqdm import tqdm

    from fhirbridge.maintenance import references

    settings = get_settings()
    bases = tuple(base for base in (settings.base_url, *settings.base_url_aliases) if base)
    total = await references.count(repository)
    with tqdm(total=total, desc="checking", unit="res", file=sys.stderr, disable=None) as bar:
        return [finding async for finding in references.find(repository, bases, bar.update)]


async def _with_repository(work: Callable[[GuardedRepository], Awaitable[int]], *, migrate: bool = True) -> int:
    """Run ``work`` on the deployment's repository (every contract rule on), migrating first
    unless told not to (or ``FHIRBRIDGE_AUTO_MIGRATE`` is off)."""
    from fhirbridge.bootstrap import repository_for
    from fhirbridge.storage.waiting import open_when_reachable

    settings = get_settings()
    database = await open_when_reachable(settings, pool_size=4, migrate=migrate)
    try:
        return await work(repository_for(database, settings))
    finally:
        await database.close()


def _db_upgrade(args: argparse.Namespace) -> int:
    from fhirbridge.storage.migrations import MigrationRefused, upgrade_async
    from fhirbridge.storage.urls import parse_database_url
    from fhirbridge.storage.waiting import when_reachable

    settings = get_settings()
    check_data_folder(settings.database_url)
    name = parse_database_url(settings.database_url).describe()
    try:
        asyncio.run(
            when_reachable(lambda: upgrade_async(settings.database_url), seconds=settings.db_wait_seconds, name=name)
        )
    except MigrationRefused as refused:
        print(f"fhirbridge: the database was not upgraded.\n{refused}", file=sys.stderr)
        return 1
    print(f"database schema is current: {name}")
    return 0


async def _load_items(items: object, total: int | None, description: str, batch_size: int) -> int:
    from tqdm import tqdm

    from fhirbridge.bootstrap import repository_for
    from fhirbridge.loading import Loader
    from fhirbridge.storage.waiting import open_when_reachable

    settings = get_settings()
    database = await open_when_reachable(settings, pool_size=4, migrate=True)
    try:
        loader = Loader(repository_for(database, settings), batch_size=batch_size, local_base=settings.base_url)
        with tqdm(total=total, desc=description, unit="res", file=sys.stderr, disable=None) as bar:
            report = await loader.load(items, progress=bar)  # type: ignore[arg-type]
    finally:
        await database.close()
    print(f"{report.written} written, {report.unchanged} unchanged, {len(report.rejected)} rejected")
    for rejection in report.rejected:
        print(f"  rejected {rejection.summary} from {rejection.origin}:")
        for problem in rejection.problems:
            print(f"    - {problem}")
    return 1 if report.rejected else 0


def _load(args: argparse.Namespace) -> int:
    """Stream the named files into the database: each is scanned first (its count for the
    progress bar; a Bundle that is not valid JSON is refused whole), then read one resource at
    a time."""
    from fhirbridge.load_files import files_under, read_resources, scan

    paths, missing = files_under(args.paths)
    if missing:
        print(f"no such file: {missing[0]}", file=sys.stderr)
        return 2
    files = [scan(path) for path in paths]
    items = (item for file in files for item in read_resources(file))
    return asyncio.run(_load_items(items, sum(file.count for file in files), "loading", args.batch_size))


def _demo(args: argparse.Namespace) -> int:
    from fhirbridge.demo.generator import demo_items

    items = list(demo_items(args.patients))
    return asyncio.run(_load_items(items, len(items), "demo data", 100))


def _worker(args: argparse.Namespace) -> int:
    """Deliver subscription notifications until interrupted (several may run on PostgreSQL)."""
    import signal

    from fhirbridge.notifications.delivery import OutboxWorker
    from fhirbridge.observability.logs import configure_logging
    from fhirbridge.storage.urls import parse_database_url
    from fhirbridge.storage.waiting import open_when_reachable

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)

    async def work() -> int:
        database = await open_when_reachable(settings, pool_size=4, migrate=True)
        worker = OutboxWorker.for_settings(database, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(
            f"fhirbridge worker: delivering notifications from {parse_database_url(settings.database_url).describe()}"
        )
        try:
            await worker.run(stop, settings.outbox_poll_seconds)
        finally:
            await worker.close()
            await database.close()
        return 0

    return asyncio.run(work())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhirbridge", description="FHIR R4 service for Swedish patient contracts")
    parser.add_argument("--version", action="version", version=f"fhirbridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the FHIR server")
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default %(default)s; 0.0.0.0 for every one)"
    )
    serve.add_argument("--port", type=int, default=8080, help="the TCP port to listen on (default %(default)s)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (use PostgreSQL for more than one)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate the schema to the newest version").set_defaults(run=_db_upgrade)
    db_commands.add_parser(
        "check",
        help="list Patients that share a personnummer, samordningsnummer or reserve number, replaced Patients whose "
        "records have not moved, and stored resources whose patient the access policy cannot place (exit 1 if any)",
    ).set_defaults(run=_db_check)
    db_commands.add_parser(
        "repair", help="resolve those references through the write path; list what could not be resolved"
    ).set_defaults(run=_db_repair)

    load = commands.add_parser("load", help="load FHIR resources from Bundles, NDJSON or JSON files (or folders)")
    load.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="an NDJSON file (.ndjson, .jsonl: one resource a line), a JSON file (a Bundle or one resource), "
        "or a folder of them",
    )
    load.add_argument(
        "--batch-size",
        type=int,
        default=100,
        help="resources written in one transaction (default %(default)s); a batch with a refused resource "
        "is written again one by one",
    )
    load.set_defaults(run=_load)

    demo = commands.add_parser("demo", help="load realistic Swedish demo contracts")
    demo.add_argument(
        "--patients", type=int, default=160, help="how many demo patients (default 160: a report worth reading)"
    )
    demo.set_defaults(run=_demo)

    worker = commands.add_parser(
        "worker", help="deliver subscription notifications (set FHIRBRIDGE_OUTBOX_WORKER=off on the servers)"
    )
    worker.set_defaults(run=_worker)

    report = commands.add_parser("report", help="the follow-up report (figures, small cells suppressed) as CSV or JSON")
    _report_arguments(report)
    report.set_defaults(run=_report)

    export = commands.add_parser("export", help="Bulk Data export to a folder: one NDJSON file a resource type")
    _export_arguments(export)
    export.set_defaults(run=_export)

    reindex = commands.add_parser(
        "reindex", help="compute the search index of every stored resource again (continues an interrupted run)"
    )
    reindex.add_argument("--restart", action="store_true", help="start from the first resource")
    reindex.set_defaults(run=_reindex)
    return parser


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    from fhirbridge.export.command import add_arguments

    add_arguments(parser)


def _export(args: argparse.Namespace) -> int:
    from fhirbridge.export.command import run

    return asyncio.run(run(args))


def _reindex(args: argparse.Namespace) -> int:
    """Reindex with a progress bar; an interrupted run is continued by the next."""
    from tqdm import tqdm

    from fhirbridge.maintenance.reindex import count_left, position, reindex
    from fhirbridge.storage.waiting import open_when_reachable

    async def work() -> int:
        database = await open_when_reachable(get_settings(), pool_size=2, migrate=True)
        try:
            after = 0 if args.restart else await position(database)
            total = await count_left(database, after)
            if after:
                print(f"continuing after resource key {after}", file=sys.stderr)
            with tqdm(total=total, desc="reindexing", unit="res", file=sys.stderr, disable=None) as bar:
                done = await reindex(database, restart=args.restart, progress=bar.update)
        finally:
            await database.close()
        print(f"{done.resources} resources reindexed")
        return 0

    return asyncio.run(work())


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    from fhirbridge.report.command import add_arguments

    add_arguments(parser)


def _report(args: argparse.Namespace) -> int:
    from fhirbridge.report.command import run

    return asyncio.run(run(args))


def main(argv: list[str] | None = None) -> None:
    """Run one command.  A setting or path that cannot work is one line naming it and exit
    status 2; a database that does not come within ``FHIRBRIDGE_DB_WAIT_SECONDS`` is one line
    and status 1: no traceback for either."""
    from fhirbridge.observability.logs import basic_logging
    from fhirbridge.storage.waiting import DatabaseUnreachable

    basic_logging()
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.run(args))
    except ConfigurationError as exc:
        for line in str(exc).splitlines():
            print(f"fhirbridge: {line}", file=sys.stderr)
        sys.exit(2)
    except DatabaseUnreachable as exc:
        print(f"fhirbridge: {exc}", file=sys.stderr)
        sys.exit(1)
