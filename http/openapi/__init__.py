"""The OpenAPI 3.1 document of every endpoint, and the schema builders it is written with."""
