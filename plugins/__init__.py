"""sefa-zoo's built-in architecture plugins (installed as the package ``sefa_zoo_plugins``).

Each public subpackage is one architecture and one ordinary plugin: its ``__init__`` holds the
hooks, its other modules the generator, layout readers and fixture writers. Plugins import only
sefa-zoo's public API (``sefa_zoo`` and ``sefa_zoo.testing``), exactly as a third party would.
Names starting with ``_`` are not loaded as plugins.
"""
