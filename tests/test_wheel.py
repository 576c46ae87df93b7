"""A wheel built from the repo, installed into a fresh virtual environment, run far from any
source tree, still finds every built-in plugin and the whole catalogue."""

from __future__ import annotations

import json
import os
import pkgutil
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# Never copied: they are large, generated, or would let an installed copy stand in for the wheel.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", ".work",
)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with the repo's wheel installed in it.

    Its dependencies (torch and the rest) come from this environment's site-packages through a
    .pth file, so nothing is downloaded. That folder also holds sefa-zoo's editable install, but
    its import hook is itself a .pth file there, which Python does not run for a folder that is
    only named in another .pth; the checks below make sure the wheel's copy is the one imported.
    """
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_SOURCES)  # built from a copy: no build/ in the repo
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--wheel-dir", str(root / "dist"), str(source)])
    [wheel] = (root / "dist").glob("sefa_zoo-*.whl")

    env_dir = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--quiet", str(wheel)])
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    (purelib / "outer-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return env_dir


def elsewhere(tmp_path: Path) -> dict:
    """Run from an empty folder with the tests' isolated environment and no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {"cwd": tmp_path, "env": env}


@pytest.fixture(scope="module")
def plugins(venv, tmp_path_factory) -> dict:
    result = run([str(venv / "bin" / "sefa-zoo"), "plugins", "--json"], **elsewhere(tmp_path_factory.mktemp("cwd")))
    assert "Warning" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def test_the_wheels_copy_is_the_one_imported(venv, tmp_path):
    code = ("import importlib.util as u, json; "
            "print(json.dumps([u.find_spec(m).origin for m in ('sefa_zoo', 'sefa_zoo_plugins')]))")
    origins = json.loads(run([str(venv / "bin" / "python"), "-c", code], **elsewhere(tmp_path)).stdout)
    for origin in origins:
        assert Path(origin).resolve().is_relative_to(venv.resolve()), origin


def test_every_builtin_plugin_is_found(plugins):
    builtins = {p["name"]: p for p in plugins["plugins"] if p["kind"] == "built-in"}
    expected = {m.name for m in pkgutil.iter_modules([str(REPO / "plugins")]) if not m.name.startswith("_")}
    assert expected and set(builtins) == expected
    for plugin in builtins.values():
        assert plugin["loaded"] and plugin["problems"] == [], plugin
    assert plugins["problems"] == []
    assert {"pggan", "stylegan", "stylegan2", "dcgan"} <= {a for p in builtins.values() for a in p["architectures"]}


def test_the_whole_catalogue_is_listed(venv, plugins, tmp_path):
    listed = json.loads(run([str(venv / "bin" / "sefa-zoo"), "list", "--json"], **elsewhere(tmp_path)).stdout)
    names = [entry["name"] for entry in listed]
    models = {model["name"] for model in yaml.safe_load((REPO / "zoo.yaml").read_text(encoding="utf-8"))["models"]}
    from_plugins = {e for p in plugins["plugins"] if p["kind"] == "built-in" for e in p["catalogue_entries"]}
    assert models and models <= set(names) and from_plugins <= set(names)
    assert len(names) == len(set(names)) == len(models | from_plugins)
    assert "stylegan2-shapes" in from_plugins  # the demo weights are package data of sefa_zoo_plugins.stylegan2.demo


def test_the_imagenet_class_names_ship_with_biggan(venv, tmp_path):
    code = ("from sefa_zoo_plugins.biggan_deep import imagenet_class_names as n; "
            "names = n(); print(len(names), names[207])")
    out = run([str(venv / "bin" / "python"), "-c", code], **elsewhere(tmp_path)).stdout.split(None, 1)
    assert out[0] == "1000" and "golden retriever" in out[1]


def test_the_fixture_writers_ship_for_plugin_authors(venv, tmp_path):
    code = "import sefa_zoo.testing as t; print(sorted(t.__all__))"
    names = run([str(venv / "bin" / "python"), "-c", code], **elsewhere(tmp_path)).stdout
    assert "save_nvidia_pickle" in names


def test_every_source_module_is_in_the_wheel(venv, tmp_path):
    """A package missing from pyproject's list would import from a source tree, never from the wheel."""
    code = (
        "import importlib, json, pkgutil, sefa_zoo, sefa_zoo_plugins\n"
        "names = []\n"
        "for package in (sefa_zoo, sefa_zoo_plugins):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if info.name.endswith('.__main__'):\n"
        "            continue\n"
        "        importlib.import_module(info.name)\n"
        "        names.append(info.name)\n"
        "print(json.dumps(names))\n"
    )
    shipped = set(json.loads(run([str(venv / "bin" / "python"), "-c", code], **elsewhere(tmp_path)).stdout))
    expected = set()
    for folder, package in ((REPO / "sefa_zoo", "sefa_zoo"), (REPO / "plugins", "sefa_zoo_plugins")):
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts and parts[-1] != "__main__":
                expected.add(".".join((package, *parts)))
    assert expected <= shipped, sorted(expected - shipped)
