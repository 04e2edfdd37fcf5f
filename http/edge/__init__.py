"""How requests arrive and leave: the connection protocol, headers, error middleware, access log."""
