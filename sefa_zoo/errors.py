"""Exception types. Every message is one line that names the thing at fault.

The CLI maps each of these to that message and exit code 1 (see cli/main.py).
"""

from __future__ import annotations


class SefaZooError(Exception):
    """Base class for every error sefa-zoo reports to a user."""


class PluginError(SefaZooError):
    """A plugin could not be loaded or registered something invalid."""


class UnknownArchitectureError(SefaZooError):
    pass


class UnknownModelError(SefaZooError):
    pass


class CatalogueError(SefaZooError):
    """A catalogue file or entry is invalid; the message names the entry and field."""


class CheckpointError(SefaZooError):
    """A checkpoint file is unreadable, truncated, corrupt or of an unknown layout."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint asks to import or call something not on the allow-list."""


class LayoutError(CheckpointError):
    """A checkpoint does not match the layout an architecture expects."""


class OutputPathError(SefaZooError):
    """An output path that cannot or must not be written: a folder, a device, an input."""


class LayerSpecError(SefaZooError):
    pass


class SynthesisUnavailableError(SefaZooError):
    pass


class BankError(SefaZooError):
    """A direction bank file is missing, malformed or has invalid metadata."""


class FetchError(SefaZooError):
    """Base for download problems."""


class OfflineNotCachedError(FetchError):
    pass


class RemoteNotFoundError(FetchError):
    pass


class GatedError(FetchError):
    pass


class NetworkError(FetchError):
    pass


class ChecksumMismatchError(FetchError):
    pass


class ScorerError(SefaZooError):
    """An unknown scorer or attribute, or a scorer that answered something unusable."""


class RecipeError(SefaZooError):
    """An edit recipe file is unreadable or malformed, or does not match the model or bank given."""
