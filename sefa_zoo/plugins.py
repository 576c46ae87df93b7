"""Plugin discovery and the registry built from the plugins' hooks.

Plugins come from four places, all registered on one pluggy manager, in this order:
  * the core's own hook implementations (the built-in source kinds);
  * built-ins: every public module of the ``sefa_zoo_plugins`` package (the repo's plugins/ folder);
  * installed distributions: the entry-point group ``sefa_zoo`` (filtered by SEFA_ZOO_LOAD_PLUGINS);
  * plugin files: ``*.py`` in the folder named by SEFA_ZOO_PLUGINS_DIR or ``--plugins-dir``;
and, at run time, objects passed to ``register_plugin``.
A broken plugin yields one PluginWarning naming it and the cause; the rest keep working.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from ._version import __version__
from .architecture import Architecture
from .entry import CatalogueEntry
from .errors import CatalogueError, PluginError

ENTRY_POINT_GROUP = "sefa_zoo"
BUILTIN_PACKAGE = "sefa_zoo_plugins"
DIRECTORY_PACKAGE = "sefa_zoo_dir_plugins"
# The core's own hook implementations (the hub / url / local source kinds).
CORE_MODULES = ("sefa_zoo.builtin_sources",)
HOOK_NAMES = tuple(sorted(n for n in dir(hookspecs) if n.startswith("register_")))

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
    loaded: bool = True

    @property
    def label(self) -> str:
        """How messages name the plugin: its name and where it came from."""
        return f"plugin {self.name!r} ({self.origin})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "kind": self.kind,
            "version": self.version,
            "loaded": self.loaded,
            "architectures": self.architectures,
            "catalogue_entries": self.catalogue_entries,
            "source_kinds": self.source_kinds,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class SourceKind:
    """What a plugin registered for one source kind (see hookspecs.register_checkpoint_sources)."""

    fetcher: Callable[..., Any]
    cached: Callable[[Any], Any] | None = None
    discard: Callable[[Any, Any], None] | None = None


@dataclass
class Registry:
    architectures: dict[str, Architecture]
    catalogue_entries: list[CatalogueEntry]
    source_kinds: dict[str, SourceKind]
    plugins: list[PluginInfo]
    problems: list[str]


_loaded = False
_plugins_dirs: list[Path] = []  # from --plugins-dir / set_plugins_dir, loaded in this order
_loaded_dirs: set[Path] = set()
_info: dict[str, PluginInfo] = {}  # registered plugins by name, in load order
_failed: list[PluginInfo] = []  # plugins that could not be loaded or registered
_load_problems: list[str] = []  # problems that belong to no plugin
_warned: dict[str, str | None] = {}  # message -> plugin it is about (None: no plugin)
_registry: Registry | None = None


def _warn(message: str, plugin: str | None) -> None:
    """Warn once per process, pointing at the first caller outside sefa_zoo."""
    if message in _warned:
        return
    _warned[message] = plugin
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").split(".")[0] == "sefa_zoo":
        frame = frame.f_back
    # registry=None: Python's own once-per-location memory must not swallow a warning
    # that _warned has not seen (after reset(), or a plugin unregistered and registered again).
    warnings.warn_explicit(
        message, PluginWarning, frame.f_code.co_filename, frame.f_lineno,
        module=frame.f_globals.get("__name__"), registry=None,
    )


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _fail(info: PluginInfo, message: str) -> None:
    info.loaded = False
    info.problems.append(message)
    _failed.append(info)


def _register_module(module: Any, name: str, info: PluginInfo) -> str | None:
    """Register ``module`` as plugin ``name``; the reason it was refused, or None."""
    if pm.has_plugin(name):
        taken = _info[name].origin if name in _info else "another plugin"
        return f"{info.label}: the plugin name {name!r} is already used by {taken}; not loaded"
    try:
        pm.register(module, name=name)
    except Exception as exc:
        return f"{info.label} could not be registered: {_cause(exc)}"
    _info[name] = info
    for caller in pm.get_hookcallers(module) or []:
        if not caller.has_spec():
            close = difflib.get_close_matches(caller.name, HOOK_NAMES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(HOOK_NAMES)}"
            info.problems.append(
                f"{info.label}: hook {caller.name!r} matches no hook specification ({hint}); ignored"
            )
    for hook_name in HOOK_NAMES:
        function = getattr(module, hook_name, None)
        if callable(function) and pm.parse_hookimpl_opts(module, hook_name) is None:
            info.problems.append(
                f"{info.label}: {hook_name} is not marked with @hookimpl; ignored"
            )
    return None


def _load_module(load: Callable[[], Any], info: PluginInfo, what: str) -> None:
    try:
        module = load()
    except Exception as exc:
        _fail(info, f"{info.label} {what}: {_cause(exc)}; not loaded")
        return
    refused = _register_module(module, info.name, info)
    if refused:
        _fail(info, refused)


def _load_builtins() -> None:
    for module_name in CORE_MODULES:
        module = importlib.import_module(module_name)
        _register_module(module, module_name, PluginInfo(module_name, "sefa-zoo core", "core", __version__))
    try:
        package = importlib.import_module(BUILTIN_PACKAGE)
    except ImportError as exc:
        _load_problems.append(f"built-in plugins ({BUILTIN_PACKAGE}) not found: {_cause(exc)}")
        return
    for mod in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        info = PluginInfo(mod.name, "built-in", "built-in", __version__)
        full_name = f"{BUILTIN_PACKAGE}.{mod.name}"
        _load_module(lambda: importlib.import_module(full_name), info, "failed to import")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _entry_point_filter() -> set[str] | None:
    """None = load all; otherwise the names (entry point or distribution) to load."""
    value = os.environ.get("SEFA_ZOO_LOAD_PLUGINS")
    if value is None:
        return None
    return {_normalise(part) for part in value.split(",") if part.strip()}


def _load_entry_points() -> None:
    wanted = _entry_point_filter()
    found: set[str] = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
        version = dist.version if dist is not None else None
        names = {_normalise(ep.name), _normalise(dist_name)}
        if wanted is not None:
            if not names & wanted:
                continue
            found |= names & wanted
        origin = f"{dist_name} {version}" if version else dist_name
        info = PluginInfo(ep.name, origin, "distribution", version)
        _load_module(ep.load, info, "failed to import")
    for name in sorted((wanted or set()) - found):
        _load_problems.append(
            f"SEFA_ZOO_LOAD_PLUGINS names {name!r}, but no installed distribution has a "
            f"{ENTRY_POINT_GROUP!r} entry point of that name"
        )


def _load_file(path: Path) -> Any:
    module_name = f"{DIRECTORY_PACKAGE}.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _load_directory(directory: Path) -> None:
    resolved = directory.expanduser().resolve()
    if resolved in _loaded_dirs:
        return
    _loaded_dirs.add(resolved)
    if not resolved.is_dir():
        _load_problems.append(f"plugins directory {str(directory)!r} does not exist")
        return
    for path in sorted(resolved.glob("*.py")):
        if path.name.startswith("_"):
            continue
        info = PluginInfo(path.stem, str(path), "file")
        _load_module(lambda: _load_file(path), info, "failed to import")


def _directories() -> list[Path]:
    env = os.environ.get("SEFA_ZOO_PLUGINS_DIR")
    return list(_plugins_dirs) + ([Path(env)] if env else [])


def load_plugins() -> None:
    """Discover and register every plugin once per process (see ``reset``)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    _load_builtins()
    _load_entry_points()
    for directory in _directories():
        _load_directory(directory)


