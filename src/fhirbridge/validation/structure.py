"""Structure and primitive formats, checked by the ``fhir.resources`` R4B models.

R4B and R4 are identical for the resources stored here (see DOMAIN.md); the models check the
primitive regular expressions (dates, ids, URIs) that the JSON-form walker leaves to them.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhirbridge.errors import Issue, error

log = logging.getLogger(__name__)


@cache
def model_class(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def _fhirpath(resource_type: str, location: tuple[int | str, ...]) -> str:
    path = resource_type
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        name = str(part)
        if name.endswith("__ext"):
            name = "_" + name[: -len("__ext")]
        elif name.endswith("_") and not name.startswith("_"):
            name = name[:-1]
        path += f".{name}"
    return path


def check_structure(resource: dict[str, Any]) -> list[Issue]:
    """Validate with the R4B model; each pydantic error becomes an issue naming its element."""
    resource_type = resource["resourceType"]
    try:
        model_class(resource_type).model_validate(resource)
    except ValidationError as exc:
        issues = []
        for problem in exc.errors(include_url=False):
            message = str(problem.get("msg", "invalid value")).removeprefix("Value error, ")
            issues.append(error("structure", message, _fhirpath(resource_type, tuple(problem.get("loc", ())))))
        return issues
    except ValueError as exc:  # model-level rules that raise outside pydantic's wrapper say what is wrong
        return [error("structure", str(exc), resource_type)]
    except TypeError:  # the model tripped over the input itself: its message is about Python, not FHIR
        log.warning("the R4 model of %s failed on a resource", resource_type, exc_info=True)
        return [error("structure", f"The {resource_type} does not fit the FHIR R4 model", resource_type)]
    return []
