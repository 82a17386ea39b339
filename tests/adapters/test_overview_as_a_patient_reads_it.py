"""The overview as a patient reads it (issue 14, items 1 and 4), on the demo patients: their own
words apart from the care team's goals in plain words, dates in Swedish long form, the next visit
once with place, video and how to change it, contact cards that are actions, relatives, when the
plan was agreed and last changed by which unit, the other plans and who is responsible; and all
of it in English with ``Accept-Language: en`` or ``?lang=en``."""

from __future__ import annotations

import json
import re
from datetime import datetime
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from fhirbridge.adapters.mappings import mapping
from fhirbridge.adapters.overview.texts import Texts, choose_language

DIABETES, COPD = "demo-patient-00001", "demo-patient-00002"  # the demo's first two scenarios
WEEKDAYS = ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"]
MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november",
          "december"]  # fmt: skip
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def swedish_long(instant: str) -> str:
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(STOCKHOLM)
    return f"{WEEKDAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]} {moment.year} kl. {moment:%H.%M}"


def section(page: str, key: str) -> str:
    """One section of the page (first contract), as text without tags."""
    found = re.search(rf'<section aria-labelledby="{key}-1">(.*?)</section>', page, re.S)
    assert found, f"no section {key}"
    return unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def visible(page: str) -> str:
    body = page.split("</style>", 1)[1]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


