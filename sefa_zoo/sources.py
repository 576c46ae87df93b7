"""Where a checkpoint comes from: one dataclass per source kind.

A source is data only; fetching lives in sefa_zoo.fetching. Plugins may add
kinds through the ``register_checkpoint_sources`` hook; their sources stay as
``CustomSource`` with the fields the catalogue gave.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from .errors import CatalogueError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
# The Hub's own rules (huggingface_hub's validate_repo_id), so that a bad id is a catalogue
# error here rather than an exception at download time.
_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SIZE = 1 << 50  # bytes: a petabyte
MAX_COMPANIONS = 16
# A plugin's source fields are printed by `list --json` and passed to its fetcher: plain
# data, bounded however the catalogue file shares or nests it.
_PLAIN_ITEMS = 1000
_PLAIN_DEPTH = 8
_PLAIN_INT = 1 << 63


@dataclass(frozen=True)
class Source:
    kind: ClassVar[str] = ""
    sha256: str | None = None
    size: int | None = None

    def describe(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out


@dataclass(frozen=True)
class Companion:
    """A file that belongs with a hub source's weights (a ``config.json``): fetched from the same
    repository and revision, from the weights' folder, so that it lands beside them."""

    name: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class HubSource(Source):
    kind: ClassVar[str] = "hub"
    repo_id: str = ""
    filename: str = ""
    revision: str = ""
    companions: tuple[Companion, ...] = ()

    def describe(self) -> str:
        return self.describe_file(self.filename)

    def describe_file(self, path: str) -> str:
        return f"hf://{self.repo_id}/{path}@{self.revision[:12]}"

    def companion_path(self, companion: Companion) -> str:
        """Where ``companion`` is in the repository: beside the weights."""
        folder = self.filename.rpartition("/")[0]
        return f"{folder}/{companion.name}" if folder else companion.name

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.pop("companions", None)
        if self.companions:
            out["companions"] = {c.name: {"size": c.size, "sha256": c.sha256} for c in self.companions}
        return out


def companions_of(source: Source) -> tuple[Companion, ...]:
    """The companion files of ``source``: a hub source's, none for every other kind."""
    return source.companions if isinstance(source, HubSource) else ()


@dataclass(frozen=True)
class UrlSource(Source):
    kind: ClassVar[str] = "url"
    url: str = ""

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class LocalSource(Source):
    kind: ClassVar[str] = "local"
    path: str = ""

    def describe(self) -> str:
        return self.path


@dataclass(frozen=True)
class CustomSource(Source):
    """A source of a kind registered by a plugin."""

    kind_name: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.kind_name}:{self.params}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind_name, **self.params}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        if self.size is not None:
            out["size"] = self.size
        return out


BUILTIN_SOURCE_TYPES: dict[str, type[Source]] = {
    cls.kind: cls for cls in (HubSource, UrlSource, LocalSource)
}


def source_from_dict(data: Any, where: str, custom_kinds: frozenset[str] = frozenset()) -> Source:
    """Validate a catalogue ``source`` mapping; errors name ``where`` (the entry) and the field."""
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: field 'source' must be a mapping")
    data = dict(data)
    kind = data.pop("kind", None)
    sha256 = data.pop("sha256", None)
    size = data.pop("size", None)
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.fullmatch(sha256)):
        raise _field_error(where, "sha256", "must be 64 lowercase hex digits or null")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_SIZE):
        raise _field_error(where, "size", "must be a positive integer up to 2**50 (bytes) or null")
    unnamed = [key for key in data if not isinstance(key, str)]
    if unnamed:
        raise _field_error(where, shown(unnamed[0]), "is not a field name (not text)")
    if isinstance(kind, str) and kind in BUILTIN_SOURCE_TYPES:
        cls = BUILTIN_SOURCE_TYPES[kind]
        companions = data.pop("companions", None) if cls is HubSource else None
        _check_builtin_fields(cls, data, sha256, where)
        if cls is HubSource:
            data["companions"] = _companions(companions, data["filename"], where)
        return cls(sha256=sha256, size=size, **data)
    if isinstance(kind, str) and kind in custom_kinds:
        for name, value in data.items():
            _check_plain_data(value, f"{where}: field {shown('source.' + name)}")
        return CustomSource(sha256=sha256, size=size, kind_name=kind, params=data)
    known = ", ".join(sorted(set(BUILTIN_SOURCE_TYPES) | set(custom_kinds)))
    raise CatalogueError(f"{where}: field 'source.kind' must be one of {known}, not {shown(kind)}")


