"""Questionnaires and the answers to them (issue 13)."""