async def read(client: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    response = await client.get(f"/fhir/{reference}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_patients_own_words_stand_apart_from_the_care_teams_goals(
    client: httpx.AsyncClient, demo: None
) -> None:
    page = (await client.get(f"/overview/{DIABETES}")).text
    mine, care = section(page, "whatMatters"), section(page, "careGoals")
    assert "trädgården" in mine and "HbA1c" not in mine
    assert "Vårdens mål" in care and "trädgården" not in care
    # plain words from the table, the rest as written
    assert "Att långtidsblodsockret (HbA1c, ett blodprov" in care and "HbA1c under 58" not in care
    assert "att fotsåret läker före midsommar" in care
    english = (await client.get(f"/overview/{DIABETES}", headers={"Accept-Language": "en"})).text
    assert "HbA1c under 58 means: your long-term blood sugar" in section(english, "careGoals")


async def test_a_relatives_words_are_the_patients_side_and_unmatched_jargon_stays_as_written(
    client: httpx.AsyncClient, demo: None
) -> None:
    relative = await read(client, "RelatedPerson/demo-relative-00001")
    goals = {
        "relative": (
            "vad-ar-viktigt",
            "Att mamma kan bo kvar hemma.",
            {"reference": "RelatedPerson/demo-relative-00001"},
        ),
        "doctor": ("gemensamt-mal", "LDL under 1,8 mmol/l.", {"reference": "PractitionerRole/role-ahmed-hassan"}),
    }
    contract = await read(client, "CarePlan/demo-contract-00001")
    for kind, text, by in goals.values():
        goal = {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "category": [{"coding": [{"system": "https://fhirbridge.se/fhir/CodeSystem/goal-kind", "code": kind}]}],
            "description": {"text": text},
            "subject": {"reference": f"Patient/{DIABETES}"},
            "expressedBy": by,
        }
        answer = await client.post("/fhir/Goal", json=goal)
        assert answer.status_code == 201, answer.text
        contract["goal"].append({"reference": f"Goal/{answer.json()['id']}"})
    assert (await client.put("/fhir/CarePlan/demo-contract-00001", json=contract)).status_code == 200
    page = (await client.get(f"/overview/{DIABETES}")).text
    mine, care = section(page, "whatMatters"), section(page, "careGoals")
    assert "Att mamma kan bo kvar hemma." in mine and f"Sagt av {relative['name'][0]['text']}" in mine
    assert "LDL under 1,8 mmol/l." in care  # not in the table: shown as is


async def test_the_next_visit_is_shown_once_in_long_form_with_its_place_and_how_to_change_it(
    client: httpx.AsyncClient, demo: None
) -> None:
    appointment = await read(client, "Appointment/demo-appointment-00001")
    page = (await client.get(f"/overview/{DIABETES}")).text
    when = swedish_long(appointment["start"])
    text = visible(page)
    assert text.count(when) == 1, when
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # no ISO dates for the patient to decode
    visit = section(page, "nextTime")
    assert "Var" in visit and "Vårdcentralen Norrtull" in visit and appointment["description"] in visit
    assert 'href="tel:026156200"' in page and "Ändra eller avboka på 1177" in visit  # from the mapping, per unit
    assert "Videobesök" not in visit


async def test_a_video_visit_says_how_to_join(client: httpx.AsyncClient, demo: None) -> None:
    visit = section((await client.get(f"/overview/{COPD}")).text, "nextTime")
    assert "Videobesök – du kan vara hemma" in visit and "Logga in på 1177 en stund före tiden" in visit
    assert "Öppna videobesöket på 1177" in visit and "Vårdcentralen Brynäs" not in visit


async def test_a_visit_at_a_location_shows_it(client: httpx.AsyncClient, demo: None) -> None:
    """This server stores no Location: the place is the participant's display (a Reference with
    ``type`` Location); a Location a server has would show its name and address."""
    appointment = await read(client, "Appointment/demo-appointment-00001")
    place = {"type": "Location", "display": "Vårdcentralen Norrtull, mottagning 2, Norra Kungsgatan 10, Gävle"}
    appointment["participant"].append({"actor": place, "status": "accepted"})
    assert (await client.put("/fhir/Appointment/demo-appointment-00001", json=appointment)).status_code == 200
    visit = section((await client.get(f"/overview/{DIABETES}")).text, "nextTime")
    assert "Vårdcentralen Norrtull, mottagning 2, Norra Kungsgatan 10, Gävle" in visit


async def test_contact_cards_are_actions_with_hours_from_one_source(client: httpx.AsyncClient, demo: None) -> None:
    page = (await client.get(f"/overview/{DIABETES}")).text
    contacts = section(page, "contacts")
    assert "Går att nå mån–fre kl. 08.00–16.00" in contacts  # the PractitionerRole's availableTime
    assert '<a href="tel:026156214">Ring 026-15 62 14</a>' in page
    links = mapping("overview")["units"]["default"]
    assert f'<a href="{links["message"]}">Skicka ett meddelande via 1177</a>' in page
    assert f'<a href="{links["booking"]}">Boka tid via 1177</a>' in page
    assert "Så når jag vården: Meddelande via 1177, Telefon" not in page
    # the agreed free text on whom to contact names no hours of its own to contradict the card
    for patient in (DIABETES, COPD, "demo-patient-00003", "demo-patient-00004"):
        body = (await client.get(f"/overview/{patient}", headers={"Accept": "application/json"})).json()
        assert not re.search(r"\d\s*[-–]\s*\d", " ".join(body["contracts"][0]["whom_to_contact"]))
    role = await read(client, "PractitionerRole/role-karin-lind")
    del role["availableTime"]
    assert (await client.put("/fhir/PractitionerRole/role-karin-lind", json=role)).status_code == 200
    hours = mapping("overview")["units"]["SE2321000198-VC0NT"]["hours"]
    assert hours == ["mon tue wed thu fri 08:00-16:00"]
    card = section((await client.get(f"/overview/{DIABETES}")).text, "contacts").split("Min fasta läkarkontakt")[0]
    assert "Karin Lind" in card and "Går att nå mån–fre kl. 08.00–16.00" in card  # the unit's hours in the mapping


async def test_relatives_and_when_the_plan_was_agreed_and_last_changed_by_which_unit(
    client: httpx.AsyncClient, demo: None
) -> None:
    relative = await read(client, "RelatedPerson/demo-relative-00001")
    contract = await read(client, "CarePlan/demo-contract-00001")
    page = (await client.get(f"/overview/{DIABETES}")).text
    contacts = section(page, "contacts")
    assert "Mina närstående" in contacts and f"{relative['name'][0]['text']} (barn)" in contacts
    digits = re.sub(r"[^\d]", "", relative["telecom"][0]["value"])
    assert f'href="tel:{digits}"' in page
    created = datetime.fromisoformat(contract["created"])
    agreed = f"{created.day} {MONTHS[created.month - 1]} {created.year}"
    statement = re.search(r'<p class="agreement">(.*?)</p>', page)
    assert statement and page.index('class="agreement"') < page.index("<section")
    assert "Det här är planen som du och vården har kommit överens om tillsammans." in statement.group(1)
    assert f"Överenskommet med dig den {agreed}." in statement.group(1)
    provenances = await client.get(
        "/fhir/Provenance", params={"target": "CarePlan/demo-contract-00001", "_sort": "-recorded"}
    )
    last = next(e["resource"] for e in provenances.json()["entry"] if "onBehalfOf" in e["resource"]["agent"][0])
    unit = await read(client, last["agent"][0]["onBehalfOf"]["reference"])
    when = datetime.fromisoformat(last["recorded"].replace("Z", "+00:00")).astimezone(STOCKHOLM)
    assert when.date() > created.date()  # the demo contract was revised after it was agreed
    revision = f"Senast ändrad {when.day} {MONTHS[when.month - 1]} {when.year} av {unit['name']}."
    assert revision in statement.group(1), statement.group(1)

    contract["activity"][0]["detail"]["description"] = "Jag promenerar 30 minuter varje dag."
    header = {"resourceType": "Provenance", "agent": [{"who": {"display": "Anna Wikström"},
              "onBehalfOf": {"reference": "Organization/org-hemsjukvard-gavle"}}]}  # fmt: skip
    revised = await client.put(
        "/fhir/CarePlan/demo-contract-00001", json=contract, headers={"X-Provenance": json.dumps(header)}
    )
    assert revised.status_code == 200, revised.text
    today = datetime.now(STOCKHOLM)
    page = (await client.get(f"/overview/{DIABETES}")).text
    changed = f"Senast ändrad {today.day} {MONTHS[today.month - 1]} {today.year} av Hemsjukvården, Gävle kommun."
    assert changed in page and f"Överenskommet med dig den {agreed}." in page


async def test_other_plans_in_plain_words_with_who_is_responsible(client: httpx.AsyncClient, demo: None) -> None:
    page = (await client.get(f"/overview/{COPD}")).text
    plans = section(page, "otherPlans")
    assert "Samordnad individuell plan (SIP) – ansvarig: Gävle kommun" in re.sub(r"\s+", " ", plans)
    assert "som ansvarar är" not in page and "SIP för" not in plans


@pytest.mark.parametrize(
    ("headers", "query"),
    [({"Accept-Language": "en"}, ""), ({"Accept-Language": "de, en-GB;q=0.8, sv;q=0.5"}, ""), ({}, "?lang=en")],
)
async def test_the_page_in_english(client: httpx.AsyncClient, demo: None, headers: dict[str, str], query: str) -> None:
    response = await client.get(f"/overview/{COPD}{query}", headers=headers)
    page = response.text
    assert response.headers["content-language"] == "en" and '<html lang="en">' in page
    assert "accept-language" in response.headers["vary"].lower()
    for heading in ("What matters to me and my goals", "My care team&#x27;s goals", "My next appointment",
                    "What I do myself", "What my care team does", "Who I contact", "My other plans"):  # fmt: skip
        assert heading in page
    assert "This is the plan that you and your care team have agreed on together." in page
    assert re.search(r"(Monday|Tuesday|Wednesday|Thursday|Friday) \d{1,2} [A-Z][a-z]+ \d{4} at \d\d:\d\d", page)
    assert "Video appointment – you can be at home" in page and "Coordinated individual plan (SIP)" in page
    assert '<a href="?lang=sv" hreflang="sv" lang="sv">På svenska</a>' in page
    assert '<span lang="sv">Att kunna duscha själv' in page  # what was written stays Swedish, marked so
    texts = mapping("overview")["texts"]
    for key, entry in texts.items():  # no fixed Swedish words on the English page
        if "{" not in entry["sv"] and entry["sv"] and entry["sv"] != entry["en"]:
            assert f">{entry['sv']}<" not in page, key


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, ""), ({"Accept-Language": "fr"}, ""), ({"Accept-Language": "en;q=0.3, sv"}, ""),
     ({"Accept-Language": "en"}, "?lang=sv")],
)  # fmt: skip
async def test_swedish_stays_the_default(
    client: httpx.AsyncClient, demo: None, headers: dict[str, str], query: str
) -> None:
    response = await client.get(f"/overview/{COPD}{query}", headers=headers)
    assert response.headers["content-language"] == "sv" and '<html lang="sv">' in response.text
    assert '<a href="?lang=en" hreflang="en" lang="en">In English</a>' in response.text
    assert "Det här är viktigt för mig och mina mål" in response.text and 'lang="sv">Att' not in response.text


