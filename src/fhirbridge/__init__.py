"""fhirbridge: an HL7 FHIR R4 (4.0.1) service for Swedish patient contracts."""

__version__ = "0.1.0"
FHIR_VERSION = "4.0.1"
