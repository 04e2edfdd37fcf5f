"""usagestream.http: the aiohttp read API and the live websocket feed."""
