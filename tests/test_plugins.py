"""The plugin system: discovery, run-time registration, and broken plugins.

Every broken plugin must give exactly one PluginWarning that names it and the cause,
while every other plugin keeps working.
"""

from __future__ import annotations

import textwrap
import time

import pytest
import torch

from support.plugin_toys import (  # noqa: F401  (fresh_plugins is a fixture)
    ArchitecturePlugin,
    ToyArchitecture,
    fresh_plugins,
    plugin_file_source,
    plugin_warnings,
    toy_checkpoint,
    write_plugin_dir,
)
from sefa_zoo import Architecture, Checkpoint, LayoutError, PluginError, get_registry, hookimpl

pytest_plugins = ["pytester"]


def about(messages: list[str], plugin: str) -> list[str]:
    """The messages about ``plugin``: each names the plugin first."""
    return [m for m in messages if m.startswith(f"plugin {plugin!r} (")]


def plugin_named(name: str):
    matches = [info for info in get_registry().plugins if info.name == name]
    assert len(matches) == 1, f"expected one plugin named {name!r}, got {matches}"
    return matches[0]


# --- discovery -------------------------------------------------------------------------------


def test_builtin_plugins_register_architectures_of_their_names(fresh_plugins):
    registry = get_registry()
    for name in ("stylegan2", "dcgan"):
        info = plugin_named(name)
        assert info.kind == "built-in" and info.loaded, info.problems
        assert name in info.architectures
        assert registry.architectures[name].name == name


def test_core_registers_the_builtin_source_kinds(fresh_plugins):
    core = plugin_named("sefa_zoo.builtin_sources")
    assert core.kind == "core"
    assert {"hub", "url", "local"} <= set(core.source_kinds)
    assert {"hub", "url", "local"} <= set(get_registry().source_kinds)


def test_plugin_files_from_the_environment_folder_load_and_register(fresh_plugins, tmp_path, monkeypatch):
    folder = write_plugin_dir(tmp_path / "plugins", {
        "gamma.py": plugin_file_source("gamma"),
        "_helper.py": "raise RuntimeError('files starting with _ are not plugins')\n",
        "notes.txt": "not python",
    })
    monkeypatch.setenv("SEFA_ZOO_PLUGINS_DIR", str(folder))
    messages = plugin_warnings(get_registry)
    assert about(messages, "gamma") == [] and about(messages, "_helper") == []
    info = plugin_named("gamma")
    assert info.kind == "file" and info.origin == str(folder / "gamma.py")
    assert info.architectures == ["gamma"]
    arch = get_registry().architectures["gamma"]
    checkpoint = Checkpoint.from_tensors({"gamma.weight": torch.ones(3, 2)})
    assert arch.detect(checkpoint) == "plain"
    assert [layer.shape for layer in arch.layers(checkpoint)] == [(3, 2)]


def test_set_plugins_dir_loads_a_folder_once(fresh_plugins, tmp_path):
    folder = write_plugin_dir(tmp_path / "more", {"delta.py": plugin_file_source("delta")})
    fresh_plugins.set_plugins_dir(folder)
    fresh_plugins.set_plugins_dir(folder)  # e.g. --plugins-dir and SEFA_ZOO_PLUGINS_DIR naming it twice
    messages = plugin_warnings(get_registry)
    assert about(messages, "delta") == []
    assert plugin_named("delta").architectures == ["delta"]


def test_a_missing_plugins_folder_is_one_warning(fresh_plugins, tmp_path, monkeypatch):
    monkeypatch.setenv("SEFA_ZOO_PLUGINS_DIR", str(tmp_path / "nowhere"))
    messages = plugin_warnings(get_registry)
    assert len([m for m in messages if "nowhere" in m and "does not exist" in m]) == 1
    assert "dcgan" in get_registry().architectures


def test_register_plugin_fixture_adds_a_plugin_for_one_test(fresh_plugins, register_plugin):
    name = register_plugin(ArchitecturePlugin(ToyArchitecture("epsilon")), "epsilon-plugin")
    assert name == "epsilon-plugin"
    info = plugin_named("epsilon-plugin")
    assert info.kind == "registered" and info.architectures == ["epsilon"]
    assert "epsilon" in get_registry().architectures


