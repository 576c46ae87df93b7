"""The fetchers behind the core's source kinds: ``hub`` (huggingface_hub and its cache), ``url``
(a resumable plain download into sefa-zoo's cache) and ``local`` (a file the user has).

sefa_zoo.builtin_sources registers them. Fetchers raise FetchError subclasses whose
message names the source; sefa_zoo.fetching adds the model's name and checks size and sha256.

Before a download, one request without retries (a HEAD, waiting at most HF_HUB_ETAG_TIMEOUT
seconds) checks that the server answers and that the size it announces is one worth
downloading: huggingface_hub would otherwise retry an unreachable server for about 25 seconds.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors
from huggingface_hub import (
    HfFileMetadata,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
)
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import WeakFileLock, http_backoff, httpx
from huggingface_hub.utils import tqdm as hf_tqdm

from ._version import __version__
from .errors import (
    ChecksumMismatchError,
    FetchError,
    GatedError,
    NetworkError,
    OfflineNotCachedError,
    RemoteNotFoundError,
)
from .cached_files import cached_hub_file, hub_files, url_target
from .sources import HubSource, LocalSource, UrlSource

LIBRARY_NAME = "sefa-zoo"


class _SilentBar(hf_tqdm):
    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def _bar(progress: bool) -> type[hf_tqdm] | None:
    return None if progress else _SilentBar


def offline() -> bool:
    return hf_constants.is_offline_mode()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _first_sentence(exc: BaseException) -> str:
    return _first_line(exc).split(". ")[0].rstrip(".")


def not_cached_offline(what: str) -> OfflineNotCachedError:
    return OfflineNotCachedError(f"{what} is not in the local cache and HF_HUB_OFFLINE is set")


def _unreachable(where: str, what: str, exc: BaseException | None) -> NetworkError:
    reason = _first_line(exc).rstrip(".") if exc is not None else "no connection"
    return NetworkError(
        f"could not reach {where} to download {what}: {reason}; it is not in the local cache "
        "(with no network, set HF_HUB_OFFLINE=1 to use cached files only)"
    )


def _free_bytes(folder: Path) -> int | None:
    """Free space where ``folder`` is or will be created; None if it cannot be told."""
    for path in (folder, *folder.parents):
        if path.exists():
            try:
                return shutil.disk_usage(path).free
            except OSError:
                return None
    return None


def _check_announced_size(what: str, announced: int | None, expected: int | None, folder: Path) -> None:
    """Refuse a download whose announced size is not the catalogue's, or cannot be stored."""
    if announced is None:
        return
    if expected is not None and announced != expected:
        raise ChecksumMismatchError(
            f"the server announces {announced} bytes for {what}, the catalogue says {expected}; not downloaded"
        )
    limit = hf_constants.MAX_HTTP_DOWNLOAD_SIZE
    if announced > limit:
        raise FetchError(
            f"the server announces {announced} bytes for {what}, more than the {limit} bytes "
            "sefa-zoo downloads; not downloaded"
        )
    free = _free_bytes(folder)
    if free is not None and announced > free:
        raise FetchError(f"{what} needs {announced} bytes, but {folder} has only {free} bytes free")


def discard_download(source, path: Path) -> None:
    """Remove a downloaded copy that failed verification: the link and, for the Hub cache, its blob."""
    path = Path(path)
    target = path.resolve()
    path.unlink(missing_ok=True)
    if target != path:
        target.unlink(missing_ok=True)


# --- hub -------------------------------------------------------------------------------------


def hub_endpoint() -> str | None:
    """HF_ENDPOINT as it is now (huggingface_hub reads it only at import); None means its default."""
    value = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/")
    return value or None


def fetch_hub(source: HubSource, *, progress: bool = True) -> Path:
    """The weights, downloaded with their companion files (same repository, revision and folder:
    the Hub cache puts them side by side in the revision's snapshot folder)."""
    return fetchhub_files(source, hub_files(source), progress=progress)[0]


def fetch_hub_companions(source: HubSource, *, progress: bool = True) -> list[Path]:
    """The companion files alone (for weights read remotely), each where fetch_hub puts it."""
    return fetchhub_files(source, hub_files(source)[1:], progress=progress)


