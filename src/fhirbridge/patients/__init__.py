"""Patients as people: who a resource is about (the patient links of every type), one Patient per person
(personnummer, samordningsnummer, reserve numbers), and merging."""
