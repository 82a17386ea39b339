"""Patients as people: one Patient per person (personnummer, samordningsnummer, reserve numbers), and merging."""
