"""Index lists for directions and seeds: ``3``, ``0-4``, ``0,2,5``, ``0-3,10``.

Layer specs (sefa_zoo.layers) need a layer count and know named groups; these lists do
not: seeds have no natural upper end, and a direction list is bounded by the bank's size.

Both read numbers the same careful way: ASCII digits only, and never ``int()`` of more
digits than any index can have, so the work a spec causes follows its length, not the
numbers it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import SefaZooError

_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")
MAX_COUNT = 10_000
# Every index sefa-zoo handles fits in 18 digits; more than that is out of every range.
_MAX_DIGITS = 18
_SHOWN = 40


def parse_index_list(spec: str, *, what: str, limit: int | None = None) -> tuple[int, ...]:
    """Sorted, de-duplicated indices for ``spec``; each must be below ``limit`` when given.

    ``what`` names the thing in error messages ("direction", "seed"). With a ``limit``,
    ``all`` means every index below it. At most MAX_COUNT indices in all.
    """
    if limit is not None and limit <= 0:
        raise SefaZooError(f"there are no {what}s to choose from")
    valid = f"valid {what}s are 0-{limit - 1}" if limit is not None else f"{what}s are whole numbers 0 or more"
    text = (spec or "").strip().lower()
    if not text:
        raise SefaZooError(f"empty {what} list; use an index such as 3, a range such as 0-4 or a list such as 0,2,5")
    spans: list[tuple[int, int]] = []
    for raw in text.split(","):
        item = raw.strip()
        if item == "all" and limit is not None:
            spans.append((0, limit - 1))
            continue
        match = _ITEM.fullmatch(item)
        if not match:
            raise SefaZooError(f"{what} list item {shorten(item)!r} is not an index N or a range A-B; {valid}")
        start_text, end_text = match.group(1), match.group(2) or match.group(1)
        start, end = whole_number(start_text), whole_number(end_text)
        if end is None or (limit is not None and end >= limit):
            problem = "too large" if limit is None else f"out of range: {valid}"
            raise SefaZooError(f"{what} {shorten(end_text)} in {shorten(item)!r} is {problem}")
        if start is None or end < start:
            raise SefaZooError(f"{what} range {shorten(item)!r} runs backwards; "
                               f"write it as {shorten(end_text)}-{shorten(start_text)}")
        if end - start + 1 > MAX_COUNT:
            raise SefaZooError(f"{what} range {shorten(item)!r} has more than {MAX_COUNT} {what}s")
        spans.append((start, end))
    merged = merge_spans(spans)
    if sum(end - start + 1 for start, end in merged) > MAX_COUNT:
        raise SefaZooError(f"the {what} list names more than {MAX_COUNT} {what}s")
    return expand_spans(merged)


def whole_number(digits: str) -> int | None:
    """The value of ASCII ``digits``; None when it has more significant digits than any index."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _MAX_DIGITS else None


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive (start, end) spans, sorted, with overlapping and touching ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def expand_spans(merged: list[tuple[int, int]]) -> tuple[int, ...]:
    """Every index of sorted, disjoint inclusive spans, in order."""
    return tuple(index for start, end in merged for index in range(start, end + 1))


def shorten(text: str, width: int = _SHOWN) -> str:
    """``text`` cut to ``width`` characters for a message (a spec may be any length)."""
    return text if len(text) <= width else text[: width - 1] + "…"