def fetchhub_files(source: HubSource, files: list[tuple[str, int | None]], *, progress: bool = True) -> list[Path]:
    """The local paths of ``files`` ((path in the repository, catalogue size)), downloaded where missing."""
    missing = [(filename, size) for filename, size in files if cached_hub_file(source, filename) is None]
    if offline():
        if missing:
            raise not_cached_offline(source.describe_file(missing[0][0]))
        return [cached_hub_file(source, filename) for filename, _ in files]  # type: ignore[misc]
    endpoint = hub_endpoint()
    shown = endpoint or hf_constants.ENDPOINT
    # Every file's size is checked before any download: a companion that is not there fails
    # before the weights take their time.
    for filename, size in missing:
        _check_hub_metadata(source, filename, size, endpoint, shown)
    found = []
    for filename, _ in files:
        try:
            path = hf_hub_download(
                source.repo_id,
                filename,
                revision=source.revision,
                library_name=LIBRARY_NAME,
                library_version=__version__,
                endpoint=endpoint,
                tqdm_class=_bar(progress),
            )
        except Exception as exc:
            mapped = hub_error(source, shown, exc, filename)
            if mapped is None:
                raise
            raise mapped from exc
        found.append(Path(path))
    return found


def _check_hub_metadata(source: HubSource, filename: str, size: int | None, endpoint: str | None,
                        shown: str) -> None:
    """Ask the Hub once, without retries, for the file's metadata; check the size it announces."""
    metadata = hub_file_metadata(source, filename, endpoint, shown)
    _check_announced_size(source.describe_file(filename), metadata.size, size, Path(hf_constants.HF_HUB_CACHE))


def hub_file_metadata(source: HubSource, filename: str, endpoint: str | None, shown: str) -> HfFileMetadata:
    """The Hub's metadata of one file of ``source`` (size, commit, where to GET it), asked once
    without retries; every failure a FetchError naming the file."""
    url = hf_hub_url(source.repo_id, filename, revision=source.revision, endpoint=endpoint)
    try:
        return get_hf_file_metadata(
            url, timeout=hf_constants.HF_HUB_ETAG_TIMEOUT, library_name=LIBRARY_NAME,
            library_version=__version__, endpoint=endpoint,
        )
    except httpx.TransportError as exc:
        raise _unreachable(shown, source.describe_file(filename), exc) from exc
    except Exception as exc:
        mapped = hub_error(source, shown, exc, filename)
        if mapped is None:
            raise
        raise mapped from exc


def hub_error(source: HubSource, endpoint: str, exc: Exception, filename: str) -> FetchError | None:
    repo, what = source.repo_id, source.describe_file(filename)
    login = "log in with `hf auth login` or set HF_TOKEN"
    if isinstance(exc, hf_errors.GatedRepoError):
        return GatedError(f"{repo} is a gated repository: accept its terms at {endpoint}/{repo}, then {login}")
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return RemoteNotFoundError(f"repository {repo} was not found on {endpoint} (if it is private, {login})")
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return RemoteNotFoundError(f"revision {source.revision} was not found in repository {repo} on {endpoint}")
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        return RemoteNotFoundError(
            f"file {filename!r} was not found in repository {repo} at revision {source.revision[:12]}"
        )
    if isinstance(exc, hf_errors.OfflineModeIsEnabled) or (
        isinstance(exc, hf_errors.LocalEntryNotFoundError) and offline()
    ):
        return not_cached_offline(what)
    if isinstance(exc, hf_errors.LocalEntryNotFoundError):
        cause = exc.__cause__
        if isinstance(cause, hf_errors.FileMetadataError):
            return NetworkError(f"{endpoint} did not answer like a Hugging Face Hub for {what}: {_first_line(cause)}")
        return _unreachable(endpoint, what, cause)
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "an error"
        return NetworkError(f"{endpoint} answered HTTP {status} for {what}")
    return transfer_error(what, exc)


