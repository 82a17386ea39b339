"""The contract rules that every write passes, in the write transaction (STYLE.md: one write path).

One place builds them from the settings, so the REST API, ``fhirbridge load`` and
``fhirbridge demo`` enforce the same rules.
"""

from __future__ import annotations

from fhirbridge.config import Settings
from fhirbridge.contract.fixed_contact_rule import FixedContactPolicy, FixedContactRule
from fhirbridge.writes.events import WriteListener
from fhirbridge.writes.provenance import ProvenanceRecorder


def contract_listeners(settings: Settings) -> tuple[WriteListener, ...]:
    """The write listeners of a deployment, in the order they run before commit."""
    policy = FixedContactPolicy(
        care_contacts_per_patient=settings.fixed_care_contacts_per_patient,
        doctors_per_patient=settings.fixed_doctors_per_patient,
    )
    return (ProvenanceRecorder(), FixedContactRule(policy))
