"""Numbers shared by the library and the CLI. Nothing is imported here: the CLI reads them to
show its defaults and check its arguments without loading torch."""

DEFAULT_TRUNCATION_PSI = 0.7  # the original SeFa release's truncation
DEFAULT_TRUNCATION_CUTOFF = 8  # the release truncates the first 8 W+ layers only
MAX_SEED = 2**32 - 1  # numpy's RandomState takes 32-bit seeds
