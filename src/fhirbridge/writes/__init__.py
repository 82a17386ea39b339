"""The one write path: every create, update and delete runs through a unit of work."""
