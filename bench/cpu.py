"""CPU time of processes, from ``/proc`` (Linux).

What it measures: user + system CPU seconds of a process (all its threads), or of a
PostgreSQL cluster (the postmaster and every backend it started).  Divided by the wall time
of a run, that is how many of the machine's cores each party used: the server, the
database, and the load generator (which reads its own with ``time.process_time``), and the
whole machine, so that what other processes used meanwhile shows as well.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its closing ')' is fixed.
    return text[text.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def children(parent: int) -> list[int]:
    """Direct children of ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy (not idle, not waiting for I/O)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    # user, nice, system, idle, iowait, irq, softirq; steal and guest are not this machine's work
    return (sum(fields[:7]) - idle - iowait) / _TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and its direct children (a postmaster and its backends)."""
    return process_cpu_seconds(root) + sum(process_cpu_seconds(pid) for pid in children(root))
