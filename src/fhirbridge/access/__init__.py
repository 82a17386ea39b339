"""Who may see and change what: SMART scopes, the patient compartment, care relations,
consent, blocks and emergency access (the Patient Data Act), in one policy."""
