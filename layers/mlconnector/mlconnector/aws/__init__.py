"""Data access to AWS: queue, audit trail, state (watermarks, id mappings, record status), secrets."""
