"""usagestream.materializer: the PostgreSQL and Redis views, written idempotently and read by the API."""
