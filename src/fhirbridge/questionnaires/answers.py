"""A QuestionnaireResponse checked against its Questionnaire (R4 questionnaireresponse.html).

Pure: the Questionnaire comes from the server's own (:mod:`fhirbridge.conformance.registry`),
so a response can only answer one of those, and only an active one.  What is checked, each
problem an issue naming the element (``QuestionnaireResponse.item[1].item[0].answer[0]``):

* every item's linkId is an item at that place in the Questionnaire's tree (a group's items
  under the group, a question's nested items under its answers), at most once per level;
* a group has no answers, a display item neither answers nor items;
* each answer's ``value[x]`` fits the item's type (R4 questionnaire.html#item.type): boolean →
  ``valueBoolean``, string and text → ``valueString``, choice → ``valueCoding`` from the
  ``answerValueSet`` (our value sets are looked up) or one of the ``answerOption``s, reference →
  ``valueReference`` to a type the ``questionnaire-referenceResource`` extension allows …;
* a non-repeating item has at most one answer;
* an item disabled by its ``enableWhen`` (evaluated on the response's own answers, combined by
  ``enableBehavior``; everything under a disabled item is disabled too) has no answers;
* when the response is ``completed``, every required item that is enabled is answered (a group:
  present with its required items); an ``in-progress`` response may leave them out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhirbridge.conformance.registry import registry
from fhirbridge.errors import Issue
from fhirbridge.fhir.references import parse_reference, referenced_type

ROOT = "QuestionnaireResponse"
REFERENCE_RESOURCE = "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource"
VALUE_KEYS = {
    "boolean": ("valueBoolean",),
    "decimal": ("valueDecimal",),
    "integer": ("valueInteger",),
    "date": ("valueDate",),
    "dateTime": ("valueDateTime",),
    "time": ("valueTime",),
    "string": ("valueString",),
    "text": ("valueString",),
    "url": ("valueUri",),
    "choice": ("valueCoding",),
    "open-choice": ("valueCoding", "valueString"),
    "attachment": ("valueAttachment",),
    "reference": ("valueReference",),
    "quantity": ("valueQuantity",),
}
"""R4 questionnaire.html#item.type: the answer value an item of each type takes."""
NO_ANSWERS = ("group", "display")


def _issue(code: str, text: str, where: str) -> Issue:
    return Issue("error", code, text, (where,))


def questionnaire_of(response: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Issue]]:
    """The active Questionnaire of this server that ``response.questionnaire`` names (with or
    without ``|version``), or the issue why there is none."""
    where = f"{ROOT}.questionnaire"
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str):
        return None, [_issue("required", "A response names the Questionnaire it answers (a canonical URL)", where)]
    found = registry().resolve(canonical)
    if found is None or found.get("resourceType") != "Questionnaire":
        return None, [_issue("not-found", f"{canonical} is not a Questionnaire of this server", where)]
    _, _, version = canonical.partition("|")
    if version and found.get("version") not in (None, version):
        return None, [_issue("not-found", f"{found['url']} has version {found['version']}, not {version}", where)]
    if found.get("status") != "active":
        return None, [_issue("business-rule", f"{found['url']} is {found.get('status')}: it takes no answers", where)]
    return found, []


def check_response(response: dict[str, Any]) -> list[Issue]:
    """Every issue of ``response`` against its Questionnaire (empty: it fits)."""
    questionnaire, issues = questionnaire_of(response)
    if questionnaire is None:
        return issues
    answers = _answers_by_link_id(response.get("item"))
    checker = _Checker(answers, completed=response.get("status") == "completed")
    checker.items(questionnaire.get("item", []), response.get("item"), ROOT, enabled=True)
    return checker.issues


def subject_issues(response: dict[str, Any]) -> list[Issue]:
    """The response's subject must be of a type its Questionnaire is about (``subjectType``,
    R4 questionnaire.html): the seven questions to staff are about their unit (an
    Organization), those to patients about the patient, so a patient cannot answer as staff.
    Judged on the subject as stored: after the write path has made a reference by identifier,
    by absolute URL or by ``urn:uuid`` literal
    (:func:`fhirbridge.questionnaires.subject_rule.answered_about`)."""
    questionnaire, _ = questionnaire_of(response)
    kinds = (questionnaire or {}).get("subjectType")
    if not isinstance(kinds, list) or not kinds or referenced_type(response.get("subject")) in kinds:
        return []
    wanted = " or ".join(kinds)
    where = f"{ROOT}.subject"
    return [_issue("invariant", f"{(questionnaire or {}).get('url')} is answered about a {wanted} (subject)", where)]