async def test_an_error_page_in_english(client: httpx.AsyncClient) -> None:
    page = await client.get("/overview/finns-inte", headers={"Accept-Language": "en"})
    assert page.status_code == 404 and '<html lang="en">' in page.text and "There is no such patient." in page.text
    assert page.headers["content-language"] == "en"


def test_every_fixed_text_has_a_swedish_and_an_english_column() -> None:
    table = mapping("overview")
    for section_name in ("texts", "roles", "planTypes"):
        for key, entry in table[section_name].items():
            assert set(entry) == {"sv", "en"}, (section_name, key)
    for entry in table["plainLanguage"]["entries"]:
        assert entry["term"] and entry["sv"] and entry["en"]


@pytest.mark.parametrize(
    ("instant", "language", "expected"),
    [
        ("2027-01-14T08:30:00Z", "sv", "torsdag 14 januari 2027 kl. 09.30"),  # winter: UTC+1
        ("2026-07-02T07:30:00Z", "sv", "torsdag 2 juli 2026 kl. 09.30"),  # summer: UTC+2
        ("2027-01-14T09:30:00+01:00", "en", "Thursday 14 January 2027 at 09:30"),
        ("2027-03-28", "sv", "28 mars 2027"),
    ],
)
def test_dates_in_long_form_in_stockholm_time(instant: str, language: str, expected: str) -> None:
    assert Texts(mapping("overview"), language).moment(instant) == expected


