"""usagestream.streams: the faust worker, its agents, topics and dead letters."""
