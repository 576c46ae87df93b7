"""The ``sefa-zoo`` command line: one module per command family, each a thin call into the library."""