@pytest.mark.parametrize(
    ("requested", "header", "expected"),
    [(None, None, "sv"), ("en", None, "en"), ("xx", "en", "en"), (None, "en-US,en;q=0.9", "en"), (None, "*", "sv"),
     (None, "sv;q=0, en;q=0.1", "en"), (None, "en;q=abc", "sv")],
)  # fmt: skip
def test_the_language_chosen(requested: str | None, header: str | None, expected: str) -> None:
    assert choose_language(requested, header, ["sv", "en"]) == expected


async def test_what_awaits_a_reply_and_the_patients_own_answers(client: httpx.AsyncClient, demo: None) -> None:
    """Issue 14.2: the demo patient's question to the fixed care contact "Väntar på svar", and
    the answers to the seven questions as "Dina svar", in the Questionnaire's own words."""
    page = (await client.get(f"/overview/{DIABETES}")).text
    awaiting = section(page, "awaiting")
    assert "Väntar på svar" in awaiting and "Ditt förslag om vad du gör själv" in awaiting
    assert "vattengympa" in awaiting and "Svar från vården" not in awaiting
    answers = visible(page).split("Dina svar på de sju frågorna den ")[1]
    assert "Har du en fast vårdkontakt? (vid behov)" in answers and re.search(r"\? (Ja|Nej) ", answers)
    english = (await client.get(f"/overview/{DIABETES}?lang=en")).text
    assert "Awaiting reply" in english and "Your answers" in english and "Do you know your next step?" in english


def test_the_seven_questions_on_the_page_are_the_questionnaires() -> None:
    with open("profiles/Questionnaire-seven-questions-patient.json", encoding="utf-8") as file:
        questionnaire = json.load(file)
    table = mapping("overview")["sevenQuestions"]
    assert {item["linkId"]: item["text"] for item in questionnaire["item"]} == {
        key: words["sv"] for key, words in table.items() if not key.startswith("_")
    }
