"""The live websocket feed: one Redis subscription fanned out, frames, names, the credential guard."""
