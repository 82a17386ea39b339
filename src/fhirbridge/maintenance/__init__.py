"""Operations on stored data that the CLI runs: checks and repairs (``fhirbridge db …``)."""
