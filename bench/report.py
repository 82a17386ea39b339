"""Machine facts, the results table, and the files under ``bench/results/``.

Each scenario's figure is the median over its repeats (of requests/s, p50, p99 and the
slowest request, separately); errors are summed over the repeats, because any error makes a
run invalid.  Where a scenario ran in both modes, a second table gives production mode's
requests/s as a share of development mode's, both measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.loadgen import RunResult

RESULTS = Path(__file__).resolve().parent / "results"
MODE_MEANING = {
    "production": "production (bearer tokens from the bench's own issuer, the access policy, the access log)",
    "development": "development (FHIRBRIDGE_AUTH=off, no token; the access log is written)",
}


@dataclass
class RunFigures:
    """One measured run of one scenario."""

    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    statuses: dict[str, int]
    server_cores: float
    database_cores: float | None
    generator_cores: float
    generator_us_per_request: float
    other_cores: float
    load_before: float
    error_samples: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, result: RunResult) -> RunFigures:
        cores = result.cores
        ours = sum(cores.get(name, 0.0) for name in ("server", "database", "generator"))
        return cls(
            rate=result.rate,
            p50_ms=result.percentile_ms(0.5),
            p99_ms=result.percentile_ms(0.99),
            max_ms=result.max_ms,
            requests=result.requests,
            errors=result.errors,
            statuses={str(status): count for status, count in sorted(result.statuses.items())}
            | {f"failed: {kind}": count for kind, count in result.failures.items()},
            server_cores=cores["server"],
            database_cores=cores.get("database"),
            generator_cores=cores["generator"],
            generator_us_per_request=generator_us_per_request(result),
            other_cores=max(0.0, cores["machine"] - ours),
            load_before=os.getloadavg()[0],
            error_samples=result.error_samples,
        )

    def line(self) -> str:
        return (
            f"{self.rate:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms, "
            f"{self.errors} errors; "
            f"cores: server {self.server_cores:.2f}"
            + ("" if self.database_cores is None else f", db {self.database_cores:.2f}")
            + f", generator {self.generator_cores:.2f}, others {self.other_cores:.2f}"
        )


def generator_us_per_request(result: RunResult) -> float:
    """The generator's CPU microseconds per completed request."""
    return result.cores["generator"] * result.duration_s / max(result.requests, 1) * 1e6


@dataclass
class ScenarioResult:
    backend: str
    mode: str
    scenario: str
    description: str
    runs: list[RunFigures] = field(default_factory=list)

    def median(self, name: str) -> float | None:
        """The median of one figure over the runs (None when no run has it, e.g. db cores on SQLite)."""
        values = [getattr(run, name) for run in self.runs if getattr(run, name) is not None]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)


def machine_facts(command: list[str]) -> dict[str, Any]:
    """CPU model, cores, memory, Python, date and the command line of this run."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(command),
        "load_average": os.getloadavg(),
    }


_COLUMNS = (
    ("rate", 0),
    ("p50_ms", 1),
    ("p99_ms", 1),
    ("max_ms", 1),
    ("server_cores", 2),
    ("database_cores", 2),
    ("generator_cores", 2),
    ("other_cores", 2),
)


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown_table(results: list[ScenarioResult]) -> str:
    """backend | mode | scenario | req/s | p50 ms | p99 ms | max ms | errors, plus where the
    CPU went: cores used by the server, PostgreSQL, the generator, and everything else on the
    machine."""
    lines = [
        "| backend | mode | scenario | req/s | p50 ms | p99 ms | max ms | errors | server cores | db cores "
        "| generator cores | other cores |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        cells = [_cell(result.median(name), digits) for name, digits in _COLUMNS]
        lines.append(
            f"| {result.backend} | {result.mode} | {result.scenario} | {' | '.join(cells[:4])} | {result.errors} | "
            f"{' | '.join(cells[4:])} |"
        )
    return "\n".join(lines)


def mode_ratios(results: list[ScenarioResult]) -> str | None:
    """Production mode's median requests/s over development mode's, per backend and scenario
    measured in both (None when no scenario was)."""
    by_mode = {(r.backend, r.scenario, r.mode): r for r in results}
    lines = [
        "| backend | scenario | production req/s | development req/s | production ÷ development |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for result in results:
        other = by_mode.get((result.backend, result.scenario, "development"))
        if result.mode != "production" or other is None:
            continue
        production, development = result.median("rate") or 0.0, other.median("rate") or 0.0
        ratio = f"{production / development:.2f}×" if development else "-"
        lines.append(f"| {result.backend} | {result.scenario} | {production:,.0f} | {development:,.0f} | {ratio} |")
    return "\n".join(lines) if len(lines) > 2 else None


def write_results(
    stamp: str,
    facts: dict[str, Any],
    settings: dict[str, Any],
    ceilings: dict[str, Any],
    seeding: dict[str, Any],
    results: list[ScenarioResult],
) -> tuple[Path, Path]:
    """Write ``<stamp>.json`` and ``<stamp>.md`` under bench/results/; return their paths."""
    RESULTS.mkdir(exist_ok=True)
    document = {
        "machine": facts,
        "settings": settings,
        "ceilings": ceilings,
        "seeding": seeding,
        "results": [
            {
                **{key: value for key, value in asdict(result).items() if key != "runs"},
                "median": {name: result.median(name) for name, _ in _COLUMNS},
                "errors": result.errors,
                "runs": [asdict(run) for run in result.runs],
            }
            for result in results
        ],
    }
    json_path = RESULTS / f"{stamp}.json"
    json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    md_path = RESULTS / f"{stamp}.md"
    md_path.write_text(markdown_report(facts, settings, ceilings, seeding, results))
    return json_path, md_path


def markdown_report(
    facts: dict[str, Any],
    settings: dict[str, Any],
    ceilings: dict[str, Any],
    seeding: dict[str, Any],
    results: list[ScenarioResult],
) -> str:
    machine = (
        f"{facts['cpu_model']}, {facts['cores']} cores, {facts['memory_gib']} GiB, Linux {facts['kernel']}, "
        f"Python {facts['python']}"
    )
    lines = [
        f"# fhirbridge benchmark, {facts['date']}",
        "",
        f"- command: `{facts['command']}`",
        f"- machine: {machine}; load average at start {', '.join(f'{x:.2f}' for x in facts['load_average'])}",
        "- one uvicorn worker; the load generator runs on the same cores as the server (and PostgreSQL)",
        f"- {settings['contracts']:,} contracts per backend, concurrency {settings['concurrency']}, "
        f"{settings['duration']} s per run after {settings['warmup']} s warm-up, median of {settings['repeats']} runs",
        f"- modes: {', '.join(MODE_MEANING[name] for name in settings['mode'])}",
    ]
    for name, figure in ceilings.items():
        lines.append(f"- {name}: {figure}")
    for backend, figure in seeding.items():
        lines.append(f"- seeding {backend}: {figure}")
    lines += ["", markdown_table(results), ""]
    ratios = mode_ratios(results)
    if ratios is not None:
        lines += ["Production mode as a share of development mode, measured in the same run:", "", ratios, ""]
    return "\n".join(lines)
