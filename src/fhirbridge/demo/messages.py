"""A demo patient's question about their contract, still awaiting a reply (issue 14.2 and 14.3):
what the patient sent through 1177 to their fixed care contact, shown on their overview under
"Väntar på svar" (:mod:`fhirbridge.contract.patient_messages`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fhirbridge.contract.codes import PATIENT_MESSAGE_SYSTEM, PATIENT_MESSAGES, concept

Resource = dict[str, Any]
STOCKHOLM = ZoneInfo("Europe/Stockholm")
ASKING = 1
"""The demo patient who asks (``demo-patient-00001``)."""
QUESTION = "Kan jag få byta promenaden mot vattengympa två gånger i veckan? Mina knän gör ont när jag går långt."


def pending_question(contract: Resource, today: date) -> Resource:
    """The patient's question about ``contract`` (category ``forslag-egen-insats``: a change to
    what they do themselves), sent two days ago to the contract's author, the fixed care contact."""
    contract_id = str(contract["id"])
    sent = datetime.combine(today - timedelta(days=2), time(19, 12), STOCKHOLM).isoformat()
    return {
        "resourceType": "Communication",
        "id": contract_id.replace("demo-contract-", "demo-question-"),
        "status": "in-progress",
        "category": [concept(PATIENT_MESSAGE_SYSTEM, PATIENT_MESSAGES, "forslag-egen-insats")],
        "subject": dict(contract["subject"]),
        "about": [{"reference": f"CarePlan/{contract_id}"}],
        "sent": sent,
        "sender": dict(contract["subject"]),
        "recipient": [dict(contract["author"])],
        "payload": [{"contentString": QUESTION}],
    }
