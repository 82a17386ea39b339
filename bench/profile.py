"""Optional sampling profile of the server under load, with py-spy (``--profile``).

py-spy is not a project dependency: ``.venv/bin/pip install py-spy``.  While one run of a
scenario is measured, ``py-spy record --gil --format raw`` samples the thread holding the
server's GIL (without pausing the process) and writes collapsed stacks: one worker can run
Python on one core only, so these samples are what limits its throughput.  Samples whose
top frame is ``Runner.run`` are uvloop's own C code (socket I/O, HTTP parsing, callbacks).

:func:`summarise` ranks the functions that held the GIL by *self* samples (the frame on top
of the stack) and by *inclusive* samples (anywhere on the stack; fhirbridge's own code only),
as a share of all samples taken.  The raw file is the collapsed-stack format that flame
graph tools read.

``BENCH_PROFILE_ALL_THREADS=1`` samples every thread instead, whether it holds the GIL or not:
time spent inside SQLite (which lets the GIL go) then shows, under the Python frame that
called it, and so do threads that wait.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

OWN_CODE = "fhirbridge/"
_ROOTS = ("fhirbridge/cli/",)  # the process's entry point: on every stack, says nothing
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """``py-spy record`` of ``pid`` for ``seconds``, as raw collapsed stacks and a flame graph."""

    def __init__(self, pid: int, seconds: float, output: Path) -> None:
        command = py_spy()
        if command is None:
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.output = output
        common = [
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--nonblocking",
            *(() if os.environ.get("BENCH_PROFILE_ALL_THREADS") else ("--gil",)),
        ]
        self._process = subprocess.Popen(
            [command, "record", *common, "--format", "raw", "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait(self) -> None:
        self._process.wait(timeout=120)


@dataclass(frozen=True)
class Hotspot:
    function: str
    share: float


def _frame_name(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['function']} ({match['file']})"


def summarise(raw: Path, top: int = 12) -> tuple[int, list[Hotspot], list[Hotspot]]:
    """Total samples, the top functions by self samples and by inclusive samples."""
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        total += count
        self_samples[frames[-1]] += count
        for name in set(frames):
            if OWN_CODE in name and not any(root in name for root in _ROOTS):
                inclusive[name] += count
    if total == 0:
        return 0, [], []

    def ranked(counter: Counter[str]) -> list[Hotspot]:
        return [Hotspot(name, count / total) for name, count in counter.most_common(top)]

    return total, ranked(self_samples), ranked(inclusive)


def format_summary(title: str, raw: Path, top: int = 12) -> str:
    total, by_self, by_inclusive = summarise(raw, top)
    lines = [f"profile {title}: {total} samples ({raw})"]
    lines.append("  self:")
    lines += [f"    {spot.share:6.1%}  {spot.function}" for spot in by_self]
    lines.append("  inclusive (fhirbridge code):")
    lines += [f"    {spot.share:6.1%}  {spot.function}" for spot in by_inclusive]
    return "\n".join(lines)
