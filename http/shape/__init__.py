"""Response shapes: the JSON items built from stored rows and live items (pure, no I/O)."""
