"""Where the built-in source kinds keep a checkpoint once fetched, found without importing the
download code (huggingface_hub's costs about 0.2 s, and `sefa-zoo list` asks this of every model).

Hub files: catalogue entries pin full commit ids and repository-relative file names
(sefa_zoo.sources checks both), so a file is
``<HF_HUB_CACHE>/models--<owner>--<name>/snapshots/<commit>/<file>`` in the cache layout
huggingface_hub writes; no branch needs resolving through ``refs/``. URL downloads are kept in
sefa-zoo's own cache under their expected sha256; local files are where they are.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from .paths import cache_dir
from .sources import HubSource, LocalSource, UrlSource


def hub_files(source: HubSource) -> list[tuple[str, int | None]]:
    """(path in the repository, size from the catalogue) of the weights and every companion."""
    return [(source.filename, source.size)] + [(source.companion_path(c), c.size) for c in source.companions]


def cached_hub_file(source: HubSource, filename: str) -> Path | None:
    """``filename`` of ``source``'s repository at its pinned commit, if it is in the cache."""
    from huggingface_hub import constants  # light, unlike file_download; read now, as tests and users may change it

    folder = "--".join(["models", *source.repo_id.split("/")])
    path = Path(constants.HF_HUB_CACHE) / folder / "snapshots" / source.revision / filename
    return path if path.is_file() else None


def cached_hub(source: HubSource) -> Path | None:
    """The weights in the Hub cache, when they and every companion file are there."""
    if any(cached_hub_file(source, filename) is None for filename, _ in hub_files(source)[1:]):
        return None
    return cached_hub_file(source, source.filename)


def url_target(source: UrlSource) -> Path:
    """Where a URL source's download is kept."""
    name = unquote(PurePosixPath(urlsplit(source.url).path).name)
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        name = "checkpoint"
    # Stored under the expected sha256 (the catalogue requires one for URL sources).
    folder = source.sha256 or "url-" + hashlib.sha256(source.url.encode()).hexdigest()
    return cache_dir() / "downloads" / folder / name


def cached_url(source: UrlSource) -> Path | None:
    target = url_target(source)
    return target if target.is_file() else None


def cached_local(source: LocalSource) -> Path | None:
    path = Path(source.path).expanduser()
    return path if path.is_file() else None
