"""Finding architectures by name or by what a checkpoint looks like."""

from __future__ import annotations

import difflib

from .architecture import Architecture
from .checkpoint import Checkpoint
from .errors import CheckpointError, UnknownArchitectureError
from .plugins import get_registry


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


def detect(checkpoint: Checkpoint, architecture: str | None = None) -> tuple[Architecture, str]:
    """The architecture and layout of ``checkpoint`` (restricted to ``architecture`` if given)."""
    if architecture is not None:
        arch = get_architecture(architecture)
        return arch, arch.resolve_layout(checkpoint, None)
    matches = []
    for arch in get_registry().architectures.values():
        layout = arch.detect(checkpoint)
        if layout is not None:
            matches.append((arch, layout))
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
