"""Layer specifications: ``all``, ``2-5``, ``0-1,4``, and named groups such as ``bottom``."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import LayerSpecError
from .ranges import expand_spans, merge_spans, shorten, whole_number

_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+|end))?")


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
    spans: list[tuple[int, int]] = []
    for raw in text.split(","):
        item = raw.strip()
        if item == "all":
            spans.append((0, num_layers - 1))
        elif item in groups:
            spans.extend((index, index) for index in _group_indices(item, groups[item], num_layers, valid))
        else:
            spans.append(_span(item, num_layers, valid, groups))
    return expand_spans(merge_spans(spans))


def _span(item: str, num_layers: int, valid: str, groups: Mapping[str, tuple[int, ...]]) -> tuple[int, int]:
    """The inclusive (start, end) of one index or range item, checked against the model."""
    match = _RANGE.fullmatch(item)
    if not match:
        names = ", ".join(["all", *groups])
        raise LayerSpecError(
            f"layer spec item {shorten(item)!r} is not an index, a range A-B or a group ({names}); {valid}"
        )
    start_text, end_text = match.group(1), match.group(2) or match.group(1)
    start = whole_number(start_text)
    end = num_layers - 1 if end_text == "end" else whole_number(end_text)
    for value, text in ((end, end_text), (start, start_text)):
        if value is None or value >= num_layers:
            raise LayerSpecError(f"layer {shorten(text)} in {shorten(item)!r} is out of range: {valid}")
    if end < start:
        raise LayerSpecError(f"layer range {item!r} runs backwards; write it as {end}-{start}")
    return start, end


def _group_indices(name: str, indices: tuple[int, ...], num_layers: int, valid: str) -> tuple[int, ...]:
    outside = [index for index in indices if not 0 <= index < num_layers]
    if outside:
        raise LayerSpecError(f"group {name!r} holds layer {outside[0]}, out of range: {valid}")
    return indices


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
