"""The model catalogue: the built-in zoo.yaml, plugins' entries, then the user's own files.

Sources are read in that order; a later entry whose name is already taken replaces the
earlier one, and the replacement is reported in ``Catalogue.notices``. A catalogue file
holds a list of entries (see zoo.yaml's header for the fields), either at the top level or
under the one key ``models``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from .entry import CatalogueEntry
from .errors import CatalogueError, UnknownModelError
from .lookup import suggest
from .paths import config_dir
from .plugins import PluginWarning, get_registry
from .sources import BUILTIN_SOURCE_TYPES, LocalSource, cut

ENV_VAR = "SEFA_ZOO_CATALOGUE"
BUILTIN_ORIGIN = "the built-in catalogue"
_GLOB_CHARS = frozenset("*?[")
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Longer numbers stay text: no catalogue field needs one, and YAML 1.1 converts some
# (2**5000, 1:00:00:...) slowly or not at all.
_MAX_NUMBER_CHARS = 64
_warned: set[str] = set()


class CatalogueWarning(PluginWarning):
    """A user's catalogue file or entry was ignored; the message names the file, line and field.

    A PluginWarning, so that it is shown the same way: one "Warning: ..." line.
    """


@dataclass
class Catalogue:
    """Entries by name, in the order they were first defined, and the override notices."""

    entries: dict[str, CatalogueEntry] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def add(self, entry: CatalogueEntry) -> None:
        previous = self.entries.get(entry.name)
        if previous is not None:
            self.notices.append(f"{entry.origin} overrides {entry.name!r} from {previous.origin}")
        self.entries[entry.name] = entry

    def get(self, name: str) -> CatalogueEntry:
        if name not in self.entries:
            hint = suggest(name, list(self.entries)) or " (see `sefa-zoo list`)"
            raise UnknownModelError(f"unknown model {name!r}{hint}")
        return self.entries[name]

    def find(self, pattern: str | None = None, architecture: str | None = None) -> list[CatalogueEntry]:
        """Entries whose name matches ``pattern`` (a glob, or else a substring) and architecture."""
        found = list(self.entries.values())
        if pattern:
            wanted = pattern.lower()
            if _GLOB_CHARS & set(wanted):
                found = [e for e in found if fnmatch.fnmatchcase(e.name, wanted)]
            else:
                found = [e for e in found if wanted in e.name]
        if architecture:
            found = [e for e in found if e.architecture.lower() == architecture.lower()]
        return found


def load_catalogue() -> Catalogue:
    """Read every catalogue source afresh (built-in, plugins, user files) and merge them."""
    registry = get_registry()
    custom_kinds = frozenset(k for k in registry.source_kinds if k not in BUILTIN_SOURCE_TYPES)
    catalogue = Catalogue()
    builtin = files("sefa_zoo") / "zoo.yaml"
    for entry in parse_catalogue(builtin.read_text(encoding="utf-8"), str(builtin), BUILTIN_ORIGIN, custom_kinds):
        catalogue.add(entry)
    for entry in registry.catalogue_entries:
        if not entry.origin:
            entry = dataclasses.replace(entry, origin=_plugin_origin(registry, entry.name))
        catalogue.add(entry)
    for path, origin in user_catalogue_files():
        for entry in read_catalogue_file(path, origin, custom_kinds):
            catalogue.add(entry)
    return catalogue


def _plugin_origin(registry: Any, name: str) -> str:
    """Who registered entry ``name``, for an entry a plugin passed as an object."""
    owners = [info for info in registry.plugins if name in info.catalogue_entries]
    if not owners:
        return "a plugin"
    info = owners[-1]
    return getattr(info, "label", None) or f"plugin {info.name!r}"


def get_entry(name: str) -> CatalogueEntry:
    """The catalogue entry called ``name``; UnknownModelError suggests the closest names."""
    return load_catalogue().get(name)


def find_entries(pattern: str | None = None, architecture: str | None = None) -> list[CatalogueEntry]:
    return load_catalogue().find(pattern, architecture)


def user_catalogue_files() -> list[tuple[Path, str]]:
    """(path, origin) of each user catalogue file, in reading order.

    The config-dir file is optional; a file named in SEFA_ZOO_CATALOGUE that is not there
    is warned about and skipped.
    """
    found: list[tuple[Path, str]] = []
    config_file = config_dir() / "zoo.yaml"
    if config_file.is_file():
        found.append((config_file, f"user catalogue {display_path(config_file)}"))
    for part in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if not part.strip():
            continue
        path = Path(part.strip()).expanduser()
        if not path.is_file():
            _warn(f"{ENV_VAR} names {display_path(path)}, which is not a file; ignored")
            continue
        found.append((path, f"catalogue {display_path(path)} (from {ENV_VAR})"))
    return found


def read_catalogue_file(
    path: Path, origin: str, custom_kinds: frozenset[str] = frozenset()
) -> list[CatalogueEntry]:
    """The valid entries of a user's catalogue file. Each bad entry, or a file that cannot be
    read as a catalogue at all, is one CatalogueWarning; the rest of the catalogue works."""
    where = display_path(path)
    problems: list[CatalogueError] = []
    try:
        entries = parse_catalogue(_read_text(path, where), where, origin, custom_kinds,
                                  base=path.parent, problems=problems)
    except CatalogueError as exc:
        _warn(f"{exc}; file ignored")
        return []
    for problem in problems:
        _warn(f"{problem}; entry ignored")
    return entries


def _read_text(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogueError(f"{where}: not a UTF-8 text file") from None
    except OSError as exc:
        raise CatalogueError(f"{where}: cannot be read ({exc.strerror or exc})") from None


def _warn(message: str) -> None:
    """Warn once per process: one command may read the catalogue several times."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, CatalogueWarning, stacklevel=3)


