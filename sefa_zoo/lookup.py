"""Finding architectures by name or by what a checkpoint looks like."""

from __future__ import annotations

import difflib

from .architecture import Architecture
from .checkpoint import Checkpoint
from .errors import CheckpointError, LayoutError, UnknownArchitectureError
from .plugins import call_plugin, detect_layout, get_registry


def suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def get_architecture(name: str) -> Architecture:
    architectures = get_registry().architectures
    if name not in architectures:
        known = sorted(architectures)
        hint = suggest(name, known) or f" (known: {', '.join(known) or 'none'})"
        raise UnknownArchitectureError(f"unknown architecture {name!r}{hint}")
    return architectures[name]


def architecture_of_layout(layout: str) -> Architecture:
    """The one registered architecture that declares a checkpoint layout named ``layout``."""
    architectures = get_registry().architectures.values()
    owners = sorted((arch for arch in architectures if layout in arch.layouts), key=lambda arch: arch.name)
    if len(owners) > 1:
        names = ", ".join(arch.name for arch in owners)
        raise LayoutError(f"layout {layout!r} is a layout of several architectures ({names}); pass --arch")
    if not owners:
        known = sorted({name for arch in architectures for name in arch.layouts})
        hint = suggest(layout, known) or f" (known: {', '.join(known) or 'none'})"
        raise LayoutError(f"no registered architecture has a layout {layout!r}{hint}")
    return owners[0]


def detect(
    checkpoint: Checkpoint, architecture: str | None = None, layout: str | None = None
) -> tuple[Architecture, str]:
    """The architecture and layout of ``checkpoint``.

    A given ``architecture`` is used as it is; a given ``layout`` (of that architecture, or
    naming the one architecture that declares it) is used instead of the detected one.
    """
    if architecture is not None:
        arch = get_architecture(architecture)
    elif layout is not None:
        arch = architecture_of_layout(layout)
    else:
        return _detect_by_content(checkpoint)
    return arch, call_plugin(arch, "resolve_layout", checkpoint, layout)


def _detect_by_content(checkpoint: Checkpoint) -> tuple[Architecture, str]:
    matches = []
    for arch in get_registry().architectures.values():
        found = detect_layout(arch, checkpoint)
        if found is not None:
            matches.append((arch, found))
    if not matches:
        known = ", ".join(sorted(get_registry().architectures)) or "none"
        raise CheckpointError(
            f"{checkpoint.label}: no registered architecture recognises this checkpoint "
            f"(registered: {known}; pass --arch to say which it is)"
        )
    if len(matches) > 1:
        names = ", ".join(f"{a.name}/{lay}" for a, lay in matches)
        raise CheckpointError(f"{checkpoint.label}: ambiguous checkpoint, matches {names}; pass --arch")
    return matches[0]
