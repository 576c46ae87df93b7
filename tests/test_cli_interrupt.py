"""Ctrl-C at any moment of a real ``sefa-zoo`` process, from the first imports to a command
waiting on the network: one line, "Error: interrupted", and exit status 130.

"Any moment" starts when the package ``sefa_zoo`` is imported: a Ctrl-C before that lands in
the interpreter's own start-up or in sefa_zoo/__init__.py, before the launcher
(sefa_zoo.__main__) runs, so that file must stay light.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.hub_server import HubServer, hub  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]
PACKAGE_IMPORTED = re.compile(r"\|\s+sefa_zoo$")  # "import time:" lines end with the module's name

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")


def console_script() -> list[str]:
    """The command pip's wrapper for ``sefa-zoo`` runs, from pyproject.toml's [project.scripts]."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    module, function = re.search(r'^sefa-zoo = "([\w.]+):(\w+)"$', text, re.MULTILINE).groups()
    return [sys.executable, "-c", f"import sys\nfrom {module} import {function}\nsys.exit({function}())"]


@pytest.fixture
def waiting_download(hub: HubServer, tmp_path):
    """The arguments and environment of a `sefa-zoo download` that waits for a Hub that never answers."""
    repo = hub.add_repo("org/slow", {"G.pt": b"weights"})
    hub.answering = "hang"
    catalogue = tmp_path / "zoo.yaml"
    catalogue.write_text(json.dumps({"models": [{
        "name": "slow-model", "architecture": "stylegan2", "layout": "rosinality", "resolution": 256,
        "num_layers": 14, "license": "MIT", "provenance": "tests", "description": "a test model",
        "source": {"kind": "hub", "repo_id": "org/slow", "filename": "G.pt", "revision": repo.commit},
    }]}))
    env = {
        **os.environ, "SEFA_ZOO_CATALOGUE": str(catalogue), "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "SEFA_ZOO_CACHE": str(tmp_path / "cache"),
        "HF_HUB_ETAG_TIMEOUT": "60",
        "PYTHONPROFILEIMPORTTIME": "1",  # "import time:" lines on stderr tell when start-up is over
    }
    return ["download", "--no-progress", "slow-model"], env


def interrupt(command: list[str], env: dict[str, str], cwd: Path, delay: float) -> tuple[int, list[str]]:
    """Start ``command``, send SIGINT ``delay`` seconds after it has imported the package;
    return its exit status and its stderr lines (the import-time lines left out)."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    lines: list[str] = []
    started = threading.Event()

    def read_stderr() -> None:
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            if PACKAGE_IMPORTED.search(line):
                started.set()
        started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert started.wait(60), "the package was not imported"
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        status = process.wait(60)
    finally:
        process.kill()
        reader.join(10)
    return status, [line for line in lines if not line.startswith("import time:")]


@pytest.mark.parametrize("delay", [0.02, 0.2, 0.5, 1.0, 1.5])
def test_ctrl_c_during_the_console_script_is_one_line(waiting_download, tmp_path, delay):
    arguments, env = waiting_download
    status, stderr = interrupt(console_script() + arguments, env, tmp_path, delay)
    assert (status, stderr) == (130, ["Error: interrupted"])


@pytest.mark.parametrize("delay", [0.02])
def test_ctrl_c_during_python_m_sefa_zoo_is_one_line(waiting_download, tmp_path, delay):
    arguments, env = waiting_download
    status, stderr = interrupt([sys.executable, "-m", "sefa_zoo", *arguments], env, tmp_path, delay)
    assert (status, stderr) == (130, ["Error: interrupted"])


def test_ctrl_c_outside_a_command_is_reported_too(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from sefa_zoo.cli.main import app

    def interrupted(folder):
        raise KeyboardInterrupt

    monkeypatch.setattr("sefa_zoo.cli.main.set_plugins_dir", interrupted)  # the global options' work
    result = CliRunner().invoke(app, ["--plugins-dir", str(tmp_path), "plugins"])
    assert (result.exit_code, result.stderr) == (130, "Error: interrupted\n")


SWALLOWING_IMPORT = """
import os, signal, sys, time


class SwallowingFinder:
    '''Swallows a Ctrl-C that lands while sefa_zoo.cli.main is imported, as torch does when
    numpy's import is interrupted.'''

    def find_spec(self, name, path, target=None):
        if name == "sefa_zoo.cli.main":
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                pass
        return None


sys.meta_path.insert(0, SwallowingFinder())
from sefa_zoo.__main__ import main
sys.exit(main())
"""


def test_a_ctrl_c_swallowed_during_the_imports_still_stops_the_command(waiting_download, tmp_path):
    arguments, env = waiting_download
    result = subprocess.run([sys.executable, "-c", SWALLOWING_IMPORT, *arguments], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    stderr = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert (result.returncode, stderr) == (130, ["Error: interrupted"])
