"""Built-in PGGAN architecture (work in progress: issue 6)."""
