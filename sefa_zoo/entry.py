"""One catalogue entry: a named pretrained checkpoint and what is known about it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import CatalogueError
from .sources import Source, cut, shown, source_from_dict

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")

_REQUIRED_STR = ("name", "architecture", "layout", "license", "provenance", "description")
_OPTIONAL_STR = ("license_short", "notes")
# Upper bounds, so that no number a catalogue claims makes work of its size
# (a layer spec of 'all' lists every layer).
_MAX_PIXELS = 1 << 16
_REQUIRED_INT = {"resolution": _MAX_PIXELS, "num_layers": 1 << 12}
_OPTIONAL_INT = {"z_dim": 1 << 16, "w_dim": 1 << 16, "approx_size": 1 << 50}


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
    # a few words for `sefa-zoo list` where ``license`` is long; None: derived from ``license``
    license_short: str | None = None
    # a rounded size in bytes, shown where the source's exact size is unknown; never checked
    approx_size: int | None = None
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
        where = f"entry {shown(raw_name)}" if isinstance(raw_name, str) and raw_name else "entry without a name"
        if origin:
            where = f"{origin}: {where}"
        known = set(cls.__dataclass_fields__) - {"origin"}
        unknown = sorted(cut(key) if isinstance(key, str) else shown(key) for key in data if key not in known)
        if unknown:
            raise CatalogueError(f"{where}: field {unknown[0]!r} is not a catalogue field")
        values: dict[str, Any] = {}
        for name in _REQUIRED_STR:
            value = data.get(name)
            if not isinstance(value, str) or not value.strip():
                raise CatalogueError(f"{where}: field {name!r} is required and must be a non-empty string")
            values[name] = value
        if not _NAME.fullmatch(values["name"]):
            raise CatalogueError(
                f"{where}: field 'name' must be lowercase letters, digits, '.', '_' or '-'"
            )
        for name in _OPTIONAL_STR:
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise CatalogueError(f"{where}: field {name!r} must be a string")
            values[name] = value
        for name, most in {**_REQUIRED_INT, **_OPTIONAL_INT}.items():
            value = data.get(name)
            if value is None and name in _OPTIONAL_INT:
                values[name] = None
                continue
            if not _whole_number_up_to(value, most):
                raise CatalogueError(f"{where}: field {name!r} must be a positive integer up to {most}")
            values[name] = value
        image_size = _image_size(data.get("image_size"), where)
        source = source_from_dict(data.get("source"), where, custom_source_kinds)
        return cls(source=source, image_size=image_size, origin=origin, **values)

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
        or not all(_whole_number_up_to(v, _MAX_PIXELS) for v in value)
    ):
        raise CatalogueError(
            f"{where}: field 'image_size' must be [width, height], two positive integers up to {_MAX_PIXELS}"
        )
    return (value[0], value[1])


def _whole_number_up_to(value: Any, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= most
