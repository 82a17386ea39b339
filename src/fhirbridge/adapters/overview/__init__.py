"""The 1177-style patient overview: the patient's contracts in plain Swedish (issue 5)."""
