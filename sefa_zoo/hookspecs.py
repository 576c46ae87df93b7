"""The hooks a sefa-zoo plugin can implement. Each receives a ``register`` callback,
so new keyword arguments can be added to it later without breaking plugins."""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("sefa_zoo")
hookimpl = HookimplMarker("sefa_zoo")


@hookspec
def register_architectures(register):
    """Call ``register(architecture)`` for each ``Architecture`` instance."""


@hookspec
def register_catalogue_entries(register):
    """Call ``register(entry)`` for each ``CatalogueEntry`` (or a dict in zoo.yaml form)."""


@hookspec
def register_checkpoint_sources(register):
    """Call ``register(kind, fetcher, *, cached=None, discard=None)`` to add a source kind.

    ``fetcher(source, *, progress)`` returns the local path of the checkpoint, downloading it if
    needed. ``cached(source)`` returns that path if the file is already local, else None, without
    touching the network. ``discard(source, path)`` removes a copy that failed verification, so the
    next fetch gets it again (leave it out for files the user owns). sefa-zoo checks the size and
    sha256 the catalogue gives after every fetch.
    """


@hookspec
def register_scorers(register):
    """Call ``register(scorer)`` for each ``sefa_zoo.scoring.Scorer``: a function from images
    (N, C, H, W) in [-1, 1] to one float array (N,) per attribute it names. Build it without
    importing torch: the hook runs whenever the plugins are listed."""
