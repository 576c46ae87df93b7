"""Commands that need no torch do not import it: `--help` and `list` answer in a fraction of a second,
and `info`, `download` and `factorize` read every container with numpy alone."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from support.container_fixtures import write_container_fixtures
from support.hub_server import HubServer, hub  # noqa: F401  (fixture)

CHECK = """
import sys
from sefa_zoo.cli.main import app
try:
    app(sys.argv[1:], prog_name="sefa-zoo")
except SystemExit as exit:
    assert not exit.code, exit.code
heavy = sorted(name for name in ("torch", "numpy", "PIL", "safetensors", "gradio", "sklearn",
                                  "huggingface_hub.file_download") if name in sys.modules)
print("HEAVY", ",".join(heavy))
"""


@pytest.mark.parametrize("argv", [
    ["--help"], ["list"], ["list", "--json"], ["list", "stylegan2", "--arch", "stylegan2"], ["plugins"],
    ["factorize", "--help"], ["edit", "--help"], ["download", "--help"], ["info", "--help"],
    ["editor", "--help"], ["render", "--help"], ["name", "--help"], ["ganspace", "--help"], ["boundary", "--help"],
    ["project", "--help"], ["direction-layers", "--help"], ["evaluate", "--help"],
])
def test_commands_that_need_no_torch_do_not_import_it(argv):
    out = subprocess.run([sys.executable, "-c", CHECK, *argv], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY", (argv, out.stdout[-300:], out.stderr[-300:])


def test_names_and_submodules_load_on_first_use():
    code = ("import sys, sefa_zoo; assert 'torch' not in sys.modules; "
            "assert sefa_zoo.loading.open_checkpoint is sefa_zoo.open_checkpoint; "
            "assert sorted(dir(sefa_zoo)) == sorted(sefa_zoo.__all__); "
            "missing = [n for n in sefa_zoo.__all__ if getattr(sefa_zoo, n, None) is None]; assert not missing, missing")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError):
        import sefa_zoo

        sefa_zoo.no_such_name


# Each command in turn, in one fresh process; after each, whether torch has been imported.
EACH = """
import json, sys
from sefa_zoo.cli.main import app
for argv in json.loads(sys.argv[1]):
    try:
        app(argv, prog_name="sefa-zoo")
    except SystemExit as exit:
        assert not exit.code, (argv, exit.code)
    print("TORCH" if "torch" in sys.modules else "NO TORCH", argv[0], flush=True)
"""

# One file per container and dtype, every built-in architecture among them.
NO_TORCH_CASES = [
    "pggan-genforce-zip", "pggan-huggan-legacy", "pggan-huggan-bfloat16-zip", "pggan-huggan-safetensors",
    "stylegan-genforce-zip", "stylegan2-rosinality-legacy", "stylegan2-nvidia-pickle", "stylegan2-nvidia-tf-pickle",
    "stylegan2-sefa-zoo-float16-safetensors", "stylegan3-r-nvidia-pickle", "biggan-deep-legacy-all-conditional",
    "dcgan-conditional-legacy",
]
OPTIONS = {"biggan-deep-legacy-all-conditional": ["--option", "projection=all-conditional"],
           "dcgan-conditional-legacy": ["--option", "classes=4"]}


def run_each(commands: list[list[str]], env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", EACH, json.dumps(commands)], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr[-2000:]
    return [line for line in out.stdout.splitlines() if line.endswith(tuple(f"TORCH {c[0]}" for c in commands))]


@pytest.fixture(scope="module")
def containers(tmp_path_factory):
    return write_container_fixtures(tmp_path_factory.mktemp("containers"))


@pytest.mark.parametrize("case", NO_TORCH_CASES)
def test_info_and_factorize_of_a_file_need_no_torch(containers, tmp_path, case):
    path = str(containers[case])
    lines = run_each([
        ["info", "--checkpoint", path, *OPTIONS.get(case, [])],
        ["factorize", "--checkpoint", path, "-o", str(tmp_path / "bank.safetensors"), *OPTIONS.get(case, [])],
    ])
    assert lines == ["NO TORCH info", "NO TORCH factorize"]
    assert (tmp_path / "bank.safetensors").stat().st_size > 0


def test_catalogue_commands_need_no_torch(containers, hub: HubServer, tmp_path):  # noqa: F811  (fixture)
    data = containers["stylegan2-rosinality-zip"].read_bytes()
    repo = hub.add_repo("org/tiny", {"g.pt": data})
    catalogue = tmp_path / "zoo.yaml"
    catalogue.write_text(json.dumps({"models": [{
        "name": "tiny-stylegan2", "architecture": "stylegan2", "layout": "rosinality", "resolution": 16,
        "num_layers": 6, "license": "MIT", "provenance": "tests", "description": "a test model",
        "source": {"kind": "hub", "repo_id": "org/tiny", "filename": "g.pt", "revision": repo.commit,
                   "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
    }]}))
    env = {"SEFA_ZOO_CATALOGUE": str(catalogue), "HF_ENDPOINT": hub.endpoint,
           "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "SEFA_ZOO_CACHE": str(tmp_path / "sefa-zoo-cache")}
    lines = run_each([
        ["--help"], ["list"], ["plugins"], ["info", "tiny-stylegan2"], ["download", "--no-progress", "tiny-stylegan2"],
        ["factorize", "tiny-stylegan2", "-o", str(tmp_path / "bank.safetensors")],
    ], env)
    assert lines == ["NO TORCH --help", "NO TORCH list", "NO TORCH plugins", "NO TORCH info", "NO TORCH download",
                     "NO TORCH factorize"]
