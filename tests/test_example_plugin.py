"""The example third-party plugin (docs/example-plugin), installed with pip exactly as a user
would, then discovered through its entry point by sefa-zoo running in a fresh process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sefa_zoo import load_bank

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "example-plugin"
DISTRIBUTION, VERSION, PLUGIN = "sefa-zoo-mlpgan", "0.1.0", "mlpgan"
SEFA_ZOO = Path(sys.executable).with_name("sefa-zoo")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder the example plugin is pip-installed into (``pip install --target``)."""
    root = tmp_path_factory.mktemp("example-plugin")
    # Built from a copy: building in place would leave build/ and *.egg-info in the repo.
    source = root / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )
    return target


def environment(site: Path, load_plugins: str | None = None) -> dict[str, str]:
    """The tests' isolated environment (temporary config and caches), with the plugin's folder
    on the path and SEFA_ZOO_LOAD_PLUGINS unset (every entry point loads) or set."""
    env = dict(os.environ)
    env.pop("SEFA_ZOO_LOAD_PLUGINS", None)
    if load_plugins is not None:
        env["SEFA_ZOO_LOAD_PLUGINS"] = load_plugins
    env["PYTHONPATH"] = str(site)
    return env


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_pip_installs_the_package_and_its_entry_point(site):
    dist_info = site / f"sefa_zoo_mlpgan-{VERSION}.dist-info"
    assert "[sefa_zoo]\nmlpgan = sefa_zoo_mlpgan" in (dist_info / "entry_points.txt").read_text()
    assert (site / "sefa_zoo_mlpgan" / "demo.safetensors").is_file()


def test_plugins_json_finds_it_through_its_entry_point(site, tmp_path):
    result = run([sys.executable, "-m", "sefa_zoo", "plugins", "--json"], environment(site), tmp_path)
    plugins = {plugin["name"]: plugin for plugin in json.loads(result.stdout)["plugins"]}
    mlpgan = plugins[PLUGIN]
    assert mlpgan["kind"] == "distribution"
    assert (mlpgan["origin"], mlpgan["version"]) == (f"{DISTRIBUTION} {VERSION}", VERSION)
    assert mlpgan["architectures"] == ["mlpgan"]
    assert mlpgan["catalogue_entries"] == ["mlpgan-demo"]
    assert mlpgan["loaded"] and mlpgan["problems"] == []
    assert "mlpgan" not in result.stderr
    assert {"stylegan2", "dcgan"} <= set(plugins)


def test_factorize_a_checkpoint_written_by_the_plugin(site, tmp_path):
    env = environment(site, load_plugins=DISTRIBUTION)
    written = run([sys.executable, "-m", "sefa_zoo_mlpgan.checkpoints", "G.safetensors"], env, tmp_path)
    assert written.stderr == ""  # no RuntimeWarning from runpy about the module imported twice
    result = run([str(SEFA_ZOO), "factorize", "--checkpoint", "G.safetensors", "-o", "bank.safetensors",
                  "--json"], env, tmp_path)
    summary = json.loads(result.stdout)
    assert (summary["architecture"], summary["layout"]) == ("mlpgan", "state-dict")
    assert summary["layer_names"] == ["net.0"]
    bank = load_bank(tmp_path / "bank.safetensors")
    assert bank.architecture == "mlpgan" and bank.directions.shape == (8, 8)
    assert np.isclose(bank.eigenvalues.sum(), 32)  # normalised rows of the 32 x 8 first layer


def test_factorize_its_catalogue_entry(site, tmp_path):
    result = run([str(SEFA_ZOO), "factorize", "mlpgan-demo", "-k", "3", "-o", "demo.safetensors", "--json"],
                 environment(site), tmp_path)
    summary = json.loads(result.stdout)
    assert (summary["model"], summary["architecture"], summary["k"]) == ("mlpgan-demo", "mlpgan", 3)
    assert load_bank(tmp_path / "demo.safetensors").model == "mlpgan-demo"


# A reader's `pip install`, in the test: into $SITE, offline; pytest is already installed.
PIP_STAND_IN = """
pip() {
    if [ "$*" = "install pytest" ]; then return 0; fi
    python -m pip install --no-deps --no-build-isolation --no-index --disable-pip-version-check --quiet \\
        --target "$SITE" "${@:2}"
}
"""


def bash_block(path: Path, after: str = "") -> str:
    """The first ```bash block of ``path`` that follows the text ``after``."""
    text = path.read_text(encoding="utf-8")
    return re.search(r"```bash\n(.*?)```", text[text.index(after):], re.DOTALL).group(1)


def copy_of_the_repository(folder: Path) -> Path:
    """This repository's tracked files, committed in a new git repository at ``folder``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, target = REPO / name, folder / name
        if source.is_symlink() or source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    git = ["git", "-c", "user.name=tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(git + command, cwd=folder, check=True, capture_output=True)
    return folder


@pytest.mark.parametrize("document, after", [
    (EXAMPLE / "README.md", ""),
    pytest.param(REPO / "docs" / "plugin-guide.md", "Try it from the repository root", marks=pytest.mark.slow),
])
def test_the_documented_commands_work_and_leave_the_repository_clean(tmp_path, document, after):
    repository = copy_of_the_repository(tmp_path / "repository")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**environment(tmp_path / "site"), "SITE": str(tmp_path / "site"), "TMPDIR": str(scratch),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    script = "set -e\n" + PIP_STAND_IN + bash_block(document, after)
    result = subprocess.run(["bash", "-c", script], cwd=repository, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\d+ passed", result.stdout) and "skipped" not in result.stdout  # the plugin's own tests
    assert "Warning" not in result.stderr, result.stderr
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repository,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", status
    [folder] = scratch.glob("tmp.*")  # made by mktemp -d
    written = sorted(path.name for path in folder.glob("*.safetensors"))
    assert "G.safetensors" in written and len(written) == 3, written  # the checkpoint and two banks