def test_register_plugin_fixture_unregisters_even_when_the_test_fails(pytester):
    pytester.makepyfile(test_inner=textwrap.dedent(
        """
        from conftest import register_plugin  # the project's fixture, as tests use it
        from support.plugin_toys import ArchitecturePlugin, ToyArchitecture
        from sefa_zoo import get_registry

        def test_registers_then_fails(register_plugin):
            register_plugin(ArchitecturePlugin(ToyArchitecture("zeta")), "zeta-plugin")
            assert "zeta" in get_registry().architectures
            raise AssertionError("failing on purpose")
        """
    ))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "failing on purpose" in result.stdout.str()
    assert "zeta-plugin" not in [info.name for info in get_registry().plugins]
    assert "zeta" not in get_registry().architectures


def test_register_plugin_refuses_a_name_in_use(fresh_plugins, register_plugin):
    register_plugin(ArchitecturePlugin(), "eta-plugin")
    with pytest.raises(PluginError, match="'eta-plugin'.*already used"):
        fresh_plugins.register_plugin(ArchitecturePlugin(), "eta-plugin")


def test_register_plugin_refuses_a_hook_with_wrong_arguments(fresh_plugins):
    class WrongArguments:
        @hookimpl
        def register_architectures(self, register, extra):
            pass

    with pytest.raises(PluginError, match="'wrong-args'.*could not be registered"):
        fresh_plugins.register_plugin(WrongArguments(), "wrong-args")
    assert "wrong-args" not in [info.name for info in get_registry().plugins]


# --- SEFA_ZOO_LOAD_PLUGINS and entry points ---------------------------------------------------


def make_distribution(site, module_source: str, *, dist="fake-zoo-plugin", version="1.2.3", ep="fakezoo"):
    """An installed distribution, as pip leaves it: a module and its .dist-info with the entry point."""
    site.mkdir(parents=True, exist_ok=True)
    module = dist.replace("-", "_")
    (site / f"{module}.py").write_text(module_source, encoding="utf-8")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[sefa_zoo]\n{ep} = {module}\n")
    return site


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    site = make_distribution(tmp_path / "site", plugin_file_source("theta"))
    monkeypatch.syspath_prepend(str(site))
    yield site
    import sys

    sys.modules.pop("fake_zoo_plugin", None)


