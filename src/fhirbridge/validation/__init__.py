"""Validation of every write, in one place (see :mod:`fhirbridge.validation.pipeline`)."""
