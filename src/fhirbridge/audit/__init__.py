"""The access log: an AuditEvent for every read, search, write and operation."""
