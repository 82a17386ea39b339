"""Throughput and latency of one fhirbridge worker, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.run [--mode production|development|production,development]
        [--backends sqlite,postgresql] [--contracts 10000] [--seeder loader|bulk]
        [--scenarios read,read-user,include,create,update-if-match,transaction,update,chain]
        [--concurrency 16] [--duration 10] [--warmup 2] [--repeats 3] [--latency] [--profile]

For each backend: a fresh database seeded with ``--contracts`` patient contracts
(:mod:`bench.seed`), the real service started as a separate process with one worker for
each mode (:mod:`bench.server`, :mod:`bench.modes`: production, with bearer tokens from the
bench's own issuer, the access policy and the access log, is the default), then every
scenario (:mod:`bench.scenarios`) driven at a fixed concurrency for a fixed time after a
warm-up, ``--repeats`` times, by the asyncio load generator (:mod:`bench.loadgen`).  With
two modes, both services run side by side on the same database and each repeat measures one
mode right after the other (alternating which goes first), so the two are compared on the
same machine in the same minute.  Before that, the generator's own ceiling is measured
against a do-nothing server (:mod:`bench.nullserver`); the service's ``GET /healthz`` rate,
before and after the scenarios, shows what the framework alone costs per request and how
busy the machine was.

Prints a Markdown table of medians (:mod:`bench.report`) and writes it, with the machine's
facts and every run's figures, to ``bench/results/<date>-<time>.{md,json}``.  Any non-2xx
response is an error and makes the command exit 1.  With ``--profile``, each scenario gets
one more run per mode, not counted, with py-spy sampling the server (:mod:`bench.profile`).
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop

from bench import cpu
from bench.loadgen import LoadGenerator, Meter, Request, RequestFactory, RunResult
from bench.modes import MODES, Issuer, Mode, mode
from bench.profile import Recording, format_summary
from bench.report import (
    RESULTS,
    RunFigures,
    ScenarioResult,
    generator_us_per_request,
    machine_facts,
    markdown_table,
    mode_ratios,
    write_results,
)
from bench.scenarios import BUILDERS, ISSUE_12, SCENARIOS, Scenario
from bench.seed import Backend, fresh_backend, seed, seed_bulk
from bench.server import REPOSITORY, ServiceProcess, free_port, wait_until_ready

BACKENDS = ("sqlite", "postgresql")
HOST = "127.0.0.1"
GENERATOR_TARGET = 20_000


def _names(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode",
        type=lambda t: _names(t, MODES),
        default=["production"],
        help="production (bearer tokens, access policy, access log; the default), development "
        "(FHIRBRIDGE_AUTH=off), or production,development: both, run by run",
    )
    parser.add_argument(
        "--backends", type=lambda t: _names(t, BACKENDS), default=list(BACKENDS), help="sqlite,postgresql"
    )
    parser.add_argument(
        "--scenarios",
        type=lambda t: _names(t, SCENARIOS),
        default=list(ISSUE_12),
        help=",".join(SCENARIOS) + f" (default {','.join(ISSUE_12)}: issue 12's table)",
    )
    parser.add_argument(
        "--seeder",
        choices=("loader", "bulk"),
        default="loader",
        help="loader: demo contracts through the write path; bulk: compact contracts written directly (large scales)",
    )
    parser.add_argument("--contracts", type=int, default=10_000, help="patient contracts seeded per backend")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario; the table shows the median")
    parser.add_argument("--batch-size", type=int, default=1000, help="resources per seeding transaction")
    parser.add_argument(
        "--profile", action="store_true", help="after each scenario's runs, one more under py-spy (not counted)"
    )
    parser.add_argument(
        "--latency", action="store_true", help="also run every scenario with one request in flight (pure latency)"
    )
    return parser.parse_args(argv)


def measure(
    port: int,
    concurrency: int,
    factory: RequestFactory,
    duration: float,
    warmup: float,
    meters: dict[str, Meter],
    credentials: Mapping[str, str] | None = None,
) -> RunResult:
    """One run of the load generator on a fresh uvloop event loop."""
    gc.collect()
    gc.freeze()  # keep the generator's collector off the seeded data while it measures
    try:
        generator = LoadGenerator(HOST, port, concurrency, credentials)
        return uvloop.run(generator.run(factory, duration_s=duration, warmup_s=warmup, meters=meters))
    finally:
        gc.unfreeze()


_HEALTHZ = Request("GET", "/healthz")


def _healthz(n: int) -> Request:
    return _HEALTHZ


def generator_ceiling(concurrency: int, duration: float) -> str:
    """Requests/s the generator drives against a do-nothing server sharing the cores, and its
    CPU cost per request (which, unlike the rate, does not depend on what else runs)."""
    port = free_port()
    command = [sys.executable, "-m", "bench.nullserver", "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.DEVNULL)
    try:
        wait_until_ready(f"http://{HOST}:{port}/", 30, server)
        meters: dict[str, Meter] = {
            "server": lambda: cpu.process_cpu_seconds(server.pid),
            "machine": cpu.machine_busy_seconds,
        }
        result = measure(port, concurrency, _healthz, duration, 1, meters)
    finally:
        server.terminate()
        server.wait()
    cost_us = generator_us_per_request(result)
    others = max(0.0, result.cores["machine"] - result.cores["server"] - result.cores["generator"])
    verdict = "above" if result.rate > GENERATOR_TARGET else "BELOW"
    return (
        f"{result.rate:,.0f} req/s against a do-nothing HTTP server, {verdict} the {GENERATOR_TARGET:,} req/s "
        f"it must sustain (p50 {result.percentile_ms(0.5):.2f} ms, {result.errors} errors); "
        f"{cost_us:.0f} µs generator CPU per request = {1e6 / cost_us:,.0f} req/s per core; "
        f"cores: generator {result.cores['generator']:.2f}, null server {result.cores['server']:.2f}, "
        f"others {others:.2f}"
    )


def healthz_rate(port: int, concurrency: int, duration: float, meters: dict[str, Meter]) -> str:
    """``GET /healthz`` of the service: what uvicorn and FastAPI alone cost per request."""
    result = measure(port, concurrency, _healthz, duration, 1, meters)
    return (
        f"{result.rate:,.0f} req/s, p50 {result.percentile_ms(0.5):.2f} ms, p99 {result.percentile_ms(0.99):.2f} ms, "
        f"max {result.max_ms:.1f} ms, {result.errors} errors; server {result.cores['server']:.2f} cores, "
        f"generator {result.cores['generator']:.2f} cores, machine busy {result.cores['machine']:.2f} cores"
    )


@dataclass
class Target:
    """The service running in one mode, and the CPU meters that watch it."""

    mode: Mode
    service: ServiceProcess
    meters: dict[str, Meter]

    def measure(self, scenario: Scenario, concurrency: int, duration: float, warmup: float) -> RunResult:
        credentials = self.mode.credentials(scenario.callers)  # minted for this run: an hour to live
        return measure(self.service.port, concurrency, scenario.factory, duration, warmup, self.meters, credentials)


def run_scenario(
    targets: list[Target],
    scenario: Scenario,
    backend: str,
    args: argparse.Namespace,
    concurrency: int | None = None,
) -> list[ScenarioResult]:
    """``--repeats`` measured runs in every mode, the modes one right after the other in each
    repeat (who goes first alternates); then (with ``--profile``) one more per mode under
    py-spy, not counted."""
    concurrency = concurrency or args.concurrency
    name = scenario.name if concurrency == args.concurrency else f"{scenario.name} (c={concurrency})"
    results = {id(t): ScenarioResult(backend, t.mode.name, name, scenario.description) for t in targets}
    for repeat in range(1, args.repeats + 1):
        for target in targets if repeat % 2 else targets[::-1]:
            figures = RunFigures.of(target.measure(scenario, concurrency, args.duration, args.warmup))
            results[id(target)].runs.append(figures)
            print(f"  {backend} {target.mode.name} {name} run {repeat}: {figures.line()}", flush=True)
            for sample in figures.error_samples:
                print(f"    error: {sample}", flush=True)
    if args.profile and concurrency == args.concurrency:
        for target in targets:
            label = f"{backend}-{target.mode.name}-{scenario.name}"
            recording = Recording(target.service.pid, args.duration, args.log_dir / f"profile-{label}.txt")
            target.measure(scenario, args.concurrency, args.duration, 0)
            recording.wait()
            print(format_summary(label, recording.output), flush=True)
    return [results[id(t)] for t in targets]


def bench_backend(
    backend: Backend, modes: list[Mode], args: argparse.Namespace
) -> tuple[list[ScenarioResult], str, dict[str, str]]:
    """Seed, start the service in every mode, run every scenario; the results, the seeding and
    the /healthz controls."""
    if args.seeder == "bulk":
        data = uvloop.run(seed_bulk(backend, args.contracts))
        how = "written directly by bench/bulk.py"
    else:
        data = uvloop.run(seed(backend, args.contracts, batch_size=args.batch_size))
        how = f"through Loader, batches of {args.batch_size}"
    seeding = (
        f"{args.contracts:,} contracts = {data.resources:,} resources in {data.seconds:.0f} s "
        f"({data.resources / data.seconds:,.0f} resources/s {how})"
    )
    print(f"seeded {backend.name}: {seeding}", flush=True)
    controls: dict[str, str] = {}
    with ExitStack() as stack:
        targets = []
        for each in modes:
            log = args.log_dir / f"server-{backend.name}-{each.name}.log"
            service = stack.enter_context(ServiceProcess(backend.url, log, each.environment))
            targets.append(Target(each, service, _meters(service, backend)))
        control = min(args.duration, 5)
        for target in targets:
            label = f"{backend.name} {target.mode.name} GET /healthz"
            controls[label] = healthz_rate(target.service.port, args.concurrency, control, target.meters)
            print(f"{label}: {controls[label]}", flush=True)
        results = []
        for name in args.scenarios:
            scenario = BUILDERS[name](data)
            results += run_scenario(targets, scenario, backend.name, args)
            if args.latency:
                results += run_scenario(targets, scenario, backend.name, args, concurrency=1)
        label = f"{backend.name} {targets[0].mode.name} GET /healthz after the scenarios"
        controls[label] = healthz_rate(targets[0].service.port, args.concurrency, control, targets[0].meters)
        print(f"{label}: {controls[label]}", flush=True)
    return results, seeding, controls


def _meters(service: ServiceProcess, backend: Backend) -> dict[str, Meter]:
    """CPU seconds of the service, of PostgreSQL (every backend process), and of the machine."""
    meters: dict[str, Meter] = {
        "server": lambda: cpu.process_cpu_seconds(service.pid),
        "machine": cpu.machine_busy_seconds,
    }
    if backend.postmaster_pid is not None:
        postmaster = backend.postmaster_pid
        meters["database"] = lambda: cpu.tree_cpu_seconds(postmaster)
    return meters


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    args.log_dir = RESULTS / f"{stamp}-logs"
    args.log_dir.mkdir(parents=True, exist_ok=True)
    command = [Path(sys.executable).name, "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)]
    facts = machine_facts(command)
    print(
        f"{facts['cpu_model']}, {facts['cores']} cores, Python {facts['python']}, load average "
        f"{facts['load_average'][0]:.2f}; the server, PostgreSQL and the load generator share these cores",
        flush=True,
    )
    started = time.perf_counter()
    ceilings = {"generator ceiling": generator_ceiling(args.concurrency, min(args.duration, 5))}
    print(f"generator ceiling: {ceilings['generator ceiling']}", flush=True)
    seeding: dict[str, str] = {}
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="fhirbridge-bench-issuer-") as keys:
        issuer = Issuer(Path(keys))
        modes = [mode(name, issuer) for name in args.mode]
        for name in args.backends:
            with fresh_backend(name) as backend:
                backend_results, seeding[name], controls = bench_backend(backend, modes, args)
                results += backend_results
                ceilings.update(controls)
    print()
    print(markdown_table(results))
    ratios = mode_ratios(results)
    if ratios is not None:
        print(f"\nProduction mode as a share of development mode, measured in the same run:\n\n{ratios}")
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    json_path, md_path = write_results(stamp, facts, settings, ceilings, seeding, results)
    elapsed = time.perf_counter() - started
    print(f"\nwritten: {md_path}, {json_path}; server logs and profiles: {args.log_dir}; {elapsed:.0f} s")
    return 1 if any(result.errors for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