class _Checker:
    def __init__(self, answers: dict[str, list[dict[str, Any]]], *, completed: bool) -> None:
        self.answers = answers
        self.completed = completed
        self.issues: list[Issue] = []

    def items(self, definitions: list[dict[str, Any]], given: Any, where: str, *, enabled: bool) -> None:
        """The response's items at one level (``where``: their parent) against the
        Questionnaire's items at the same level."""
        by_link_id = {d.get("linkId"): d for d in definitions}
        seen: set[str] = set()
        for index, item in enumerate(given if isinstance(given, list) else []):
            at = f"{where}.item[{index}]"
            link_id = item.get("linkId") if isinstance(item, dict) else None
            definition = by_link_id.get(link_id)
            if definition is None or not isinstance(link_id, str):
                self.issues.append(_issue("structure", f"{link_id!r} is not an item at this place", at))
                continue
            if link_id in seen:
                self.issues.append(_issue("structure", f"{link_id} is answered more than once at one level", at))
                continue
            seen.add(link_id)
            self.item(definition, item, at, enabled=enabled and self.enabled(definition))
        if self.completed and enabled:
            for definition in definitions:
                if definition.get("required") and definition.get("linkId") not in seen and self.enabled(definition):
                    self.issues.append(
                        _issue(
                            "required",
                            f"{definition.get('linkId')} ({definition.get('text', '')}) is required in a completed "
                            "response",
                            f"{where}.item",
                        )
                    )

    def item(self, definition: dict[str, Any], item: dict[str, Any], at: str, *, enabled: bool) -> None:
        kind = definition.get("type")
        given = item.get("answer")
        answers: list[Any] = given if isinstance(given, list) else []
        children = definition.get("item", [])
        if not enabled and (answers or item.get("item")):
            self.issues.append(
                _issue(
                    "business-rule", f"{item['linkId']} is not enabled by the answers given: it takes no answers", at
                )
            )
            return
        if kind in NO_ANSWERS:
            if answers:
                self.issues.append(_issue("structure", f"{item['linkId']} is a {kind}: it has no answers", at))
            if kind == "display" and item.get("item"):
                self.issues.append(_issue("structure", f"{item['linkId']} is a display item: it has no items", at))
            self.items(children, item.get("item"), at, enabled=enabled)
            return
        if item.get("item"):
            self.issues.append(
                _issue("structure", f"{item['linkId']} is a question: its nested items go under its answers", at)
            )
        if len(answers) > 1 and not definition.get("repeats"):
            self.issues.append(_issue("structure", f"{item['linkId']} takes one answer", f"{at}.answer[1]"))
        if self.completed and enabled and definition.get("required") and not answers:
            self.issues.append(_issue("required", f"{item['linkId']} is required in a completed response", at))
        for index, answer in enumerate(answers):
            answer_at = f"{at}.answer[{index}]"
            if isinstance(answer, dict):
                self.value(definition, answer, answer_at)
                if answer.get("item") and not children:
                    self.issues.append(_issue("structure", f"{item['linkId']} has no nested items", answer_at))
                elif children:
                    self.items(children, answer.get("item"), answer_at, enabled=enabled)

    def value(self, definition: dict[str, Any], answer: dict[str, Any], at: str) -> None:
        kind = str(definition.get("type"))
        keys = [key for key in answer if key.startswith("value")]
        allowed = VALUE_KEYS.get(kind, ())
        if definition.get("answerOption") and kind in ("choice", "open-choice"):
            allowed = tuple({*allowed, *(k for o in definition["answerOption"] for k in o if k.startswith("value"))})
        if len(keys) != 1 or keys[0] not in allowed:
            found = keys[0] if keys else "no value"
            text = f"{definition['linkId']} is a {kind} item: its answer is {' or '.join(allowed)}, not {found}"
            self.issues.append(_issue("value", text, at))
            return
        key, value = keys[0], answer[keys[0]]
        if key == "valueCoding" or (kind in ("choice", "open-choice") and definition.get("answerOption")):
            self.choice(definition, key, value, at)
        elif key == "valueReference":
            self.reference(definition, value, at)

    def choice(self, definition: dict[str, Any], key: str, value: Any, at: str) -> None:
        options = [o[key] for o in definition.get("answerOption", []) if key in o]
        free_text = definition.get("type") == "open-choice" and key == "valueString"
        if options and not free_text and not any(_same(key, value, option) for option in options):
            self.issues.append(_issue("value", f"{definition['linkId']}: not one of the answer options", at))
        if options:
            return
        value_set = definition.get("answerValueSet")
        codes = registry().codes(value_set) if isinstance(value_set, str) else None
        if codes is not None and key == "valueCoding" and (value.get("system"), value.get("code")) not in codes:
            text = f"{definition['linkId']}: {value.get('system')}#{value.get('code')} is not in {value_set}"
            self.issues.append(_issue("code-invalid", text, f"{at}.valueCoding"))

    def reference(self, definition: dict[str, Any], value: Any, at: str) -> None:
        allowed = {e.get("valueCode") for e in definition.get("extension", []) if e.get("url") == REFERENCE_RESOURCE}
        if not allowed or not isinstance(value, dict):
            return
        parsed = parse_reference(value["reference"]) if isinstance(value.get("reference"), str) else None
        target = parsed.resource_type if parsed is not None and parsed.resource_type else value.get("type")
        if target not in allowed:
            kinds = " or ".join(sorted(map(str, allowed)))
            text = f"{definition['linkId']} refers to a {kinds}, not {target or 'a resource of unknown type'}"
            self.issues.append(_issue("value", text, f"{at}.valueReference"))

    def enabled(self, definition: dict[str, Any]) -> bool:
        """R4 questionnaire.html#item.enableWhen, on the response's answers."""
        conditions = definition.get("enableWhen")
        if not conditions:
            return True
        results = (self.condition(condition) for condition in conditions)
        return any(results) if definition.get("enableBehavior") == "any" else all(results)

    def condition(self, condition: dict[str, Any]) -> bool:
        answers = [a for a in self.answers.get(condition.get("question", ""), []) if _value(a) is not None]
        operator = condition.get("operator")
        expected_key = next((k for k in condition if k.startswith("answer")), None)
        if expected_key is None:
            return False
        expected = condition[expected_key]
        if operator == "exists":
            return bool(answers) == bool(expected)
        key = "value" + expected_key[len("answer") :]
        values = [answer[key] for answer in answers if key in answer]
        if operator == "=":
            return any(_same(key, value, expected) for value in values)
        if operator == "!=":
            return any(not _same(key, value, expected) for value in values)
        return any(_compare(operator, value, expected) for value in values)


