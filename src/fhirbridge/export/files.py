"""Where a job's NDJSON files live: ``[export_dir]/[job id]/[type].ndjson``, one file a type
(Bulk Data export.html#file-request).  A file is written beside its final name and renamed when
whole, so that a manifest never lists a file still being written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fhirbridge.errors import not_found

_FILE = re.compile(r"^[A-Z][A-Za-z]{1,63}\.ndjson$")
_JOB = re.compile(r"^[0-9a-f]{32}$")


def job_folder(root: Path, job_id: str) -> Path:
    return root / job_id


def output_name(resource_type: str) -> str:
    return f"{resource_type}.ndjson"


def output_file(root: Path, job_id: str, name: str) -> Path:
    """The path of one of a job's files; a 404 for a name no job's file has (no path can leave
    the job's folder)."""
    if not _JOB.match(job_id) or not _FILE.match(name):
        raise not_found("No export file lives at this address")
    return job_folder(root, job_id) / name


def remove(root: Path, job_id: str) -> None:
    """Delete a job's files (a cancelled, restarted or expired job)."""
    if _JOB.match(job_id):
        shutil.rmtree(job_folder(root, job_id), ignore_errors=True)
