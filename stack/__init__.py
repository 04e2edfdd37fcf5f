"""usagestream.stack: the local Kafka (KRaft), PostgreSQL and Redis launcher, for machines without Docker."""
