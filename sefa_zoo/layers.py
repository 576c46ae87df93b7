"""Layer specifications: ``all``, ``2-5``, ``0-1,4``, and named groups such as ``bottom``."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import LayerSpecError

_RANGE = re.compile(r"^(\d+)(?:-(\d+|end))?$")


def parse_layer_spec(
    spec: str, num_layers: int, groups: Mapping[str, tuple[int, ...]] | None = None
) -> tuple[int, ...]:
    """Sorted, de-duplicated layer indices for ``spec`` among ``num_layers`` layers.

    Items are separated by commas; each is ``all``, a group name, an index ``N``, or an
    inclusive range ``A-B`` (``B`` may be ``end``).
    """
    groups = dict(groups or {})
    if num_layers <= 0:
        raise LayerSpecError("the model has no projection layers")
    valid = f"valid indices are 0-{num_layers - 1}" if num_layers > 1 else "the only valid index is 0"
    text = (spec or "").strip().lower()
    if not text:
        raise LayerSpecError(f"empty layer spec; use 'all', a range such as 2-5, or a list such as 0-1,4 ({valid})")
    chosen: set[int] = set()
    for raw in text.split(","):
        item = raw.strip()
        if item == "all":
            chosen.update(range(num_layers))
            continue
        if item in groups:
            chosen.update(groups[item])
            continue
        match = _RANGE.match(item)
        if not match:
            names = ", ".join(["all", *groups])
            raise LayerSpecError(
                f"layer spec item {item!r} is not an index, a range A-B or a group ({names}); {valid}"
            )
        start = int(match.group(1))
        end_text = match.group(2)
        end = start if end_text is None else (num_layers - 1 if end_text == "end" else int(end_text))
        if end < start:
            raise LayerSpecError(f"layer range {item!r} runs backwards; write it as {end}-{start}")
        if end >= num_layers:
            raise LayerSpecError(f"layer {end} in {item!r} is out of range: {valid}")
        chosen.update(range(start, end + 1))
    return tuple(sorted(chosen))


def format_layer_spec(indices: tuple[int, ...] | list[int]) -> str:
    """The shortest range-list for ``indices`` (``[0, 1, 2, 4]`` -> ``"0-2,4"``)."""
    parts: list[str] = []
    ordered = sorted(set(indices))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