def parse_catalogue(
    text: str,
    where: str,
    origin: str,
    custom_kinds: frozenset[str] = frozenset(),
    *,
    base: Path | None = None,
    problems: list[CatalogueError] | None = None,
) -> list[CatalogueEntry]:
    """Validate catalogue ``text``; errors start with ``where`` (the file) and the line.

    A relative ``local`` source path is taken relative to ``base`` (the file's folder).
    A problem with the file as a whole raises CatalogueError; so does a bad entry, unless
    ``problems`` is given: then its error is appended there and the entry left out.
    """
    models, node = _entry_list(text, where)
    item_nodes = _item_nodes(node)
    entries: list[CatalogueEntry] = []
    first_line: dict[str, int] = {}
    for i, item in enumerate(models):
        item_node = item_nodes[i] if i < len(item_nodes) else None
        line = item_node.start_mark.line + 1 if item_node is not None else 0
        at = f"{where}:{line}" if line else where
        try:
            entry = _checked_entry(item, item_node, at, custom_kinds, first_line)
        except CatalogueError as exc:
            if problems is None:
                raise
            problems.append(exc)
            continue
        first_line[entry.name] = line
        entries.append(dataclasses.replace(_relative_to(entry, base), origin=origin))
    return entries


def _entry_list(text: str, where: str) -> tuple[list[Any], yaml.Node | None]:
    """The file's list of entries (empty for an empty file) and the YAML node of the document."""
    data, node = _load_yaml(text, where)
    if isinstance(data, dict):
        extra = sorted(cut(str(key)) for key in data if key != "models")
        if extra:
            raise CatalogueError(f"{where}: unknown top-level key {extra[0]!r} (only 'models' is allowed)")
        models = data.get("models")
        if models is not None and not isinstance(models, list):
            raise CatalogueError(f"{where}: 'models' must be a list of entries")
    elif data is None or isinstance(data, list):
        models = data
    else:
        raise CatalogueError(f"{where}: a catalogue file must be a list of entries or a mapping with the key 'models'")
    return models or [], node


