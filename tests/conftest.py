"""Test isolation: set before sefa_zoo is imported anywhere.

Installed third-party plugins never load (SEFA_ZOO_LOAD_PLUGINS=""), and the user's
config, caches and Hub cache are replaced by temporary folders.
"""

import os
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="sefa-zoo-tests-"))
os.environ["SEFA_ZOO_LOAD_PLUGINS"] = ""
os.environ.pop("SEFA_ZOO_PLUGINS_DIR", None)
os.environ.pop("SEFA_ZOO_CATALOGUE", None)
os.environ["SEFA_ZOO_CONFIG_DIR"] = str(_ROOT / "config")
os.environ["SEFA_ZOO_CACHE"] = str(_ROOT / "cache")
os.environ["HF_HOME"] = str(_ROOT / "hf")
os.environ["HF_HUB_CACHE"] = str(_ROOT / "hf" / "hub")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_ENDPOINT", None)

import pytest  # noqa: E402

# huggingface_hub binds its log handler to sys.stderr on first import. The CLI imports it
# lazily, so without this it would bind to a CliRunner's temporary stderr, closed after that
# test, and later tests would see "--- Logging error ---" noise.
from huggingface_hub.utils import logging as hf_logging  # noqa: E402

hf_logging.get_logger("huggingface_hub")


@pytest.fixture
def register_plugin():
    """Register plugin objects for one test; always unregistered afterwards."""
    from sefa_zoo import plugins

    names = []

    def register(plugin, name=None):
        names.append(plugins.register_plugin(plugin, name))
        return names[-1]

    yield register
    for name in names:
        plugins.unregister_plugin(name)


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """An empty user config folder and no extra catalogue files."""
    path = tmp_path / "config"
    path.mkdir()
    monkeypatch.setenv("SEFA_ZOO_CONFIG_DIR", str(path))
    monkeypatch.delenv("SEFA_ZOO_CATALOGUE", raising=False)
    return path