def _check_builtin_fields(cls: type[Source], data: dict[str, Any], sha256: str | None, where: str) -> None:
    required = [f.name for f in fields(cls) if f.name not in ("sha256", "size", "companions")]
    for name in required:
        if name not in data:
            raise _field_error(where, name, f"is required for a {cls.kind} source")
        if not isinstance(data[name], str) or not data[name]:
            raise _field_error(where, name, "must be a non-empty string")
        if _CONTROL.search(data[name]):
            raise _field_error(where, name, "must not hold control characters")
    extra = sorted(set(data) - set(required))
    if extra:
        raise _field_error(where, extra[0], f"is not known for a {cls.kind} source")
    if cls is HubSource:
        _check_hub_fields(data, where)
    elif cls is UrlSource:
        if not _is_web_url(data["url"]):
            raise _field_error(where, "url", "must be an http(s) URL with a host and no spaces")
        if sha256 is None:
            raise _field_error(where, "sha256", "is required for a url source")
    elif not _is_expandable(data["path"]):
        raise _field_error(where, "path", "starts with '~' but that home folder is unknown here")


def _check_hub_fields(data: dict[str, Any], where: str) -> None:
    if not _is_repo_id(data["repo_id"]):
        raise _field_error(where, "repo_id", "must look like 'owner/name' (letters, digits, '-', '_', '.'; "
                                             "no '--' or '..')")
    if not _COMMIT.fullmatch(data["revision"]):
        raise _field_error(where, "revision", "must be a full 40-hex commit id (pinned)")
    filename = data["filename"]
    if "\\" in filename or any(part in ("", ".", "..") for part in filename.split("/")):
        raise _field_error(where, "filename", "must be a path inside the repository "
                                              "(no leading '/', no '.', '..' or empty parts, no '\\')")


def _companions(value: Any, filename: str, where: str) -> tuple[Companion, ...]:
    """``companions``: a mapping of file names (in the weights' folder) to {size, sha256} or null."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        raise _field_error(where, "companions", "must be a mapping of file names to {size, sha256} (or null)")
    if len(value) > MAX_COMPANIONS:
        raise _field_error(where, "companions", f"names more than {MAX_COMPANIONS} files")
    weights = filename.rpartition("/")[2]
    found = []
    for name, facts in value.items():
        what = f"companions.{name}" if isinstance(name, str) else "companions"
        if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
                or _CONTROL.search(name) or name == weights):
            raise _field_error(where, cut(what), "must be a file name beside the weights (no folders), "
                                                 "not the weights themselves")
        facts = {} if facts is None else facts
        if not isinstance(facts, dict) or set(facts) - {"size", "sha256"}:
            raise _field_error(where, cut(what), "must be {size, sha256} (either may be null) or null")
        sha256, size = facts.get("sha256"), facts.get("size")
        if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.fullmatch(sha256)):
            raise _field_error(where, cut(what + ".sha256"), "must be 64 lowercase hex digits or null")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_SIZE):
            raise _field_error(where, cut(what + ".size"), "must be a positive integer up to 2**50 (bytes) or null")
        found.append(Companion(name, sha256, size))
    return tuple(found)


def _is_repo_id(repo_id: str) -> bool:
    parts = repo_id.split("/")
    return (len(parts) == 2 and all(_REPO_PART.fullmatch(part) for part in parts)
            and ".." not in repo_id and "--" not in repo_id and not repo_id.endswith(".git"))


def _is_web_url(url: str) -> bool:
    if any(character.isspace() for character in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number below 65536
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_expandable(path: str) -> bool:
    try:
        Path(path).expanduser()
    except RuntimeError:
        return False
    return True


def _field_error(where: str, name: str, problem: str) -> CatalogueError:
    return CatalogueError(f"{where}: field {shown('source.' + name)} {problem}")


def _check_plain_data(value: Any, what: str) -> None:
    """Refuse anything but small, shallow text / numbers / lists / text-keyed mappings."""
    pending = [(value, 0)]
    left = _PLAIN_ITEMS
    while pending:
        item, depth = pending.pop()
        if depth > _PLAIN_DEPTH:
            raise CatalogueError(f"{what} is nested more than {_PLAIN_DEPTH} deep")
        if isinstance(item, (list, dict)):
            left -= len(item)
            if left < 0:
                raise CatalogueError(f"{what} holds more than {_PLAIN_ITEMS} values")
            if isinstance(item, dict) and not all(isinstance(key, str) for key in item):
                raise CatalogueError(f"{what} must use text keys")
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
        elif not _plain_scalar(item):
            raise CatalogueError(f"{what} must be text, numbers, true/false, null, lists or mappings")


def _plain_scalar(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return -_PLAIN_INT < value < _PLAIN_INT
    return isinstance(value, float) and math.isfinite(value)


def shown(value: Any, width: int = 40) -> str:
    """A catalogue value for a message: text quoted and cut to ``width``, a small number as
    it is, anything else by its type (a value may be as large as its file, or shared by aliases)."""
    if isinstance(value, str):
        return repr(cut(value, width))
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)) and abs(value) < 10**15:
        return repr(value)
    return f"a {type(value).__name__}"


def cut(text: str, width: int = 40) -> str:
    """``text`` cut to about ``width`` characters for a message."""
    return text if len(text) <= width else text[:width] + "…"
