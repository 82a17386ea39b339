"""OperationOutcome resources (R4 operationoutcome.html)."""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import Issue


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome with the given issues (at least one, as R4 requires)."""
    if not issues:
        issues = [Issue("information", "informational", "All OK")]
    return {"resourceType": "OperationOutcome", "issue": [issue.to_fhir() for issue in issues]}


def information(diagnostics: str) -> dict[str, Any]:
    return operation_outcome([Issue("information", "informational", diagnostics)])