@pytest.mark.parametrize("value", [None, "fake-zoo-plugin", "Fake_Zoo.Plugin", "fakezoo", "other,fakezoo"])
def test_entry_point_plugins_load_when_allowed(fresh_plugins, installed_plugin, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("SEFA_ZOO_LOAD_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("SEFA_ZOO_LOAD_PLUGINS", value)
    plugin_warnings(get_registry)
    info = plugin_named("fakezoo")
    assert (info.kind, info.origin, info.version) == ("distribution", "fake-zoo-plugin 1.2.3", "1.2.3")
    assert info.architectures == ["theta"]


@pytest.mark.parametrize("value", ["", "other-plugin"])
def test_entry_point_plugins_stay_out_unless_named(fresh_plugins, installed_plugin, monkeypatch, value):
    monkeypatch.setenv("SEFA_ZOO_LOAD_PLUGINS", value)
    messages = plugin_warnings(get_registry)
    assert "fakezoo" not in [info.name for info in get_registry().plugins]
    assert "theta" not in get_registry().architectures
    unknown = [m for m in messages if "SEFA_ZOO_LOAD_PLUGINS" in m]
    assert len(unknown) == (1 if value else 0)
    if value:
        assert "'other-plugin'" in unknown[0]


def test_an_entry_point_that_fails_to_import_is_one_warning(fresh_plugins, tmp_path, monkeypatch):
    site = make_distribution(tmp_path / "site", "import sefa_zoo_no_such_dependency\n",
                             dist="broken-zoo-plugin", version="0.3", ep="brokenzoo")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("SEFA_ZOO_LOAD_PLUGINS", "broken-zoo-plugin")
    messages = about(plugin_warnings(get_registry), "brokenzoo")
    assert len(messages) == 1
    assert "broken-zoo-plugin 0.3" in messages[0]
    assert "No module named 'sefa_zoo_no_such_dependency'" in messages[0]
    assert not plugin_named("brokenzoo").loaded
    assert "dcgan" in get_registry().architectures


# --- broken plugins: one warning each, the rest keep working ---------------------------------


def test_a_plugin_file_that_fails_to_import(fresh_plugins, register_plugin, tmp_path, monkeypatch):
    folder = write_plugin_dir(tmp_path / "plugins", {
        "broken.py": "raise ImportError('needs the frobnicator package')\n",
        "iota.py": plugin_file_source("iota"),
    })
    monkeypatch.setenv("SEFA_ZOO_PLUGINS_DIR", str(folder))
    messages = plugin_warnings(get_registry)
    broken = about(messages, "broken")
    assert len(broken) == 1
    assert str(folder / "broken.py") in broken[0]
    assert "ImportError: needs the frobnicator package" in broken[0]
    assert not plugin_named("broken").loaded
    assert {"iota", "dcgan"} <= set(get_registry().architectures)
    register_plugin(ArchitecturePlugin(ToyArchitecture("iota2")), "iota2-plugin")  # the registry is rebuilt
    assert about(plugin_warnings(get_registry), "broken") == []  # but the warning is not given twice
    assert "iota2" in get_registry().architectures


def test_a_plugin_file_with_a_syntax_error(fresh_plugins, tmp_path, monkeypatch):
    folder = write_plugin_dir(tmp_path / "plugins", {"typo.py": "def oops(:\n"})
    monkeypatch.setenv("SEFA_ZOO_PLUGINS_DIR", str(folder))
    messages = about(plugin_warnings(get_registry), "typo")
    assert len(messages) == 1 and "SyntaxError" in messages[0]


def test_an_exception_inside_a_hook(fresh_plugins, register_plugin):
    class Exploding:
        @hookimpl
        def register_architectures(self, register):
            register(ToyArchitecture("kappa-partial"))
            raise RuntimeError("weights server is down")

        @hookimpl
        def register_catalogue_entries(self, register):
            pass

    register_plugin(ArchitecturePlugin(ToyArchitecture("lambda")), "lambda-plugin")
    register_plugin(Exploding(), "exploding")
    messages = plugin_warnings(get_registry)
    exploding = about(messages, "exploding")
    assert len(exploding) == 1
    assert "register_architectures raised RuntimeError: weights server is down" in exploding[0]
    architectures = get_registry().architectures
    assert "kappa-partial" not in architectures  # nothing from a hook that raised
    assert {"lambda", "dcgan"} <= set(architectures)
    assert plugin_named("exploding").loaded


def test_an_architecture_name_already_taken(fresh_plugins, register_plugin):
    first, second, builtin_clash = ToyArchitecture("mu"), ToyArchitecture("mu"), ToyArchitecture("dcgan")
    register_plugin(ArchitecturePlugin(first), "mu-first")
    register_plugin(ArchitecturePlugin(second, builtin_clash), "mu-second")
    messages = plugin_warnings(get_registry)
    taken = about(messages, "mu-second")
    assert len(taken) == 2
    assert any("'mu' is already taken by plugin 'mu-first'" in m for m in taken)
    assert any("'dcgan' is already taken by plugin 'dcgan'" in m for m in taken)
    architectures = get_registry().architectures
    assert architectures["mu"] is first
    assert architectures["dcgan"] is not builtin_clash
    assert about(messages, "mu-first") == [] and about(messages, "dcgan") == []


def test_a_hook_name_that_matches_no_spec(fresh_plugins, register_plugin):
    class Typo:
        @hookimpl
        def register_architecture(self, register):  # missing "s"
            register(ToyArchitecture("nu-never"))

        @hookimpl
        def register_architectures(self, register):
            register(ToyArchitecture("nu"))

    register_plugin(Typo(), "typo-hook")
    messages = plugin_warnings(get_registry)
    typo = about(messages, "typo-hook")
    assert len(typo) == 1
    assert "'register_architecture' matches no hook specification" in typo[0]
    assert "did you mean 'register_architectures'?" in typo[0]
    assert "nu" in get_registry().architectures and "nu-never" not in get_registry().architectures


def test_a_hook_not_marked_as_hookimpl(fresh_plugins, tmp_path, monkeypatch):
    source = plugin_file_source("xi").replace("@hookimpl\n", "")
    folder = write_plugin_dir(tmp_path / "plugins", {"unmarked.py": source})
    monkeypatch.setenv("SEFA_ZOO_PLUGINS_DIR", str(folder))
    messages = about(plugin_warnings(get_registry), "unmarked")
    assert len(messages) == 1 and "register_architectures is not marked with @hookimpl" in messages[0]
    assert "xi" not in get_registry().architectures


@pytest.mark.parametrize("thing, described", [
    ("stylegan9", "a str"),
    (ToyArchitecture, "the class ToyArchitecture (register an instance)"),
    (torch.nn.Linear(2, 2), "a Linear"),
])
def test_registering_something_that_is_not_an_architecture(fresh_plugins, register_plugin, thing, described):
    plugin = ArchitecturePlugin(thing, ToyArchitecture("omicron"))
    register_plugin(plugin, "not-arch")
    messages = about(plugin_warnings(get_registry), "not-arch")
    assert len(messages) == 1
    assert f"registered {described}, not an Architecture instance" in messages[0]
    assert "\n" not in messages[0]
    assert "omicron" in get_registry().architectures


def test_an_architecture_without_a_name(fresh_plugins, register_plugin):
    class Nameless(Architecture):
        def detect(self, checkpoint):
            return None

        def layers(self, checkpoint, *, layout=None, **options):
            return []

        def projection(self, checkpoint, indices, *, layout=None, **options):
            return []

    register_plugin(ArchitecturePlugin(Nameless()), "nameless")
    messages = plugin_warnings(get_registry)
    assert about(messages, "nameless") == ["plugin 'nameless' (registered at run time): architecture class "
                                           "Nameless has no name; ignored"]


def good_entry(name: str) -> dict:
    return {
        "name": name, "architecture": "toy", "layout": "toy",
        "source": {"kind": "local", "path": "/models/toy.safetensors"},
        "resolution": 8, "num_layers": 1, "license": "MIT", "provenance": "tests",
        "description": "a toy entry",
    }


def test_a_bad_catalogue_entry_from_a_plugin(fresh_plugins, register_plugin):
    bad = {**good_entry("pi-bad"), "resolution": "large"}
    unknown_kind = {**good_entry("pi-ftp"), "source": {"kind": "ftp", "path": "x"}}
    plugin = ArchitecturePlugin(entries=(good_entry("pi-good"), bad, unknown_kind, ["not", "an", "entry"]))
    register_plugin(plugin, "pi-plugin")
    messages = about(plugin_warnings(get_registry), "pi-plugin")
    assert len(messages) == 3
    assert any("entry 'pi-bad': field 'resolution' must be a positive integer" in m for m in messages)
    assert any("entry 'pi-ftp': field 'source.kind'" in m for m in messages)
    assert any("registered a list, not a CatalogueEntry or a mapping" in m for m in messages)
    names = [entry.name for entry in get_registry().catalogue_entries]
    assert "pi-good" in names and "pi-bad" not in names and "pi-ftp" not in names
    assert plugin_named("pi-plugin").catalogue_entries == ["pi-good"]


def test_a_bad_register_call(fresh_plugins, register_plugin):
    class BadCall:
        @hookimpl
        def register_architectures(self, register):
            register(ToyArchitecture("rho"), ToyArchitecture("rho2"))

    register_plugin(BadCall(), "bad-call")
    messages = about(plugin_warnings(get_registry), "bad-call")
    assert len(messages) == 1 and "bad register() call in register_architectures" in messages[0]


def test_warnings_are_given_again_after_unregister_and_register(fresh_plugins):
    class Exploding:
        @hookimpl
        def register_architectures(self, register):
            raise ValueError("no")

    for _ in range(2):
        fresh_plugins.register_plugin(Exploding(), "again")
        assert len(about(plugin_warnings(get_registry), "again")) == 1
        fresh_plugins.unregister_plugin("again")
    assert "again" not in [info.name for info in get_registry().plugins]


def test_architecture_detection_skips_nothing_because_of_a_broken_plugin(fresh_plugins, register_plugin):
    class Exploding:
        @hookimpl
        def register_architectures(self, register):
            raise RuntimeError("boom")

    register_plugin(Exploding(), "boom-plugin")
    register_plugin(ArchitecturePlugin(ToyArchitecture("sigma")), "sigma-plugin")
    from sefa_zoo import detect

    plugin_warnings(get_registry)
    arch, layout = detect(toy_checkpoint("sigma"))
    assert (arch.name, layout) == ("sigma", "toy")


# --- every registered architecture honours the interface -------------------------------------


@pytest.mark.parametrize("name", sorted(get_registry().architectures))
def test_registered_architecture_contract(name):
    arch = get_registry().architectures[name]
    assert arch.name == name and name == name.lower()
    assert arch.layouts and all(isinstance(k, str) and isinstance(v, str) and v for k, v in arch.layouts.items())
    assert isinstance(arch.latent_space, str) and arch.latent_space
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in arch.options.items())
    assert arch.detect(Checkpoint.from_tensors({})) is None
    assert arch.detect(Checkpoint.from_tensors({"unrelated.weight": torch.zeros(3, 3)})) is None
    with pytest.raises(LayoutError, match=name):
        arch.resolve_layout(Checkpoint.from_tensors({}), "no-such-layout")
    for num_layers in (1, 8, 18):
        for group, indices in arch.layer_groups(num_layers).items():
            assert isinstance(group, str) and indices
            assert all(0 <= i < num_layers for i in indices)


# --- plugins that stop the process, raise from attributes, or register broken things ---------


class Escape(BaseException):
    """Neither an Exception nor a process exit: what a plugin might invent."""


@pytest.mark.parametrize("statement, cause", [
    ("import sys; sys.exit(3)", "SystemExit: 3"),
    ("raise SystemExit", "SystemExit"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("class Escape(BaseException): pass\nraise Escape('out')", "Escape: out"),
])
def test_a_plugin_that_stops_at_import_is_one_warning(fresh_plugins, tmp_path, monkeypatch, statement, cause):
    folder = write_plugin_dir(tmp_path / "plugins", {"quitter.py": statement + "\n",
                                                     "tau.py": plugin_file_source("tau")})
    monkeypatch.setenv("SEFA_ZOO_PLUGINS_DIR", str(folder))
    messages = about(plugin_warnings(get_registry), "quitter")
    assert messages == [f"plugin 'quitter' ({folder / 'quitter.py'}) failed to import: {cause}; not loaded"]
    assert {"tau", "dcgan"} <= set(get_registry().architectures)


@pytest.mark.parametrize("hook", ["register_architectures", "register_catalogue_entries",
                                  "register_checkpoint_sources"])
@pytest.mark.parametrize("raised, cause", [
    (SystemExit(0), "SystemExit: 0"), (KeyboardInterrupt(), "KeyboardInterrupt"), (Escape("x"), "Escape: x"),
])
def test_a_hook_that_stops_is_one_warning(fresh_plugins, register_plugin, hook, raised, cause):
    class Stopping:
        pass

    def stop(register):
        raise raised

    setattr(Stopping, hook, hookimpl(staticmethod(stop)))
    register_plugin(Stopping(), "stopping")
    register_plugin(ArchitecturePlugin(ToyArchitecture("upsilon2")), "upsilon2-plugin")
    messages = about(plugin_warnings(get_registry), "stopping")
    assert messages == [f"plugin 'stopping' (registered at run time): {hook} raised {cause}; "
                        "nothing it registers there is used"]
    assert "upsilon2" in get_registry().architectures


def ctrl_c_during(code: str) -> str:
    """Plugin source that presses Ctrl-C (sends this process SIGINT) and then runs ``code``."""
    return "import os, signal, time\n" + textwrap.dedent(code)


@pytest.mark.parametrize("handling", [
    "os.kill(os.getpid(), signal.SIGINT); time.sleep(5)",  # interrupted
    "try:\n    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\nexcept KeyboardInterrupt:\n    pass",  # swallowed
    "try:\n    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
    "except KeyboardInterrupt:\n    raise ImportError('interrupted')",  # turned into another error
])
def test_a_real_ctrl_c_during_a_plugin_import_interrupts(fresh_plugins, tmp_path, monkeypatch, handling):
    folder = write_plugin_dir(tmp_path / "plugins", {"slow.py": ctrl_c_during(handling)})
    monkeypatch.setenv("SEFA_ZOO_PLUGINS_DIR", str(folder))
    with pytest.raises(KeyboardInterrupt):
        get_registry()


def test_a_real_ctrl_c_during_a_hook_interrupts(fresh_plugins, register_plugin):
    import os
    import signal

    class Pressing:
        @hookimpl
        def register_architectures(self, register):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                pass  # swallowed: still the user's Ctrl-C

    register_plugin(Pressing(), "pressing")
    with pytest.raises(KeyboardInterrupt):
        get_registry()


def test_a_module_getattr_that_raises_is_one_warning(fresh_plugins, tmp_path, monkeypatch):
    source = plugin_file_source("phi") + textwrap.dedent(
        """
        def __getattr__(name):
            raise RuntimeError(f"lazy import of {name} failed")
        """
    )
    folder = write_plugin_dir(tmp_path / "plugins", {"lazy.py": source})
    monkeypatch.setenv("SEFA_ZOO_PLUGINS_DIR", str(folder))
    messages = about(plugin_warnings(get_registry), "lazy")
    assert len(messages) == 1 and "raised RuntimeError: lazy import of register_" in messages[0]
    assert "phi" in get_registry().architectures  # the hooks it has still work


class Declares(ToyArchitecture):
    """A toy architecture whose declared attributes are set per test."""

    def __init__(self, name="chi", **declared):
        super().__init__(name)
        self.__dict__.update(declared)


class NameRaises(ToyArchitecture):
    def __init__(self):
        pass

    @property
    def name(self):
        raise RuntimeError("no name today")


@pytest.mark.parametrize("arch, problem", [
    (NameRaises(), "architecture class NameRaises: reading what it declares raised RuntimeError: no name today"),
    (Declares(layouts=None), "architecture 'chi': layouts must be a non-empty mapping of names to descriptions"),
    (Declares(layouts={}), "architecture 'chi': layouts must be a non-empty mapping of names to descriptions"),
    (Declares(layouts={"toy": 3}), "architecture 'chi': layouts must be a non-empty mapping of names to descriptions"),
    (Declares(options=["a"]), "architecture 'chi': options must be a mapping of names to descriptions"),
    (Declares(latent_space=None), "architecture 'chi': latent_space must be a string"),
    (Declares(description=b"x"), "architecture 'chi': description must be a string"),
])
def test_an_architecture_that_declares_nonsense_is_one_warning(fresh_plugins, register_plugin, arch, problem):
    register_plugin(ArchitecturePlugin(arch, ToyArchitecture("psi")), "nonsense")
    messages = about(plugin_warnings(get_registry), "nonsense")
    assert messages == [f"plugin 'nonsense' (registered at run time): {problem}; ignored"]
    assert set(get_registry().architectures) & {"chi", "psi"} == {"psi"}


def entry_object(**changes):
    from sefa_zoo import CatalogueEntry, LocalSource

    fields = {**good_entry("omega"), "source": LocalSource(path="/models/toy.safetensors"), **changes}
    return CatalogueEntry(**fields)


@pytest.mark.parametrize("changes, problem", [
    ({"source": None}, "entry 'omega': field 'source' must be a HubSource, UrlSource, LocalSource or a "
                       "plugin's source, not None"),
    ({"resolution": -1}, "field 'resolution' must be a positive integer"),
    ({"name": "Not A Name"}, "field 'name' must be lowercase letters"),
    ({"license": None}, "field 'license' is required"),
])
def test_a_registered_entry_object_is_checked_like_a_mapping(fresh_plugins, register_plugin, changes, problem):
    plugin = ArchitecturePlugin(entries=(entry_object(**changes), entry_object(name="omega-good")))
    register_plugin(plugin, "entries-plugin")
    messages = about(plugin_warnings(get_registry), "entries-plugin")
    assert len(messages) == 1 and problem in messages[0] and messages[0].endswith("; entry ignored")
    assert [e.name for e in get_registry().catalogue_entries if e.name.startswith("omega")] == ["omega-good"]


# --- the core's calls into what plugins registered ---------------------------------------------


class Faulty(ToyArchitecture):
    """A toy whose layers() raises what a test gives it."""

    def __init__(self, name, raised):
        super().__init__(name)
        self.raised = raised

    def layers(self, checkpoint, *, layout=None, **options):
        raise self.raised

    def detect(self, checkpoint):
        raise self.raised


@pytest.mark.parametrize("raised, cause", [
    (ValueError("bad shape\nsecond line"), "ValueError: bad shape"),
    (SystemExit(2), "SystemExit: 2"),
    (KeyboardInterrupt(), "KeyboardInterrupt"),
])
def test_call_plugin_names_the_plugin_the_exception_and_where(fresh_plugins, register_plugin, raised, cause):
    from sefa_zoo.plugins import call_plugin

    register_plugin(ArchitecturePlugin(Faulty("faulty", raised)), "faulty-plugin")
    arch = get_registry().architectures["faulty"]
    with pytest.raises(PluginError) as info:
        call_plugin(arch, "layers", toy_checkpoint("faulty"))
    assert str(info.value) == (f"plugin 'faulty-plugin' (registered at run time): architecture 'faulty': "
                               f"layers() raised {cause} (test_plugins.py:{Faulty.layers.__code__.co_firstlineno + 1})")


@pytest.mark.parametrize("raised", [LayoutError("not my layout"), FileNotFoundError(2, "gone", "/x")])
def test_call_plugin_passes_errors_that_name_what_is_at_fault(fresh_plugins, register_plugin, raised):
    from sefa_zoo.plugins import call_plugin

    register_plugin(ArchitecturePlugin(Faulty("faulty2", raised)), "faulty2-plugin")
    with pytest.raises(type(raised)) as info:
        call_plugin(get_registry().architectures["faulty2"], "layers", toy_checkpoint("faulty2"))
    assert info.value is raised


class Answers(ToyArchitecture):
    def __init__(self, name, answer):
        super().__init__(name)
        self.answer = answer

    def detect(self, checkpoint):
        return self.answer


def test_detect_layout_skips_a_failing_or_wrong_detect_with_one_warning(fresh_plugins, register_plugin):
    from sefa_zoo.plugins import detect_layout

    register_plugin(ArchitecturePlugin(Faulty("sig2", RuntimeError("detect broke")), Answers("sig3", "nvidia"),
                                       Answers("sig4", 7), ToyArchitecture("sig5")), "sig-plugin")
    registry = get_registry()
    checkpoint = toy_checkpoint("sig5")
    answers = []

    def detect_each():
        answers.append([detect_layout(registry.architectures[n], checkpoint) for n in ("sig2", "sig3", "sig4", "sig5")])

    first, again = (about(plugin_warnings(detect_each), "sig-plugin") for _ in range(2))
    assert answers == [[None, None, None, "toy"]] * 2
    prefix = "plugin 'sig-plugin' (registered at run time): architecture"
    assert first == [
        f"{prefix} 'sig2': detect() raised RuntimeError: detect broke (test_plugins.py:"
        f"{Faulty.detect.__code__.co_firstlineno + 1}); taken as not recognising the checkpoint",
        f"{prefix} 'sig3': detect() returned 'nvidia', not one of its layouts (toy); taken as not recognising "
        "the checkpoint",
        f"{prefix} 'sig4': detect() returned an int, not one of its layouts (toy); taken as not recognising "
        "the checkpoint",
    ]
    assert again == []


def test_detect_layout_passes_errors_about_the_checkpoint(fresh_plugins, register_plugin):
    from sefa_zoo import CheckpointError
    from sefa_zoo.plugins import detect_layout

    register_plugin(ArchitecturePlugin(Faulty("sig6", CheckpointError("G.pt: truncated"))), "sig6-plugin")
    with pytest.raises(CheckpointError, match="truncated"):
        detect_layout(get_registry().architectures["sig6"], toy_checkpoint())


class _BrokenArchitecture(ToyArchitecture):
    """A toy whose method ``broken`` raises a plain bug, as a third party's plugin might."""

    def __init__(self, broken: str):
        super().__init__(f"broken-{broken.replace('_', '-')}")
        self.broken = broken

    def __getattribute__(self, name):
        if name == object.__getattribute__(self, "broken"):
            raise_bug = lambda *args, **kwargs: [][1]  # noqa: E731  an IndexError from plugin code
            return raise_bug
        return object.__getattribute__(self, name)


@pytest.mark.parametrize("method", ["layers", "projection", "layer_groups", "build_generator"])
def test_a_plugin_bug_in_an_architecture_method_is_one_line_naming_the_plugin(register_plugin, method):
    from sefa_zoo import PluginError, factorize_checkpoint
    from sefa_zoo.editing import _build

    arch = _BrokenArchitecture(method)
    register_plugin(ArchitecturePlugin(arch), "broken-arch-plugin")
    get_registry()
    checkpoint = toy_checkpoint(arch.name)
    with pytest.raises(PluginError) as error:
        if method == "build_generator":
            _build(arch, checkpoint, "toy", "cpu")
        else:
            factorize_checkpoint(checkpoint)
    message = str(error.value)
    assert "\n" not in message and "broken-arch-plugin" in message and f"{method}() raised IndexError" in message
