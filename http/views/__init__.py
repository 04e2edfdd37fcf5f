"""The handlers of the API's paths: each parses its parameters, asks the store, shapes the answer."""