def _value(answer: dict[str, Any]) -> tuple[str, Any] | None:
    return next(((k, v) for k, v in answer.items() if k.startswith("value")), None)


def _same(key: str, value: Any, expected: Any) -> bool:
    if key == "valueCoding" and isinstance(value, dict) and isinstance(expected, dict):
        return (value.get("system"), value.get("code")) == (expected.get("system"), expected.get("code"))
    if key == "valueReference" and isinstance(value, dict) and isinstance(expected, dict):
        return value.get("reference") == expected.get("reference")
    return bool(value == expected)


def _compare(operator: Any, value: Any, expected: Any) -> bool:
    if isinstance(value, dict) and isinstance(expected, dict):  # a Quantity
        value, expected = value.get("value"), expected.get("value")
    try:
        if operator == ">":
            return bool(value > expected)
        if operator == "<":
            return bool(value < expected)
        if operator == ">=":
            return bool(value >= expected)
        if operator == "<=":
            return bool(value <= expected)
    except TypeError:
        return False
    return False


def _answers_by_link_id(items: Any) -> dict[str, list[dict[str, Any]]]:
    """Every answer of the response by its item's linkId (linkIds are unique in a
    Questionnaire, R4 que-2), nested ones included."""
    found: dict[str, list[dict[str, Any]]] = {}
    for item in _walk(items):
        answers = item.get("answer")
        if isinstance(item.get("linkId"), str) and isinstance(answers, list):
            found.setdefault(item["linkId"], []).extend(a for a in answers if isinstance(a, dict))
    return found


def _walk(items: Any) -> Iterator[dict[str, Any]]:
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        yield item
        yield from _walk(item.get("item"))
        for answer in item.get("answer") or []:
            if isinstance(answer, dict):
                yield from _walk(answer.get("item"))
