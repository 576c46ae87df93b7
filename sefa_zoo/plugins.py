"""Plugin discovery and the registry built from the plugins' hooks.

Plugins come from four places, all registered on one pluggy manager, in this order:
  * the core's own hook implementations (the built-in source kinds);
  * built-ins: every public module of the ``sefa_zoo_plugins`` package (the repo's plugins/ folder);
  * installed distributions: the entry-point group ``sefa_zoo`` (filtered by SEFA_ZOO_LOAD_PLUGINS);
  * plugin files: ``*.py`` in the folder named by SEFA_ZOO_PLUGINS_DIR or ``--plugins-dir``;
and, at run time, objects passed to ``register_plugin``.
A broken plugin yields one PluginWarning naming it and the cause; the rest keep working.

Every call into plugin code goes through ``_plugin_code``: whatever it raises (SystemExit and a
KeyboardInterrupt included) is the plugin's fault, unless the user really pressed Ctrl-C
(sefa_zoo.interrupts counts SIGINTs): then it is a KeyboardInterrupt, even when the plugin
swallowed it. The core calls what plugins registered through ``call_plugin`` /
``plugin_call`` and ``detect_layout``. A plugin whose import hangs is not stopped.
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs, interrupts
from ._version import __version__
from .architecture import Architecture
from .entry import CatalogueEntry
from .errors import CatalogueError, PluginError, SefaZooError
from .scoring import Scorer, scorer_problem
from .sources import Source

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
    scorers: list[str] = field(default_factory=list)

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
    # id() of each architecture, source kind and scorer -> (its plugin, how messages name it)
    owners: dict[int, tuple[str, str]] = field(default_factory=dict)
    scorers: dict[str, Scorer] = field(default_factory=dict)


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


_MESSAGE_CHARS = 200  # of an exception's message quoted in a warning


def _cause(exc: BaseException) -> str:
    """``Type: first line of its message``, however the exception prints (or fails to)."""
    try:
        text = str(exc).strip().splitlines()
    except Exception:
        text = []
    if not text:
        return type(exc).__name__
    first = text[0] if len(text[0]) <= _MESSAGE_CHARS else text[0][:_MESSAGE_CHARS] + "…"
    return f"{type(exc).__name__}: {first}"


def _where(exc: BaseException) -> str:
    """`` (file.py:line)`` where ``exc`` was raised, for a bug report."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f" ({Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno})" if tb is not None else ""


class _PluginFault(Exception):
    """What plugin code raised (``cause``), a real Ctrl-C excepted."""

    def __init__(self, cause: BaseException):
        super().__init__(_cause(cause))
        self.cause = cause


