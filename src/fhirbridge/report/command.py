"""``fhirbridge report``: the follow-up report from the command line, every unit (it runs with
the database's own access), with the same filters, figures and suppression as ``GET /report``,
and a progress bar on the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fhirbridge.config import get_settings
from fhirbridge.errors import FhirError
from fhirbridge.fhir.instants import now_us
from fhirbridge.report.engine import STEPS, build_report
from fhirbridge.report.filters import parse_filters
from fhirbridge.report.render import to_csv, to_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("csv", "json"), default="csv", help="csv (default) or json")
    parser.add_argument("--output", "-o", type=Path, help="write to this file (default: standard output)")
    parser.add_argument(
        "--period", help="a tertial (YYYY-T1, -T2, -T3) or a year (YYYY) that has ended; default: the last tertial"
    )
    parser.add_argument("--unit", action="append", help="an Organization id (with the units below it); one at a time")
    parser.add_argument("--caregiver", help="an Organization id: the units of that caregiver")


async def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fhirbridge.storage.waiting import open_when_reachable

    settings = get_settings()
    try:
        filters = parse_filters(args.period, args.unit, args.caregiver)
    except FhirError as refused:
        print(f"fhirbridge report: {refused.issues[0].diagnostics}", file=sys.stderr)
        return 2
    database = await open_when_reachable(settings, pool_size=2, migrate=True)
    try:
        with tqdm(total=STEPS, desc="report", unit="step", file=sys.stderr, disable=None) as bar:

            def progress(step: str) -> None:
                bar.set_postfix_str(step)
                bar.update()

            report = await build_report(
                database,
                filters,
                readable=lambda _: None,
                now_us=now_us(),
                minimum=settings.report_minimum_cell,
                progress=progress,
            )
    except FhirError as refused:
        print(f"fhirbridge report: {refused.issues[0].diagnostics}", file=sys.stderr)
        return 2
    finally:
        await database.close()
    text = to_json(report) + "\n" if args.format == "json" else to_csv(report)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"report written to {args.output}", file=sys.stderr)
    return 0
