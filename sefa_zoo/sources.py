"""Where a checkpoint comes from: one dataclass per source kind.

A source is data only; fetching lives in sefa_zoo.fetching. Plugins may add
kinds through the ``register_checkpoint_sources`` hook; their sources stay as
``CustomSource`` with the fields the catalogue gave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .errors import CatalogueError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


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
class HubSource(Source):
    kind: ClassVar[str] = "hub"
    repo_id: str = ""
    filename: str = ""
    revision: str = ""

    def describe(self) -> str:
        return f"hf://{self.repo_id}/{self.filename}@{self.revision[:12]}"


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
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise CatalogueError(f"{where}: field 'source.sha256' must be 64 lowercase hex digits or null")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise CatalogueError(f"{where}: field 'source.size' must be a positive integer or null")

    if kind in BUILTIN_SOURCE_TYPES:
        cls = BUILTIN_SOURCE_TYPES[kind]
        required = [f.name for f in fields(cls) if f.name not in ("sha256", "size")]
        for name in required:
            if name not in data:
                raise CatalogueError(f"{where}: field 'source.{name}' is required for a {kind} source")
            if not isinstance(data[name], str) or not data[name]:
                raise CatalogueError(f"{where}: field 'source.{name}' must be a non-empty string")
        extra = sorted(set(data) - set(required))
        if extra:
            raise CatalogueError(f"{where}: field 'source.{extra[0]}' is not known for a {kind} source")
        if kind == "hub":
            if not _REPO_ID.match(data["repo_id"]):
                raise CatalogueError(f"{where}: field 'source.repo_id' must look like 'owner/name'")
            if not _COMMIT.match(data["revision"]):
                raise CatalogueError(
                    f"{where}: field 'source.revision' must be a full 40-hex commit id (pinned)"
                )
        if kind == "url" and not data["url"].startswith(("https://", "http://")):
            raise CatalogueError(f"{where}: field 'source.url' must be an http(s) URL")
        if kind == "url" and sha256 is None:
            raise CatalogueError(f"{where}: field 'source.sha256' is required for a url source")
        return cls(sha256=sha256, size=size, **data)
    if isinstance(kind, str) and kind in custom_kinds:
        return CustomSource(sha256=sha256, size=size, kind_name=kind, params=data)
    known = ", ".join(sorted(set(BUILTIN_SOURCE_TYPES) | set(custom_kinds)))
    raise CatalogueError(f"{where}: field 'source.kind' must be one of {known}, not {kind!r}")
