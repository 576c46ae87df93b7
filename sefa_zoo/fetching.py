"""Getting a catalogue entry's checkpoint onto this machine, and checking it is the right file.

The work of each source kind is done by whoever registered it (the core's hub / url / local in
sefa_zoo.builtin_sources, or a plugin); here the kind is looked up, the file's size and sha256 are
checked against the catalogue, and errors get the model's name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from .entry import CatalogueEntry
from .errors import (
    ChecksumMismatchError,
    FetchError,
    OfflineNotCachedError,
    PluginError,
)
from .hashing import forget_sha256, known_sha256, sha256_file
from .plugins import SourceKind, call_plugin, call_plugin_or_warn, get_registry
from .sources import Companion, CustomSource, HubSource, Source, companions_of

log = logging.getLogger(__name__)


def source_kind_name(source: Source) -> str:
    return source.kind_name if isinstance(source, CustomSource) else source.kind


def _kind(entry: CatalogueEntry) -> SourceKind:
    name = source_kind_name(entry.source)
    kind = get_registry().source_kinds.get(name)
    if kind is None:
        raise FetchError(f"model {entry.name!r}: no plugin provides the source kind {name!r}")
    return kind


def _about(entry: CatalogueEntry, exc: FetchError) -> FetchError:
    message = f"model {entry.name!r}: {exc}"
    if isinstance(exc, OfflineNotCachedError):
        message += f"; run `sefa-zoo download {entry.name}` while online"
    try:
        return type(exc)(message)
    except TypeError:  # a plugin's own FetchError subclass with another signature
        return FetchError(message)


def fetch(entry: CatalogueEntry, *, progress: bool = True) -> Path:
    """The local path of ``entry``'s checkpoint, downloaded if needed, its size and sha256 checked.

    A downloaded file that fails the check is removed (so the next call downloads it again); a
    user's own file is left alone. Either way it is not returned. The source's companion files
    (a hub source's ``config.json``) are fetched with it, land beside it and are checked too.
    """
    kind = _kind(entry)
    try:
        path = _as_path(call_plugin(kind, "fetcher", entry.source, progress=progress))
        if path is None:
            raise PluginError(f"the fetcher of source kind {source_kind_name(entry.source)!r} returned no path")
        verify(entry, path, kind)
        for companion in companions_of(entry.source):
            verify_companion(entry, path, companion, kind)
    except FetchError as exc:
        raise _about(entry, exc) from exc
    except PluginError as exc:
        raise PluginError(f"model {entry.name!r}: {exc}") from exc
    return path


@contextmanager
def naming_model(entry: CatalogueEntry) -> Iterator[None]:
    """FetchErrors raised inside get the model's name (and the offline hint), as fetch's do."""
    try:
        yield
    except FetchError as exc:
        raise _about(entry, exc) from exc


def fetch_companions(entry: CatalogueEntry, *, progress: bool = True) -> dict[str, Path]:
    """The companion files of a hub entry whose weights are read remotely: fetched whole (they
    are small) and checked like fetch's; name -> local path."""
    source = entry.source
    if not isinstance(source, HubSource) or not source.companions:
        return {}
    from .builtin_fetchers import fetch_hub_companions  # huggingface_hub: loaded when needed

    kind = _kind(entry)
    with naming_model(entry):
        paths = fetch_hub_companions(source, progress=progress)
        for companion, path in zip(source.companions, paths):
            # verify_companion looks beside the weights, where the Hub cache puts companions
            verify_companion(entry, path.parent / PurePosixPath(source.filename).name, companion, kind)
    return {companion.name: path for companion, path in zip(source.companions, paths)}


def _as_path(found: object) -> Path | None:
    return Path(found) if isinstance(found, (str, os.PathLike)) else None


def cached_path(entry: CatalogueEntry) -> Path | None:
    """The local path of ``entry``'s checkpoint if it is already here with its companion files
    beside it (right sizes when known); no network, no hashing."""
    kind = get_registry().source_kinds.get(source_kind_name(entry.source))
    if kind is None or kind.cached is None:
        return None
    source = entry.source
    path = _as_path(call_plugin_or_warn(kind, "cached", source))
    if path is None:
        return None
    files = [(path, source.size), *((path.parent / c.name, c.size) for c in companions_of(source))]
    return path if all(_size_fits(file, size) for file, size in files) else None


def _size_fits(path: Path, expected: int | None) -> bool:
    """``path`` is a readable file of the ``expected`` size (any size when None)."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return expected is None or size == expected


def verify_companion(entry: CatalogueEntry, path: Path, companion: Companion, kind: SourceKind) -> None:
    """Check the companion file beside ``path`` against the catalogue's size and sha256 for it."""
    beside = path.parent / companion.name
    _check_size(beside, companion.size, kind, entry.source, f"{companion.name} was not found beside {path}")
    if companion.sha256 is not None:
        _check_digest(beside, sha256_file(beside), companion.sha256, kind, entry.source)


def verify(entry: CatalogueEntry, path: Path, kind: SourceKind) -> str:
    """Check ``path`` against the catalogue's size and sha256; return its sha256.

    The digest is remembered (sefa_zoo.hashing), so a file is hashed once, not on every use.
    With no sha256 in the catalogue, the digest is logged the first time it is computed.
    """
    source = entry.source
    _check_size(path, source.size, kind, source, f"checkpoint {path} cannot be read")
    digest = known_sha256(path)
    computed_now = digest is None
    if digest is None:
        digest = sha256_file(path)
    if source.sha256 is None:
        if computed_now:
            log.warning(
                "model %r: the catalogue gives no sha256; this file's sha256 is %s (%s)",
                entry.name, digest, path,
            )
        return digest
    _check_digest(path, digest, source.sha256, kind, source)
    return digest


def _check_size(path: Path, expected: int | None, kind: SourceKind, source: Source, unreadable: str) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FetchError(f"{unreadable}: {exc.strerror or exc}") from exc
    if expected is not None and size != expected:
        raise _mismatch(path, kind, source, f"{path} has {size} bytes, the catalogue says {expected}")


def _check_digest(path: Path, digest: str, expected: str, kind: SourceKind, source: Source) -> None:
    if digest != expected:
        raise _mismatch(path, kind, source, f"sha256 mismatch for {path}: expected {expected}, got {digest}")


def _mismatch(path: Path, kind: SourceKind, source: Source, problem: str) -> ChecksumMismatchError:
    forget_sha256(path)
    if kind.discard is None:
        return ChecksumMismatchError(f"{problem}; the file is not used")
    call_plugin_or_warn(kind, "discard", source, path)
    return ChecksumMismatchError(f"{problem}; the copy was deleted, run again to download it afresh")
