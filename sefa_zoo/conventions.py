"""Numbers the original SeFa release fixed, shared by the library and the CLI (no imports: the
CLI reads them to show its defaults without loading torch)."""

DEFAULT_TRUNCATION_PSI = 0.7
DEFAULT_TRUNCATION_CUTOFF = 8  # the release truncates the first 8 W+ layers only
