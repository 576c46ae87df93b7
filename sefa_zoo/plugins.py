"""Plugin discovery and the registry built from the plugins' hooks.

Plugins come from three places, all registered on one pluggy manager:
  * built-ins: every module of the ``sefa_zoo_plugins`` package (the repo's plugins/ folder);
  * installed distributions: the entry-point group ``sefa_zoo`` (filtered by SEFA_ZOO_LOAD_PLUGINS);
  * plugin files: ``*.py`` in the folder named by SEFA_ZOO_PLUGINS_DIR or ``--plugins-dir``.
A broken plugin yields one PluginWarning naming it and the cause; the rest keep working.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .architecture import Architecture
from .entry import CatalogueEntry
from .errors import CatalogueError

ENTRY_POINT_GROUP = "sefa_zoo"
BUILTIN_PACKAGE = "sefa_zoo_plugins"
# The core's own hook implementations (the hub / url / local source kinds).
CORE_MODULES = ("sefa_zoo.builtin_sources",)

pm = pluggy.PluginManager("sefa_zoo")
pm.add_hookspecs(hookspecs)


class PluginWarning(UserWarning):
    """A plugin could not be loaded, or part of what it registers was refused."""


@dataclass
class PluginInfo:
    name: str
    origin: str
    kind: str  # "core", "built-in", "distribution", "file", "registered"
    version: str | None = None
    architectures: list[str] = field(default_factory=list)
    catalogue_entries: list[str] = field(default_factory=list)
    source_kinds: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "kind": self.kind,
            "version": self.version,
            "architectures": self.architectures,
            "catalogue_entries": self.catalogue_entries,
            "source_kinds": self.source_kinds,
            "problems": self.problems,
        }


@dataclass
class Registry:
    architectures: dict[str, Architecture]
    catalogue_entries: list[CatalogueEntry]
    source_kinds: dict[str, Callable[..., Any]]
    plugins: list[PluginInfo]
    problems: list[str]


_loaded = False
_plugins_dir: Path | None = None
_info: dict[str, PluginInfo] = {}
_load_problems: list[str] = []
_registry: Registry | None = None


def _warn(message: str) -> None:
    warnings.warn(message, PluginWarning, stacklevel=3)


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _register_module(module: Any, name: str, info: PluginInfo) -> None:
    try:
        pm.register(module, name=name)
    except Exception as exc:
        _problem(info, f"plugin {name!r} ({info.origin}) could not be registered: {_cause(exc)}")
        return
    _info[name] = info
    for caller in pm.get_hookcallers(module) or []:
        if not caller.has_spec():
            known = ", ".join(n for n in dir(hookspecs) if n.startswith("register_"))
            _problem(
                info,
                f"plugin {name!r} ({info.origin}): hook {caller.name!r} matches no hook "
                f"specification (known: {known})",
            )


def _problem(info: PluginInfo, message: str) -> None:
    info.problems.append(message)
    _load_problems.append(message)


def _load_builtins() -> None:
    for module_name in CORE_MODULES:
        module = importlib.import_module(module_name)
        _register_module(module, module_name, PluginInfo(module_name, "sefa-zoo core", "core"))
    try:
        package = importlib.import_module(BUILTIN_PACKAGE)
    except ImportError as exc:
        _load_problems.append(f"built-in plugins ({BUILTIN_PACKAGE}) not found: {_cause(exc)}")
        return
    for mod in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        full = f"{BUILTIN_PACKAGE}.{mod.name}"
        info = PluginInfo(mod.name, "built-in", "built-in")
        try:
            module = importlib.import_module(full)
        except Exception as exc:
            _problem(info, f"built-in plugin {mod.name!r} failed to import: {_cause(exc)}")
            continue
        _register_module(module, mod.name, info)


def _entry_point_filter() -> set[str] | None:
    """None = load all; otherwise the names (entry point or distribution) to load."""
    value = os.environ.get("SEFA_ZOO_LOAD_PLUGINS")
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _load_entry_points() -> None:
    wanted = _entry_point_filter()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
        version = dist.version if dist is not None else None
        if wanted is not None and ep.name not in wanted and dist_name not in wanted:
            continue
        if ep.name in _info or pm.has_plugin(ep.name):
            continue
        info = PluginInfo(ep.name, f"{dist_name} {version}", "distribution", version=version)
        try:
            module = ep.load()
        except Exception as exc:
            _problem(info, f"plugin {ep.name!r} ({dist_name}) failed to import: {_cause(exc)}")
            continue
        _register_module(module, ep.name, info)


def _load_directory(directory: Path) -> None:
    if not directory.is_dir():
        _load_problems.append(f"plugins directory {str(directory)!r} does not exist")
        return
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = path.stem
        info = PluginInfo(name, str(path), "file")
        module_name = f"sefa_zoo_dir_plugins.{name}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            _problem(info, f"plugin file {str(path)!r} failed to import: {_cause(exc)}")
            continue
        _register_module(module, name, info)


def load_plugins() -> None:
    """Discover and register every plugin once per process."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    _load_builtins()
    _load_entry_points()
    directory = _plugins_dir or (
        Path(os.environ["SEFA_ZOO_PLUGINS_DIR"]) if os.environ.get("SEFA_ZOO_PLUGINS_DIR") else None
    )
    if directory is not None:
        _load_directory(directory)


