"""The write path's rule on whom a QuestionnaireResponse answers about (R4
questionnaire.html ``subjectType``), judged once the write path has normalised the references."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fhirbridge.errors import invalid
from fhirbridge.questionnaires.answers import subject_issues

if TYPE_CHECKING:
    from fhirbridge.validation.pipeline import ValidatedResource
    from fhirbridge.writes.unit_of_work import UnitOfWork


async def answered_about(unit: UnitOfWork, validated: ValidatedResource) -> ValidatedResource:
    """A write enricher: :func:`subject_issues` once the write path has normalised the
    references (so every form of the subject is judged as its literal form), 422 naming the
    subject; ``$validate`` (a dry run of the write) answers alike."""
    if validated.resource_type == "QuestionnaireResponse" and (issues := subject_issues(validated.resource)):
        raise invalid(issues, status=422)
    return validated
