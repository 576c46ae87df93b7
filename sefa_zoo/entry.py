"""One catalogue entry: a named pretrained checkpoint and what is known about it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import CatalogueError
from .sources import Source, source_from_dict

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

_REQUIRED_STR = ("name", "architecture", "layout", "license", "provenance", "description")
_OPTIONAL_INT = ("z_dim", "w_dim")
_REQUIRED_INT = ("resolution", "num_layers")


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    architecture: str
    layout: str
    source: Source
    resolution: int
    num_layers: int
    license: str
    provenance: str
    description: str
    z_dim: int | None = None
    w_dim: int | None = None
    # (width, height) of the pictures when they are not resolution x resolution
    image_size: tuple[int, int] | None = None
    notes: str | None = None
    origin: str = field(default="", compare=False)

    @classmethod
    def from_dict(
        cls,
        data: Any,
        *,
        origin: str = "",
        custom_source_kinds: frozenset[str] = frozenset(),
    ) -> CatalogueEntry:
        if not isinstance(data, dict):
            raise CatalogueError(f"{origin or 'catalogue'}: every entry must be a mapping")
        raw_name = data.get("name")
        where = f"entry {raw_name!r}" if raw_name else "entry without a name"
        if origin:
            where = f"{origin}: {where}"
        known = set(cls.__dataclass_fields__) - {"origin"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CatalogueError(f"{where}: field {unknown[0]!r} is not a catalogue field")
        values: dict[str, Any] = {}
        for name in _REQUIRED_STR:
            value = data.get(name)
            if not isinstance(value, str) or not value.strip():
                raise CatalogueError(f"{where}: field {name!r} is required and must be a non-empty string")
            values[name] = value
        if not _NAME.match(values["name"]):
            raise CatalogueError(
                f"{where}: field 'name' must be lowercase letters, digits, '.', '_' or '-'"
            )
        for name in _REQUIRED_INT + _OPTIONAL_INT:
            value = data.get(name)
            if value is None and name in _OPTIONAL_INT:
                values[name] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise CatalogueError(f"{where}: field {name!r} must be a positive integer")
            values[name] = value
        notes = data.get("notes")
        if notes is not None and not isinstance(notes, str):
            raise CatalogueError(f"{where}: field 'notes' must be a string")
        image_size = _image_size(data.get("image_size"), where)
        source = source_from_dict(data.get("source"), where, custom_source_kinds)
        return cls(source=source, notes=notes, image_size=image_size, origin=origin, **values)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if name == "origin":
                continue
            value = getattr(self, name)
            if name == "source":
                value = value.to_dict()
            elif name == "image_size" and value is not None:
                value = list(value)
            if value is not None:
                out[name] = value
        return out


def _image_size(value: Any, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)
    ):
        raise CatalogueError(f"{where}: field 'image_size' must be [width, height], two positive integers")
    return (value[0], value[1])