def _checked_entry(
    item: Any, item_node: yaml.Node | None, at: str, custom_kinds: frozenset[str], first_line: dict[str, int]
) -> CatalogueEntry:
    entry = CatalogueEntry.from_dict(item, origin=at, custom_source_kinds=custom_kinds)
    repeated = _repeated_key(item_node)
    if repeated:
        raise CatalogueError(f"{at}: entry {entry.name!r}: field {repeated!r} is given twice")
    if entry.name in first_line:
        raise CatalogueError(
            f"{at}: entry {entry.name!r}: field 'name' repeats the entry at line "
            f"{first_line[entry.name]} of this file"
        )
    return entry


def _relative_to(entry: CatalogueEntry, base: Path | None) -> CatalogueEntry:
    """``entry`` with a relative local source path taken relative to ``base``."""
    if not isinstance(entry.source, LocalSource):
        return entry
    path = Path(entry.source.path).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    return dataclasses.replace(entry, source=dataclasses.replace(entry.source, path=str(path)))


class _CatalogueLoader(_SAFE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader (libyaml's when present), except that dates stay text, and so do
    numbers too long for any field or that YAML cannot convert (``!!int abc``)."""


def _text_when_unconvertible(construct: Callable[[Any, yaml.Node], Any]) -> Callable[[Any, yaml.Node], Any]:
    def construct_or_text(loader: Any, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode) and len(node.value) <= _MAX_NUMBER_CHARS:
            try:
                return construct(loader, node)
            except (ValueError, KeyError, IndexError, AttributeError, TypeError, OverflowError):
                pass
        return loader.construct_scalar(node)

    return construct_or_text


_CatalogueLoader.add_constructor("tag:yaml.org,2002:int", _text_when_unconvertible(yaml.SafeLoader.construct_yaml_int))
_CatalogueLoader.add_constructor("tag:yaml.org,2002:float",
                                 _text_when_unconvertible(yaml.SafeLoader.construct_yaml_float))
_CatalogueLoader.add_constructor("tag:yaml.org,2002:bool",
                                 _text_when_unconvertible(yaml.SafeLoader.construct_yaml_bool))
_CatalogueLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)


def _load_yaml(text: str, where: str) -> tuple[Any, yaml.Node | None]:
    # yaml.safe_load unrolled: the node tree is kept so that errors can name an entry's line.
    loader = _CatalogueLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = _first_line(exc.problem or exc.context or "invalid YAML")
        raise CatalogueError(f"{where}{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{where}: YAML error: {_first_line(str(exc)) or type(exc).__name__}") from None
    except RecursionError:
        raise CatalogueError(f"{where}: YAML error: nested too deeply") from None
    finally:
        loader.dispose()
    return data, node


def _first_line(message: str) -> str:
    lines = message.strip().splitlines()
    return cut(lines[0], 200) if lines else ""


def _item_nodes(node: yaml.Node | None) -> list[yaml.Node]:
    """The YAML nodes of the entries: the top-level list's items, or those of ``models``."""
    if isinstance(node, yaml.MappingNode):
        node = next((value for key, value in node.value
                     if isinstance(key, yaml.ScalarNode) and key.value == "models"), None)
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _repeated_key(node: yaml.Node | None) -> str | None:
    """A key given twice in an entry or in its source, which YAML would silently drop.

    Only keys written in the entry count: those merged in with ``<<`` come from elsewhere.
    """
    for prefix, mapping in (("", node), ("source.", _field_node(node, "source"))):
        seen: set[str] = set()
        for key in _own_keys(mapping):
            if key in seen:
                return prefix + cut(key)
            seen.add(key)
    return None


def _own_keys(node: yaml.Node | None) -> list[str]:
    if not isinstance(node, yaml.MappingNode):
        return []
    start, end = node.start_mark.index, node.end_mark.index
    return [key.value for key, _ in node.value
            if isinstance(key, yaml.ScalarNode) and start <= key.start_mark.index < end]


def _field_node(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for key, value in node.value if isinstance(key, yaml.ScalarNode) and key.value == name), None)


def display_path(path: Path) -> str:
    """``path`` with the home folder written as ``~``."""
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):
        return str(path)