def set_plugins_dir(directory: Path | None) -> None:
    """Load plugin files (``*.py``) from ``directory`` too (the CLI's --plugins-dir)."""
    global _registry
    if directory is None:
        return
    if Path(directory) not in _plugins_dirs:
        _plugins_dirs.append(Path(directory))
    if _loaded:
        _load_directory(Path(directory))
    _registry = None


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register an object or module as a plugin at run time (tests, notebooks); returns its name.

    Raises PluginError if it cannot be registered (name in use, a hook with the wrong arguments).
    """
    global _registry
    load_plugins()
    name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    refused = _register_module(plugin, name, PluginInfo(name, "registered at run time", "registered"))
    if refused:
        raise PluginError(refused)
    _registry = None
    return name


def unregister_plugin(name: str) -> None:
    """Undo ``register_plugin``; its warnings may be given again if it is registered again."""
    global _registry
    if pm.has_plugin(name):
        pm.unregister(name=name)
    _info.pop(name, None)
    for message in [m for m, owner in _warned.items() if owner == name]:
        del _warned[message]
    _registry = None


def reset() -> None:
    """Forget every plugin and warning, so that the next use discovers plugins afresh.

    For tests and long-lived sessions: the environment (SEFA_ZOO_LOAD_PLUGINS,
    SEFA_ZOO_PLUGINS_DIR) is read again on the next load.
    """
    global _loaded, _registry
    for name in list(_info):
        if pm.has_plugin(name):
            pm.unregister(name=name)
    for module_name in [m for m in sys.modules if m.startswith(DIRECTORY_PACKAGE + ".")]:
        del sys.modules[module_name]
    _info.clear()
    _failed.clear()
    _load_problems.clear()
    _warned.clear()
    _plugins_dirs.clear()
    _loaded_dirs.clear()
    _loaded = False
    _registry = None


def _implementations(hook_name: str) -> list[Any]:
    """A hook's implementations in load order, so the first plugin to claim a name keeps it;
    tryfirst / trylast move an implementation to the front / back."""
    impls = [i for i in getattr(pm.hook, hook_name).get_hookimpls()
             if not (i.hookwrapper or getattr(i, "wrapper", False))]
    return ([i for i in impls if i.tryfirst]
            + [i for i in impls if not i.tryfirst and not i.trylast]
            + [i for i in impls if i.trylast])


def _call_each(hook_name: str) -> Iterator[tuple[str, list | None, BaseException | None]]:
    """Call one hook's implementations one by one, yielding (plugin, register() calls, error).

    A plugin whose hook raises contributes nothing from that hook.
    """
    for impl in _implementations(hook_name):
        calls: list[tuple[tuple, dict]] = []

        def register(*args: Any, **kwargs: Any) -> None:
            calls.append((args, kwargs))

        try:
            impl.function(**{arg: register for arg in impl.argnames})
        except Exception as exc:
            yield impl.plugin_name, None, exc
            continue
        yield impl.plugin_name, calls, None


def _describe(value: Any) -> str:
    if isinstance(value, type):
        return f"the class {value.__name__} (register an instance)"
    return f"a {type(value).__name__}"


def build_registry() -> Registry:
    load_plugins()
    infos = {name: PluginInfo(**{**i.__dict__, "architectures": [], "catalogue_entries": [],
                                  "source_kinds": [], "problems": list(i.problems)})
             for name, i in _info.items()}

    def label(plugin: str) -> str:
        return infos[plugin].label if plugin in infos else f"plugin {plugin!r}"

    def note(plugin: str, message: str) -> None:
        if plugin in infos:
            infos[plugin].problems.append(message)
        else:
            extra_problems.append(message)

    def each(hook_name: str) -> Iterator[tuple[str, tuple, dict]]:
        for plugin, calls, error in _call_each(hook_name):
            if error is not None:
                note(plugin, f"{label(plugin)}: {hook_name} raised {_cause(error)}; "
                             "nothing it registers there is used")
                continue
            for args, kwargs in calls or []:
                yield plugin, args, kwargs

    extra_problems: list[str] = []
    source_kinds: dict[str, SourceKind] = {}
    owners: dict[str, str] = {}
    for plugin, args, kwargs in each("register_checkpoint_sources"):
        try:
            kind, fetcher, cached, discard = _bind(
                ("kind", "fetcher"), args, kwargs, optional=("cached", "discard")
            )
        except TypeError as exc:
            note(plugin, f"{label(plugin)}: bad register() call in register_checkpoint_sources: {exc}")
            continue
        if not isinstance(kind, str) or not kind or not callable(fetcher):
            note(plugin, f"{label(plugin)}: a source kind needs a name and a callable fetcher; ignored")
        elif any(f is not None and not callable(f) for f in (cached, discard)):
            note(plugin, f"{label(plugin)}: source kind {kind!r}: 'cached' and 'discard' must be "
                         "callables or None; ignored")
        elif kind in source_kinds:
            note(plugin, f"{label(plugin)}: source kind {kind!r} is already registered by "
                         f"plugin {owners[kind]!r}; ignored")
        else:
            source_kinds[kind] = SourceKind(fetcher, cached, discard)
            owners[kind] = plugin
            if plugin in infos:
                infos[plugin].source_kinds.append(kind)

    architectures: dict[str, Architecture] = {}
    arch_owner: dict[str, str] = {}
    for plugin, args, kwargs in each("register_architectures"):
        try:
            (arch,) = _bind(("architecture",), args, kwargs)
        except TypeError as exc:
            note(plugin, f"{label(plugin)}: bad register() call in register_architectures: {exc}")
            continue
        arch_name = getattr(arch, "name", None) if isinstance(arch, Architecture) else None
        if not isinstance(arch, Architecture):
            note(plugin, f"{label(plugin)}: register_architectures registered {_describe(arch)}, "
                         "not an Architecture instance; ignored")
        elif not isinstance(arch_name, str) or not arch_name:
            note(plugin, f"{label(plugin)}: architecture class {type(arch).__name__} has no name; ignored")
        elif arch_name in architectures:
            note(plugin, f"{label(plugin)}: architecture name {arch_name!r} is already taken by "
                         f"plugin {arch_owner[arch_name]!r}; ignored")
        else:
            architectures[arch_name] = arch
            arch_owner[arch_name] = plugin
            if plugin in infos:
                infos[plugin].architectures.append(arch_name)

    custom = frozenset(k for k in source_kinds if k not in ("hub", "url", "local"))
    entries: list[CatalogueEntry] = []
    for plugin, args, kwargs in each("register_catalogue_entries"):
        try:
            (entry,) = _bind(("entry",), args, kwargs)
            if isinstance(entry, dict):
                entry = CatalogueEntry.from_dict(entry, origin=label(plugin), custom_source_kinds=custom)
            elif not isinstance(entry, CatalogueEntry):
                raise CatalogueError(f"{label(plugin)}: register_catalogue_entries registered "
                                     f"{_describe(entry)}, not a CatalogueEntry or a mapping")
        except TypeError as exc:
            note(plugin, f"{label(plugin)}: bad register() call in register_catalogue_entries: {exc}")
            continue
        except CatalogueError as exc:
            note(plugin, f"{exc}; entry ignored")
            continue
        entries.append(entry)
        if plugin in infos:
            infos[plugin].catalogue_entries.append(entry.name)

    plugins = list(infos.values()) + [PluginInfo(**{**i.__dict__, "problems": list(i.problems)})
                                      for i in _failed]
    problems = list(_load_problems) + extra_problems + [m for info in plugins for m in info.problems]
    return Registry(architectures, entries, source_kinds, plugins, problems)


def _bind(names: tuple[str, ...], args: tuple, kwargs: dict, optional: tuple[str, ...] = ()) -> tuple:
    """Bind register() arguments: ``names`` are required, ``optional`` ones default to None."""
    values = list(args)
    every = names + optional
    if len(values) > len(every):
        raise TypeError(f"takes at most {len(every)} argument(s), got {len(values)}")
    for name in every[len(values):]:
        if name in kwargs:
            values.append(kwargs.pop(name))
        elif name in optional:
            values.append(None)
        else:
            raise TypeError(f"missing argument {name!r}")
    if kwargs:
        raise TypeError(f"unexpected argument {next(iter(kwargs))!r}")
    return tuple(values)


def get_registry() -> Registry:
    """The registry, built on first use; each plugin problem is warned about once per process."""
    global _registry
    if _registry is None:
        _registry = build_registry()
        owners = {m: info.name for info in _registry.plugins for m in info.problems}
        for message in _registry.problems:
            _warn(message, owners.get(message))
    return _registry
