"""Tables generated from the official FHIR R4 core package hl7.fhir.r4.core#4.0.1 (CC0-1.0).

Regenerate with ``python scripts/generate_fhir_definitions.py``; never edit by hand.
"""
