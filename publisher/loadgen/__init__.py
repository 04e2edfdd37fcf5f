"""`usagestream loadgen`: simulated gateway traffic published through the client beside it."""
