"""The PostgreSQL read side: one module per question the API asks (stats, records, cache)."""