def transfer_error(what: str, exc: Exception) -> FetchError | None:
    """A connection lost or timed out, a body shorter than announced (an OSError without errno),
    or a size huggingface_hub refuses to download over HTTP (its ValueError)."""
    if isinstance(exc, httpx.HTTPError):
        return NetworkError(f"network failure while downloading {what}: {_first_line(exc)}")
    if isinstance(exc, OSError) and exc.errno is None and not isinstance(exc, hf_errors.HfHubHTTPError):
        return NetworkError(f"incomplete download of {what}: {_first_line(exc)}")
    if isinstance(exc, ValueError):
        return NetworkError(f"could not download {what}: {_first_sentence(exc)}")
    return None


# --- url -------------------------------------------------------------------------------------


def fetch_url(source: UrlSource, *, progress: bool = True) -> Path:
    target = url_target(source)
    if target.is_file():
        return target
    if offline():
        raise not_cached_offline(source.url)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with WeakFileLock(str(target) + ".lock"):
        if target.is_file():  # another process finished it while we waited
            return target
        try:
            _check_url_head(source, target.parent)
            _download_resuming(source, partial, progress)
        except _Oversized as exc:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatchError(str(exc)) from None
        except FetchError:
            raise
        except Exception as exc:
            mapped = _url_error(source, exc)
            if mapped is None:
                raise
            raise mapped from exc
        os.replace(partial, target)
    return target


def _url_headers() -> dict[str, str]:
    return {"user-agent": f"{LIBRARY_NAME}/{__version__}"}


def _check_url_head(source: UrlSource, folder: Path) -> None:
    """One HEAD request without retries: the server answers, and the size it announces is right.

    An error status is left for the download to report (some servers refuse HEAD)."""
    try:
        response = http_backoff(
            "HEAD", source.url, headers={**_url_headers(), "accept-encoding": "identity"},
            timeout=hf_constants.HF_HUB_ETAG_TIMEOUT, follow_redirects=True,
            retry_on_exceptions=(), retry_on_status_codes=(),
        )
    except httpx.TransportError as exc:
        parts = urlsplit(source.url)
        raise _unreachable(f"{parts.scheme}://{parts.netloc}", source.url, exc) from exc
    if response.status_code >= 400:
        return
    _check_announced_size(source.url, _content_length(response.headers.get("content-length")), source.size, folder)


def _content_length(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) <= 30 else None  # 30 digits: far past any limit


class _Oversized(Exception):
    pass


class _SizeCappedFile:
    """The partial file, refusing to grow past the catalogue's size whatever the server sends."""

    def __init__(self, file: Any, limit: int, what: str):
        self._file, self._limit, self._what = file, limit, what

    def write(self, chunk: bytes) -> int:
        if self._file.tell() + len(chunk) > self._limit:
            raise _Oversized(f"{self._what} sent more than the {self._limit} bytes the catalogue gives; not kept")
        return self._file.write(chunk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _download_resuming(source: UrlSource, partial: Path, progress: bool) -> None:
    """Append to ``partial`` from where an earlier attempt stopped (a Range request)."""
    for attempt in range(2):
        with open(partial, "ab") as f:
            done = f.tell()
            if source.size is not None and done > source.size:
                f.truncate(0)
                done = 0
            target = f if source.size is None else _SizeCappedFile(f, source.size, source.url)
            try:
                http_get(
                    source.url,
                    target,
                    resume_size=done,
                    headers=_url_headers(),
                    expected_size=source.size,
                    displayed_filename=partial.name[: -len(".part")],
                    tqdm_class=_bar(progress),
                )
                return
            except hf_errors.HfHubHTTPError as exc:
                # 416: nothing left after ``done`` (size unknown, a finished .part): start over once.
                if attempt or done == 0 or exc.response is None or exc.response.status_code != 416:
                    raise
                f.truncate(0)


def _url_error(source: UrlSource, exc: Exception) -> FetchError | None:
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return not_cached_offline(source.url)
    if isinstance(exc, hf_errors.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (404, 410):
            return RemoteNotFoundError(f"{source.url} was not found (HTTP {status})")
        return NetworkError(f"{source.url} answered HTTP {status}")
    return transfer_error(source.url, exc)


# --- local -----------------------------------------------------------------------------------


def fetch_local(source: LocalSource, *, progress: bool = True) -> Path:
    path = Path(source.path).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise FetchError(f"local checkpoint {path} is not a file")
    raise FetchError(f"local checkpoint {path} does not exist")

