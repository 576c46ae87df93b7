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
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from .entry import CatalogueEntry
from .errors import CatalogueError, UnknownModelError
from .lookup import suggest
from .paths import config_dir
from .plugins import get_registry
from .sources import BUILTIN_SOURCE_TYPES, LocalSource

ENV_VAR = "SEFA_ZOO_CATALOGUE"
BUILTIN_ORIGIN = "the built-in catalogue"
_GLOB_CHARS = frozenset("*?[")
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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

    The config-dir file is optional; every file named in SEFA_ZOO_CATALOGUE must exist.
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
            raise CatalogueError(f"{ENV_VAR} names {display_path(path)}, which is not a file")
        found.append((path, f"catalogue {display_path(path)} (from {ENV_VAR})"))
    return found


def read_catalogue_file(
    path: Path, origin: str, custom_kinds: frozenset[str] = frozenset()
) -> list[CatalogueEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogueError(f"{display_path(path)}: not a UTF-8 text file") from None
    except OSError as exc:
        raise CatalogueError(f"{display_path(path)}: cannot be read ({exc.strerror or exc})") from None
    return parse_catalogue(text, display_path(path), origin, custom_kinds, base=path.parent)


def parse_catalogue(
    text: str,
    where: str,
    origin: str,
    custom_kinds: frozenset[str] = frozenset(),
    *,
    base: Path | None = None,
) -> list[CatalogueEntry]:
    """Validate catalogue ``text``; errors start with ``where`` (the file) and the line.

    A relative ``local`` source path is taken relative to ``base`` (the file's folder).
    """
    data, node = _load_yaml(text, where)
    if isinstance(data, dict):
        extra = sorted(str(key) for key in data if key != "models")
        if extra:
            raise CatalogueError(f"{where}: unknown top-level key {extra[0]!r} (only 'models' is allowed)")
        models = data.get("models")
        if models is not None and not isinstance(models, list):
            raise CatalogueError(f"{where}: 'models' must be a list of entries")
    elif data is None or isinstance(data, list):
        models = data
    else:
        raise CatalogueError(f"{where}: a catalogue file must be a list of entries or a mapping with the key 'models'")
    if not models:
        return []
    item_nodes = _item_nodes(node)
    entries: list[CatalogueEntry] = []
    first_line: dict[str, int] = {}
    for i, item in enumerate(models):
        item_node = item_nodes[i] if i < len(item_nodes) else None
        line = item_node.start_mark.line + 1 if item_node is not None else 0
        at = f"{where}:{line}" if line else where
        entry = CatalogueEntry.from_dict(item, origin=at, custom_source_kinds=custom_kinds)
        repeated = _repeated_key(item_node)
        if repeated:
            raise CatalogueError(f"{at}: entry {entry.name!r}: field {repeated!r} is given twice")
        if entry.name in first_line:
            raise CatalogueError(
                f"{at}: entry {entry.name!r}: field 'name' repeats the entry at line "
                f"{first_line[entry.name]} of this file"
            )
        first_line[entry.name] = line
        if isinstance(entry.source, LocalSource):
            path = Path(entry.source.path).expanduser()
            if base is not None and not path.is_absolute():
                path = base / path
            entry = dataclasses.replace(entry, source=dataclasses.replace(entry.source, path=str(path)))
        entries.append(dataclasses.replace(entry, origin=origin))
    return entries


def _load_yaml(text: str, where: str) -> tuple[Any, yaml.Node | None]:
    # yaml.safe_load unrolled: the same safe loader (libyaml's when present), but the node
    # tree is kept so that errors can name an entry's line.
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise CatalogueError(f"{where}{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()
        raise CatalogueError(f"{where}: YAML error: {first[0] if first else type(exc).__name__}") from None
    finally:
        loader.dispose()
    return data, node


def _item_nodes(node: yaml.Node | None) -> list[yaml.Node]:
    """The YAML nodes of the entries: the top-level list's items, or those of ``models``."""
    if isinstance(node, yaml.MappingNode):
        node = next((value for key, value in node.value
                     if isinstance(key, yaml.ScalarNode) and key.value == "models"), None)
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _repeated_key(node: yaml.Node | None, prefix: str = "") -> str | None:
    """A key given twice in an entry (or its source), which YAML would silently drop."""
    if not isinstance(node, yaml.MappingNode):
        return None
    seen: set[str] = set()
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        if key.value in seen:
            return prefix + key.value
        seen.add(key.value)
        found = _repeated_key(value, f"{prefix}{key.value}.")
        if found:
            return found
    return None


def display_path(path: Path) -> str:
    """``path`` with the home folder written as ``~``."""
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except (ValueError, RuntimeError):
        return str(path)

