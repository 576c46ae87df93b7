"""``sefa-zoo plugins`` through typer's runner, and broken plugins seen from the command line."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from support.plugin_toys import (  # noqa: F401  (fresh_plugins is a fixture)
    ArchitecturePlugin,
    ToyArchitecture,
    fresh_plugins,
    plugin_file_source,
    write_plugin_dir,
)
from sefa_zoo import hookimpl
from sefa_zoo.cli.main import app

runner = CliRunner()


def run(*args: str, **kwargs):
    return runner.invoke(app, list(args), **kwargs)


def listed(result) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert set(payload) == {"plugins", "problems"}
    return {plugin["name"]: plugin for plugin in payload["plugins"]}


def test_plugins_json_lists_core_and_builtins(fresh_plugins):
    plugins = listed(run("plugins", "--json"))
    core = plugins["sefa_zoo.builtin_sources"]
    assert core["kind"] == "core" and {"hub", "url", "local"} <= set(core["source_kinds"])
    for name in ("stylegan2", "dcgan"):
        assert plugins[name]["kind"] == "built-in" and plugins[name]["loaded"]
        assert name in plugins[name]["architectures"]
        assert plugins[name]["problems"] == []
    assert set(core) == {"name", "origin", "kind", "version", "loaded", "architectures",
                         "catalogue_entries", "source_kinds", "problems"}


def test_plugins_table_names_every_plugin_and_what_it_registers(fresh_plugins, register_plugin):
    register_plugin(ArchitecturePlugin(ToyArchitecture("tabletoy")), "table-plugin")
    result = run("plugins", env={"COLUMNS": "200"})  # wide enough that no cell wraps
    assert result.exit_code == 0, result.output
    for text in ("sefa_zoo.builtin_sources", "stylegan2", "dcgan", "table-plugin", "tabletoy",
                 "registered at run time", "built-in", "architectures:"):
        assert text in result.stdout
    assert "Problems:" not in result.stdout


def test_plugins_dir_option_with_a_broken_file(fresh_plugins, tmp_path):
    folder = write_plugin_dir(tmp_path / "plugins", {
        "broken.py": "import sefa_zoo_no_such_dependency\n",
        "upsilon.py": plugin_file_source("upsilon"),
    })
    result = run("--plugins-dir", str(folder), "plugins", "--json")
    plugins = listed(result)
    assert plugins["upsilon"]["kind"] == "file"
    assert plugins["upsilon"]["origin"] == str(folder / "upsilon.py")
    assert plugins["upsilon"]["architectures"] == ["upsilon"]
    assert not plugins["broken"]["loaded"]
    assert plugins["dcgan"]["loaded"] and plugins["stylegan2"]["loaded"]
    warning = f"Warning: plugin 'broken' ({folder / 'broken.py'}) failed to import: " \
              "ModuleNotFoundError: No module named 'sefa_zoo_no_such_dependency'; not loaded"
    assert result.stderr.count(warning) == 1
    assert result.stderr.count("Warning:") == 1


def test_plugins_dir_from_the_environment_and_the_table_shows_problems(fresh_plugins, tmp_path):
    folder = write_plugin_dir(tmp_path / "plugins", {"broken.py": "raise ImportError('no GPU here')\n"})
    result = run("plugins", env={"SEFA_ZOO_PLUGINS_DIR": str(folder)})
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.stdout and "Problems:" in result.stdout
    assert result.stdout.count("ImportError: no GPU here") == 1
    assert result.stderr.count("ImportError: no GPU here") == 1


def test_an_exception_inside_a_hook_is_one_warning_on_stderr(fresh_plugins, register_plugin):
    class Exploding:
        @hookimpl
        def register_catalogue_entries(self, register):
            raise KeyError("catalogue.json")

    register_plugin(Exploding(), "exploding")
    register_plugin(ArchitecturePlugin(ToyArchitecture("phi")), "phi-plugin")
    result = run("plugins", "--json")
    plugins = listed(result)
    assert plugins["phi-plugin"]["architectures"] == ["phi"]
    assert plugins["exploding"]["loaded"]
    [problem] = plugins["exploding"]["problems"]
    assert "register_catalogue_entries raised KeyError: 'catalogue.json'" in problem
    assert result.stderr.count("Warning:") == 1 and result.stderr.count(problem) == 1


def test_a_second_command_in_the_same_process_does_not_repeat_the_warning(fresh_plugins, tmp_path):
    folder = write_plugin_dir(tmp_path / "plugins", {"broken.py": "raise ImportError('once')\n"})
    first = run("--plugins-dir", str(folder), "plugins", "--json")
    second = run("--plugins-dir", str(folder), "plugins", "--json")
    assert first.stderr.count("ImportError: once") == 1
    assert "ImportError: once" not in second.stderr
    assert listed(first) == listed(second)


@pytest.mark.parametrize("bad", ["register_architecture", "register_catalog_entries"])
def test_a_hook_name_that_matches_no_spec_is_reported(fresh_plugins, tmp_path, bad):
    source = plugin_file_source("chi") + f"\n\n@hookimpl\ndef {bad}(register):\n    pass\n"
    folder = write_plugin_dir(tmp_path / "plugins", {"misspelt.py": source})
    result = run("--plugins-dir", str(folder), "plugins", "--json")
    plugins = listed(result)
    assert plugins["misspelt"]["architectures"] == ["chi"]
    [problem] = plugins["misspelt"]["problems"]
    assert f"hook {bad!r} matches no hook specification" in problem
    assert result.stderr.count("Warning:") == 1 and problem in result.stderr


def test_other_commands_keep_working_next_to_a_broken_plugin(fresh_plugins, tmp_path):
    folder = write_plugin_dir(tmp_path / "plugins", {
        "broken.py": "raise RuntimeError('half-installed')\n",
        "omega.py": plugin_file_source("omega"),
    })
    listed_models = run("--plugins-dir", str(folder), "list", "--json")
    assert listed_models.exit_code == 0, listed_models.output
    assert isinstance(json.loads(listed_models.stdout), list)
    assert listed_models.stderr.count("RuntimeError: half-installed") == 1

    checkpoint = tmp_path / "omega.safetensors"
    save_file({"omega.weight": torch.randn(12, 5, generator=torch.Generator().manual_seed(0))}, str(checkpoint))
    result = run("--plugins-dir", str(folder), "factorize", "--checkpoint", str(checkpoint),
                 "-o", str(tmp_path / "bank.safetensors"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["architecture"], summary["layout"], summary["k"]) == ("omega", "plain", 5)


HOSTILE_PLUGINS = {
    "exits.py": "import sys\nsys.exit(3)\n",
    "interrupts.py": "raise KeyboardInterrupt\n",
    "hook_exits.py": "import sys\nfrom sefa_zoo import hookimpl\n\n\n@hookimpl\ndef register_architectures(register):\n"
                     "    sys.exit()\n",
    "lazy.py": plugin_file_source("lambda2") + "\n\ndef __getattr__(name):\n    raise RuntimeError(name)\n",
    "nameless.py": plugin_file_source("mu2").replace(
        "name = 'mu2'", "@property\n            def name(self):\n                raise ValueError('no name')"),
    "no_source.py": textwrap.dedent(
        """
        from sefa_zoo import CatalogueEntry, hookimpl


        @hookimpl
        def register_catalogue_entries(register):
            register(CatalogueEntry(name="nu2", architecture="lambda2", layout="plain", source=None, resolution=8,
                                    num_layers=1, license="MIT", provenance="tests", description="no source"))
        """
    ),
}


def test_plugins_that_exit_interrupt_or_raise_are_one_warning_each(fresh_plugins, tmp_path):
    folder = write_plugin_dir(tmp_path / "plugins", HOSTILE_PLUGINS)
    listed_models = run("--plugins-dir", str(folder), "list", "--json")
    assert listed_models.exit_code == 0, listed_models.output
    assert "stylegan2-shapes" in [model["name"] for model in json.loads(listed_models.stdout)]
    warnings = listed_models.stderr.splitlines()
    assert len(warnings) == len(HOSTILE_PLUGINS), listed_models.stderr
    for name in HOSTILE_PLUGINS:
        assert len([line for line in warnings if line.startswith(f"Warning: plugin {name[:-3]!r} (")]) == 1

    factorize_with_plugins(folder, "lambda2", tmp_path)
    assert (tmp_path / "bank.safetensors").is_file()


def factorize_with_plugins(folder, architecture: str, tmp_path):
    """`sefa-zoo --plugins-dir FOLDER factorize` of a checkpoint only ``architecture`` recognises."""
    checkpoint = tmp_path / f"{architecture}.safetensors"
    weight = torch.randn(12, 5, generator=torch.Generator().manual_seed(0))
    save_file({f"{architecture}.weight": weight}, str(checkpoint))
    result = run("--plugins-dir", str(folder), "factorize", "--checkpoint", str(checkpoint),
                 "-o", str(tmp_path / "bank.safetensors"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["architecture"] == architecture
    return result


def test_a_plugin_whose_detect_raises_is_one_warning_and_detection_goes_on(fresh_plugins, tmp_path):
    broken_detect = plugin_file_source("xi2").replace(
        'return "plain" if "xi2.weight" in checkpoint else None', 'raise RuntimeError("detect broke")')
    folder = write_plugin_dir(tmp_path / "plugins", {"xi2.py": broken_detect,
                                                     "omicron2.py": plugin_file_source("omicron2")})
    result = factorize_with_plugins(folder, "omicron2", tmp_path)
    [warning] = result.stderr.splitlines()
    assert warning.startswith(f"Warning: plugin 'xi2' ({folder / 'xi2.py'}): architecture 'xi2': detect() raised "
                              "RuntimeError: detect broke (xi2.py:")
