"""NPÖ, the national clinician overview: the RIV-TA contracts it reads a source system through."""
