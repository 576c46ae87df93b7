"""Index lists for directions and seeds: ``3``, ``0-4``, ``0,2,5``, ``0-3,10``.

Layer specs (sefa_zoo.layers) need a layer count and know named groups; these lists do
not: seeds have no natural upper end, and a direction list is bounded by the bank's size.
"""

from __future__ import annotations

import re

from .errors import SefaZooError

_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")
MAX_COUNT = 10_000


def parse_index_list(spec: str, *, what: str, limit: int | None = None) -> tuple[int, ...]:
    """Sorted, de-duplicated indices for ``spec``; each must be below ``limit`` when given.

    ``what`` names the thing in error messages ("direction", "seed"). With a ``limit``,
    ``all`` means every index below it.
    """
    valid = f"valid {what}s are 0-{limit - 1}" if limit is not None else f"{what}s are whole numbers 0 or more"
    text = (spec or "").strip().lower()
    if not text:
        raise SefaZooError(f"empty {what} list; use an index such as 3, a range such as 0-4 or a list such as 0,2,5")
    chosen: set[int] = set()
    for raw in text.split(","):
        item = raw.strip()
        if item == "all" and limit is not None:
            chosen.update(range(limit))
            continue
        match = _ITEM.match(item)
        if not match:
            raise SefaZooError(f"{what} list item {item!r} is not an index N or a range A-B; {valid}")
        start = int(match.group(1))
        end = start if match.group(2) is None else int(match.group(2))
        if end < start:
            raise SefaZooError(f"{what} range {item!r} runs backwards; write it as {end}-{start}")
        if limit is not None and end >= limit:
            raise SefaZooError(f"{what} {end} in {item!r} is out of range: {valid}")
        if end - start + 1 > MAX_COUNT:
            raise SefaZooError(f"{what} range {item!r} has more than {MAX_COUNT} {what}s")
        chosen.update(range(start, end + 1))
    return tuple(sorted(chosen))
