"""``Subscription/$topic-list``: the topics this server offers, by canonical URL (Subscriptions
Backport IG, OperationDefinition *Backport Subscription Topic List*, ``[base]/Subscription/$topic-list``).

The answer is a Parameters (profile *backport-subscription-topic-canonical-urls*) with one
``subscription-topic-canonical`` (``valueCanonical``) per topic of
:data:`fhirbridge.notifications.topics.TOPICS`, the same list the CapabilityStatement names.  It
names no patient and no Subscription, so any authenticated caller may ask; it takes no parameters.
"""

from __future__ import annotations

from fhirbridge.notifications import topics
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

NAME = "topic-list"
DEFINITION = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/Backport-subscriptiontopic-list"
PROFILE = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-topic-canonical-urls"


async def topic_list(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """The canonical URL of every topic offered, in the order the server lists them."""
    parameters = [{"name": "subscription-topic-canonical", "valueCanonical": url} for url in topics.TOPICS]
    return FhirResponse(
        200, resource={"resourceType": "Parameters", "meta": {"profile": [PROFILE]}, "parameter": parameters}
    )
