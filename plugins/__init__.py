"""sefa-zoo's built-in architecture plugins (installed as the package ``sefa_zoo_plugins``).

Each public module here is an ordinary plugin: it imports only sefa-zoo's public API
and implements the hooks in sefa_zoo.hookspecs, exactly as a third-party plugin would.
Modules whose names start with ``_`` are helpers, not plugins.
"""
