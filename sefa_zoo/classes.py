"""The class of a class-conditional generator: given by index or by name, checked against the
generator's ``num_classes`` and ``class_names`` (see the ``Generator`` protocol)."""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import SefaZooError

CLOSE_MATCHES = 3
MAX_SHOWN_NAME = 80
MAX_INDEX_DIGITS = 18  # longer digit strings are out of range, whatever int() would make of them


@dataclass(frozen=True)
class ChosenClass:
    """A class of a conditional generator: its index and, when the generator names its classes, its name."""

    index: int
    name: str | None = None

    def label(self) -> str:
        """``class 207 (golden retriever)``, or ``class 207`` for a generator without names."""
        return f"class {self.index}" + (f" ({self.name})" if self.name else "")


def num_classes_of(generator: object) -> int:
    """How many classes ``generator`` takes; 0 for an unconditional one."""
    count = getattr(generator, "num_classes", 0) or 0
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise SefaZooError(f"the generator's num_classes must be a whole number >= 0, got {count!r}")
    return count


def class_names_of(generator: object, count: int) -> tuple[str, ...] | None:
    """The generator's class names, one per class, or None when it has none."""
    names = getattr(generator, "class_names", None)
    if names is None:
        return None
    names = tuple(names)
    if len(names) != count or not all(isinstance(name, str) for name in names):
        raise SefaZooError(f"the generator's class_names must be {count} strings, one per class")
    return names


def resolve_class(generator: object, wanted: int | str | None, model: str | None = None) -> ChosenClass | None:
    """The class ``wanted`` names for ``generator`` (an index, a string of digits, or a class
    name matched case-insensitively), None for an unconditional generator given none; a
    one-line SefaZooError when a conditional generator gets no class, an unconditional one
    gets one, or the class is not one of the generator's."""
    what = f"model {model!r}" if model else "the model"
    count = num_classes_of(generator)
    if wanted is None:
        if count:
            raise SefaZooError(f"{what} is class-conditional ({count} classes): give --class")
        return None
    if not count:
        raise SefaZooError(f"{what} is not class-conditional: it takes no class (got {wanted!r})")
    names = class_names_of(generator, count)
    if isinstance(wanted, str) and not (wanted.strip().isascii() and wanted.strip().isdecimal()):
        index = _index_by_name(wanted, names, what)
    elif isinstance(wanted, bool) or not isinstance(wanted, (numbers.Integral, str)):
        raise SefaZooError(f"a class is an index or a name, not {type(wanted).__name__}")
    else:
        text = str(wanted).strip()
        index = int(text) if len(text.lstrip("-")) <= MAX_INDEX_DIGITS else None
        if index is None or not 0 <= index < count:
            raise SefaZooError(f"class {_shown(text)} is out of range: {what} has classes 0-{count - 1}")
    return ChosenClass(index, names[index] if names is not None else None)


def _index_by_name(wanted: str, names: Sequence[str] | None, what: str) -> int:
    shown = _shown(wanted)
    if names is None:
        raise SefaZooError(f"{what} has no class names: give the class as an index, not {shown!r}")
    key = _folded(wanted)
    found = [i for i, name in enumerate(names) if _folded(name) == key]
    if not found:  # WordNet-style names list synonyms: "tench, Tinca tinca"
        found = [i for i, name in enumerate(names) if key in (_folded(part) for part in name.split(","))]
    if len(found) > 1:
        listed = ", ".join(str(i) for i in found)
        raise SefaZooError(f"class name {shown!r} names several classes ({listed}): give the index")
    if found:
        return found[0]
    folded = {_folded(name): i for i, name in reversed(list(enumerate(names)))}
    close = difflib.get_close_matches(key, folded, n=CLOSE_MATCHES)
    hint = "; close: " + ", ".join(f"{names[folded[c]]!r} ({folded[c]})" for c in close) if close else ""
    raise SefaZooError(f"{what} has no class named {shown!r}{hint}")


def _shown(text: str) -> str:
    """``text`` cut to a length an error line can hold."""
    return text if len(text) <= MAX_SHOWN_NAME else text[:MAX_SHOWN_NAME] + "..."


def _folded(name: str) -> str:
    return " ".join(name.split()).casefold()
