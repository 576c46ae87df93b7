"""sha256 of checkpoint files, remembered so that a file is hashed once, not on every use.

The memory is a small JSON file in ``sefa_zoo.paths.cache_dir()`` mapping a file's resolved
path to the (size, mtime_ns) it had when hashed and the digest. A changed size or mtime means
the file is hashed again. The file is rewritten atomically; an unreadable one is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from .atomic import atomic_path
from .paths import cache_dir

CHUNK_SIZE = 4 << 20
MAX_ENTRIES = 2000
_FORMAT = 1


def hashes_file() -> Path:
    return cache_dir() / "sha256-cache.json"


def compute_sha256(path: str | os.PathLike[str]) -> str:
    """Hash the whole file, streaming it in large chunks."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _key(path: str | os.PathLike[str]) -> tuple[str, os.stat_result]:
    resolved = Path(path).resolve()
    return str(resolved), resolved.stat()


def _load() -> dict[str, list]:
    try:
        data = json.loads(hashes_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def _matches(record: object, st: os.stat_result) -> bool:
    return (
        isinstance(record, list)
        and len(record) == 3
        and record[0] == st.st_size
        and record[1] == st.st_mtime_ns
        and isinstance(record[2], str)
    )


def _still_valid(path: str, record: object) -> bool:
    try:
        return _matches(record, os.stat(path))
    except OSError:
        return False


def _save(files: dict[str, list]) -> None:
    files = {p: r for p, r in files.items() if _still_valid(p, r)}
    if len(files) > MAX_ENTRIES:
        files = dict(list(files.items())[-MAX_ENTRIES:])
    # A read-only or full cache folder only costs a re-hash next time.
    with contextlib.suppress(OSError):
        with atomic_path(hashes_file()) as tmp:
            tmp.write_text(json.dumps({"format": _FORMAT, "files": files}), encoding="utf-8")


def known_sha256(path: str | os.PathLike[str]) -> str | None:
    """The remembered digest of ``path`` if it has not changed since it was hashed; no hashing."""
    key, st = _key(path)
    record = _load().get(key)
    return record[2] if _matches(record, st) else None


def remember_sha256(path: str | os.PathLike[str], digest: str, st: os.stat_result | None = None) -> None:
    key, current = _key(path)
    st = st or current
    files = _load()
    files.pop(key, None)  # re-inserted last: the newest entries survive trimming
    files[key] = [st.st_size, st.st_mtime_ns, digest]
    _save(files)


def forget_sha256(path: str | os.PathLike[str]) -> None:
    files = _load()
    if files.pop(str(Path(path).resolve()), None) is not None:
        _save(files)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of ``path``, hashed only if the file is new or changed since last time."""
    key, st = _key(path)
    record = _load().get(key)
    if _matches(record, st):
        return record[2]
    digest = compute_sha256(key)
    remember_sha256(key, digest, st)
    return digest
