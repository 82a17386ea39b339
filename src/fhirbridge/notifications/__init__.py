"""Outbound notifications: R4 rest-hook Subscriptions fed by a transactional outbox.

:mod:`.subscriptions` decides, inside each write transaction, which active Subscriptions a
change matches and records one outbox row each (:mod:`.outbox`); :mod:`.delivery` sends them
afterwards with httpx, at least once, with retries and backoff, from the service itself or
from ``fhirbridge worker``, only to endpoints the endpoint rule allows (:mod:`.endpoints`, judged
when a Subscription is written and, after DNS, when :mod:`.egress` connects).
"""