@contextmanager
def _plugin_code(passing: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Around a call into plugin code: what it raises comes out as a _PluginFault, but for
    ``passing`` exceptions; a Ctrl-C the user pressed meanwhile comes out as KeyboardInterrupt,
    whatever the plugin (or a library under it) made of it."""
    with interrupts.watching() as ctrl_c_pressed:
        try:
            yield
        except BaseException as exc:
            pressed = ctrl_c_pressed()
            if isinstance(exc, KeyboardInterrupt) and pressed is not False:
                raise  # a real Ctrl-C, or no way to tell (then it is taken as one)
            if pressed:
                raise KeyboardInterrupt from exc
            if isinstance(exc, passing):
                raise
            raise _PluginFault(exc) from exc
        if ctrl_c_pressed():
            raise KeyboardInterrupt


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
        with _plugin_code():
            pm.register(module, name=name)
    except _PluginFault as fault:
        _forget_partly_registered(name)
        return f"{info.label} could not be registered: {fault}"
    _info[name] = info
    try:
        with _plugin_code():
            info.problems.extend(_hook_problems(module, info))
    except _PluginFault as fault:
        info.problems.append(f"{info.label}: looking for hooks in it raised {fault} (a missing attribute must "
                             "raise AttributeError); its other hooks are used")
    return None


def _forget_partly_registered(name: str) -> None:
    """pluggy keeps what it registered before a failure: take it out again."""
    try:
        with _plugin_code():
            if pm.has_plugin(name):
                pm.unregister(name=name)
    except _PluginFault:
        pass


def _hook_problems(module: Any, info: PluginInfo) -> list[str]:
    """Hooks of ``module`` that will not be called: misspelt, or not marked as hooks."""
    problems = []
    for caller in pm.get_hookcallers(module) or []:
        if not caller.has_spec():
            close = difflib.get_close_matches(caller.name, HOOK_NAMES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(HOOK_NAMES)}"
            problems.append(f"{info.label}: hook {caller.name!r} matches no hook specification ({hint}); ignored")
    for hook_name in HOOK_NAMES:
        function = getattr(module, hook_name, None)
        if callable(function) and pm.parse_hookimpl_opts(module, hook_name) is None:
            problems.append(f"{info.label}: {hook_name} is not marked with @hookimpl; ignored")
    return problems


def _load_module(load: Callable[[], Any], info: PluginInfo, what: str) -> None:
    try:
        with _plugin_code():
            module = load()
    except _PluginFault as fault:
        _fail(info, f"{info.label} {what}: {fault}; not loaded")
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


def _call_each(hook_name: str) -> Iterator[tuple[str, list | None, _PluginFault | None]]:
    """Call one hook's implementations one by one, yielding (plugin, register() calls, fault).

    A plugin whose hook raises contributes nothing from that hook.
    """
    for impl in _implementations(hook_name):
        calls: list[tuple[tuple, dict]] = []

        def register(*args: Any, **kwargs: Any) -> None:
            calls.append((args, kwargs))

        try:
            with _plugin_code():
                impl.function(**{arg: register for arg in impl.argnames})
        except _PluginFault as fault:
            yield impl.plugin_name, None, fault
            continue
        yield impl.plugin_name, calls, None


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, type):
        return f"the class {value.__name__} (register an instance)"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def build_registry() -> Registry:
    load_plugins()
    infos = {name: PluginInfo(**{**i.__dict__, "architectures": [], "catalogue_entries": [],
                                  "source_kinds": [], "scorers": [], "problems": list(i.problems)})
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
                note(plugin, f"{label(plugin)}: {hook_name} raised {error}; "
                             "nothing it registers there is used")
                continue
            for args, kwargs in calls or []:
                yield plugin, args, kwargs

    extra_problems: list[str] = []
    owners: dict[int, tuple[str, str]] = {}
    source_kinds: dict[str, SourceKind] = {}
    kind_owner: dict[str, str] = {}
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
                         f"plugin {kind_owner[kind]!r}; ignored")
        else:
            source_kinds[kind] = SourceKind(fetcher, cached, discard)
            kind_owner[kind] = plugin
            owners[id(source_kinds[kind])] = (plugin, f"{label(plugin)}: source kind {kind!r}")
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
        try:
            with _plugin_code():
                arch_name, problem = _architecture_problem(arch)
        except _PluginFault as fault:
            arch_name, problem = None, (f"architecture class {type(arch).__name__}: reading what it declares "
                                        f"raised {fault}")
        if problem is not None:
            note(plugin, f"{label(plugin)}: {problem}; ignored")
        elif arch_name in architectures:
            note(plugin, f"{label(plugin)}: architecture name {arch_name!r} is already taken by "
                         f"plugin {arch_owner[arch_name]!r}; ignored")
        else:
            architectures[arch_name] = arch
            arch_owner[arch_name] = plugin
            owners[id(arch)] = (plugin, f"{label(plugin)}: architecture {arch_name!r}")
            if plugin in infos:
                infos[plugin].architectures.append(arch_name)

    custom = frozenset(k for k in source_kinds if k not in ("hub", "url", "local"))
    entries: list[CatalogueEntry] = []
    for plugin, args, kwargs in each("register_catalogue_entries"):
        try:
            (entry,) = _bind(("entry",), args, kwargs)
        except TypeError as exc:
            note(plugin, f"{label(plugin)}: bad register() call in register_catalogue_entries: {exc}")
            continue
        try:
            with _plugin_code(passing=(CatalogueError,)):
                entry = _checked_entry(entry, label(plugin), custom)
        except CatalogueError as exc:
            note(plugin, f"{exc}; entry ignored")
            continue
        except _PluginFault as fault:
            note(plugin, f"{label(plugin)}: checking a catalogue entry it registered raised {fault}; entry ignored")
            continue
        entries.append(entry)
        if plugin in infos:
            infos[plugin].catalogue_entries.append(entry.name)

    scorers: dict[str, Scorer] = {}
    scorer_owner: dict[str, str] = {}
    for plugin, args, kwargs in each("register_scorers"):
        try:
            (scorer,) = _bind(("scorer",), args, kwargs)
        except TypeError as exc:
            note(plugin, f"{label(plugin)}: bad register() call in register_scorers: {exc}")
            continue
        try:
            with _plugin_code():
                problem = scorer_problem(scorer)
        except _PluginFault as fault:
            problem = f"reading the scorer it registered raised {fault}"
        if problem is not None:
            note(plugin, f"{label(plugin)}: {problem}; ignored")
        elif scorer.name in scorers:
            note(plugin, f"{label(plugin)}: scorer name {scorer.name!r} is already taken by "
                         f"plugin {scorer_owner[scorer.name]!r}; ignored")
        else:
            scorers[scorer.name] = scorer
            scorer_owner[scorer.name] = plugin
            owners[id(scorer)] = (plugin, f"{label(plugin)}: scorer {scorer.name!r}")
            if plugin in infos:
                infos[plugin].scorers.append(scorer.name)

    plugins = list(infos.values()) + [PluginInfo(**{**i.__dict__, "problems": list(i.problems)})
                                      for i in _failed]
    problems = list(_load_problems) + extra_problems + [m for info in plugins for m in info.problems]
    return Registry(architectures, entries, source_kinds, plugins, problems, owners, scorers)


def _architecture_problem(arch: Any) -> tuple[str | None, str | None]:
    """(name, None) for an architecture the core can use, or (None, what is wrong with it)."""
    if not isinstance(arch, Architecture):
        return None, f"register_architectures registered {_describe(arch)}, not an Architecture instance"
    name, kind = getattr(arch, "name", None), type(arch).__name__
    if not isinstance(name, str) or not name:
        return None, f"architecture class {kind} has no name"
    for attribute, needs_entries in (("layouts", True), ("options", False)):
        value = getattr(arch, attribute, None)
        if (not isinstance(value, Mapping) or (needs_entries and not value)
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            wanted = "a non-empty mapping" if needs_entries else "a mapping"
            return None, f"architecture {name!r}: {attribute} must be {wanted} of names to descriptions"
    for attribute in ("latent_space", "description"):
        if not isinstance(getattr(arch, attribute, None), str):
            return None, f"architecture {name!r}: {attribute} must be a string"
    return name, None


def _checked_entry(entry: Any, origin: str, custom_kinds: frozenset[str]) -> CatalogueEntry:
    """A registered entry, checked as the catalogue checks its own (CatalogueError if invalid)."""
    if isinstance(entry, dict):
        return CatalogueEntry.from_dict(entry, origin=origin, custom_source_kinds=custom_kinds)
    if not isinstance(entry, CatalogueEntry):
        raise CatalogueError(f"{origin}: register_catalogue_entries registered {_describe(entry)}, "
                             "not a CatalogueEntry or a mapping")
    if not isinstance(entry.source, Source):
        raise CatalogueError(f"{origin}: entry {_entry_name(entry)}: field 'source' must be a HubSource, "
                             f"UrlSource, LocalSource or a plugin's source, not {_describe(entry.source)}")
    return CatalogueEntry.from_dict(entry.to_dict(), origin=entry.origin or origin, custom_source_kinds=custom_kinds)


def _entry_name(entry: CatalogueEntry) -> str:
    name = entry.name
    return repr(name[:40]) if isinstance(name, str) else "without a name"


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


def _owner(registered: Any) -> tuple[str | None, str]:
    """(plugin, how messages name it) of an architecture or source kind in the registry."""
    owners = _registry.owners if _registry is not None else {}
    if id(registered) in owners:
        return owners[id(registered)]
    return None, f"{type(registered).__name__} (not in the registry)"


@contextmanager
def plugin_call(registered: Any, what: str) -> Iterator[None]:
    """Around a call into something a plugin registered (an architecture or a source kind) or
    made (a generator): ``what`` says which call, e.g. "layers()".

    SefaZooError and OSError pass unchanged: they name what is at fault. Anything else (a bug,
    SystemExit, a KeyboardInterrupt no Ctrl-C caused) is a PluginError naming the plugin, the
    exception's type and message and where it was raised. A real Ctrl-C stays KeyboardInterrupt.
    """
    try:
        with _plugin_code(passing=(SefaZooError, OSError)):
            yield
    except _PluginFault as fault:
        raise PluginError(f"{_owner(registered)[1]}: {what} raised {fault}{_where(fault.cause)}") from fault.cause


def call_plugin(registered: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """``registered.method(*args, **kwargs)`` through ``plugin_call``."""
    with plugin_call(registered, f"{method}()"):
        return getattr(registered, method)(*args, **kwargs)


def call_plugin_or_warn(registered: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """``call_plugin``, where the work can go on without the answer: a plugin fault is warned
    about once and gives None."""
    try:
        return call_plugin(registered, method, *args, **kwargs)
    except PluginError as exc:
        _warn(f"{exc}; ignored", _owner(registered)[0])
        return None


def detect_layout(architecture: Architecture, checkpoint: Any) -> str | None:
    """``architecture.detect(checkpoint)`` when every architecture is asked in turn: a plugin
    whose detect fails, or answers something that is not one of its layouts, is warned about
    once and taken as not recognising the checkpoint. Its SefaZooErrors (about the checkpoint)
    pass unchanged."""
    try:
        layout = call_plugin(architecture, "detect", checkpoint)
    except PluginError as exc:
        _warn(f"{exc}; taken as not recognising the checkpoint", _owner(architecture)[0])
        return None
    if layout is None or (isinstance(layout, str) and layout in architecture.layouts):
        return layout
    plugin, name = _owner(architecture)
    answer = repr(layout[:40]) if isinstance(layout, str) else _describe(layout)
    _warn(f"{name}: detect() returned {answer}, not one of its layouts ({', '.join(architecture.layouts)}); "
          "taken as not recognising the checkpoint", plugin)
    return None
