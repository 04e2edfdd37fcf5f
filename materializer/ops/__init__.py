"""Operator commands: the schema (`db`), `verify` and `rebuild`, `retention`."""