def set_plugins_dir(directory: Path | None) -> None:
    """Load plugin files from ``directory`` too (the CLI's --plugins-dir)."""
    global _plugins_dir, _registry
    _plugins_dir = directory
    if _loaded and directory is not None:
        _load_directory(directory)
    _registry = None


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register an object or module as a plugin at run time (tests, notebooks)."""
    global _registry
    load_plugins()
    name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    _register_module(plugin, name, PluginInfo(name, "registered at run time", "registered"))
    _registry = None
    return name


def unregister_plugin(name: str) -> None:
    global _registry
    if pm.has_plugin(name):
        pm.unregister(name=name)
    _info.pop(name, None)
    _registry = None


def _call_each(hook_name: str, make_register: Callable[[str, list], Callable[..., None]]):
    """Call one hook's implementations one by one, yielding (plugin, registered items).

    A plugin whose hook raises contributes nothing from that hook and gets a warning.
    """
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        items: list = []
        register = make_register(impl.plugin_name, items)
        try:
            impl.function(**{arg: register for arg in impl.argnames})
        except Exception as exc:
            yield impl.plugin_name, None, f"plugin {impl.plugin_name!r}: {hook_name} raised {_cause(exc)}"
            continue
        yield impl.plugin_name, items, None


def _collector(plugin: str, items: list) -> Callable[..., None]:
    def register(*args: Any, **kwargs: Any) -> None:
        items.append((args, kwargs))

    return register


def build_registry() -> Registry:
    load_plugins()
    problems = list(_load_problems)
    infos = {name: PluginInfo(**{**i.__dict__, "architectures": [], "catalogue_entries": [],
                                  "source_kinds": [], "problems": list(i.problems)})
             for name, i in _info.items()}

    def note(plugin: str, message: str) -> None:
        problems.append(message)
        if plugin in infos:
            infos[plugin].problems.append(message)

    source_kinds: dict[str, Callable[..., Any]] = {}
    owners: dict[str, str] = {}
    for plugin, items, error in _call_each("register_checkpoint_sources", _collector):
        if error:
            note(plugin, error)
            continue
        for args, kwargs in items:
            try:
                kind, fetcher = _bind(("kind", "fetcher"), args, kwargs)
            except TypeError as exc:
                note(plugin, f"plugin {plugin!r}: bad register() call in register_checkpoint_sources: {exc}")
                continue
            if not isinstance(kind, str) or not callable(fetcher):
                note(plugin, f"plugin {plugin!r}: a source kind needs a name and a callable fetcher")
            elif kind in source_kinds:
                note(plugin, f"plugin {plugin!r}: source kind {kind!r} is already registered by "
                             f"plugin {owners[kind]!r}; ignored")
            else:
                source_kinds[kind] = fetcher
                owners[kind] = plugin
                if plugin in infos:
                    infos[plugin].source_kinds.append(kind)

    architectures: dict[str, Architecture] = {}
    arch_owner: dict[str, str] = {}
    for plugin, items, error in _call_each("register_architectures", _collector):
        if error:
            note(plugin, error)
            continue
        for args, kwargs in items:
            try:
                (arch,) = _bind(("architecture",), args, kwargs)
            except TypeError as exc:
                note(plugin, f"plugin {plugin!r}: bad register() call in register_architectures: {exc}")
                continue
            if not isinstance(arch, Architecture) or not getattr(arch, "name", None):
                note(plugin, f"plugin {plugin!r}: registered {arch!r}, which is not a named Architecture")
            elif arch.name in architectures:
                note(plugin, f"plugin {plugin!r}: architecture name {arch.name!r} is already taken by "
                             f"plugin {arch_owner[arch.name]!r}; ignored")
            else:
                architectures[arch.name] = arch
                arch_owner[arch.name] = plugin
                if plugin in infos:
                    infos[plugin].architectures.append(arch.name)

    custom = frozenset(k for k in source_kinds if k not in ("hub", "url", "local"))
    entries: list[CatalogueEntry] = []
    for plugin, items, error in _call_each("register_catalogue_entries", _collector):
        if error:
            note(plugin, error)
            continue
        for args, kwargs in items:
            try:
                (entry,) = _bind(("entry",), args, kwargs)
                if isinstance(entry, dict):
                    entry = CatalogueEntry.from_dict(entry, origin=f"plugin {plugin}",
                                                     custom_source_kinds=custom)
                elif not isinstance(entry, CatalogueEntry):
                    raise CatalogueError(f"plugin {plugin!r}: registered {entry!r}, not a catalogue entry")
            except (TypeError, CatalogueError) as exc:
                note(plugin, f"plugin {plugin!r}: catalogue entry refused: {exc}")
                continue
            entries.append(entry)
            if plugin in infos:
                infos[plugin].catalogue_entries.append(entry.name)

    return Registry(architectures, entries, source_kinds, list(infos.values()), problems)


def _bind(names: tuple[str, ...], args: tuple, kwargs: dict) -> tuple:
    values = list(args)
    if len(values) > len(names):
        raise TypeError(f"takes {len(names)} argument(s), got {len(values)}")
    for name in names[len(values):]:
        if name not in kwargs:
            raise TypeError(f"missing argument {name!r}")
        values.append(kwargs.pop(name))
    if kwargs:
        raise TypeError(f"unexpected argument {next(iter(kwargs))!r}")
    return tuple(values)


def get_registry() -> Registry:
    """The registry, built on first use; plugin problems are warned about once."""
    global _registry
    if _registry is None:
        _registry = build_registry()
        for message in _registry.problems:
            _warn(message)
    return _registry
