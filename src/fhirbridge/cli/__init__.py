"""The ``fhirbridge`` command: serve, db upgrade, load, demo."""
