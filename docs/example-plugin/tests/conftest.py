"""Test isolation for the plugin's own tests.

Set before sefa_zoo loads plugins: no installed plugin loads through its entry point (not
even this one), so every test sees exactly the built-ins plus what the fixture registers.
"""

import os
import tempfile

_ROOT = tempfile.mkdtemp(prefix="sefa-zoo-mlpgan-tests-")
os.environ["SEFA_ZOO_LOAD_PLUGINS"] = ""
os.environ["SEFA_ZOO_CONFIG_DIR"] = os.path.join(_ROOT, "config")
os.environ["SEFA_ZOO_CACHE"] = os.path.join(_ROOT, "cache")
os.environ.pop("SEFA_ZOO_PLUGINS_DIR", None)
os.environ.pop("SEFA_ZOO_CATALOGUE", None)

import pytest  # noqa: E402

import sefa_zoo  # noqa: E402
import sefa_zoo_mlpgan  # noqa: E402


@pytest.fixture
def mlpgan():
    """The plugin registered for one test, as its entry point would register it; always removed."""
    name = sefa_zoo.register_plugin(sefa_zoo_mlpgan, "mlpgan-under-test")
    try:
        yield sefa_zoo.get_architecture("mlpgan")
    finally:
        sefa_zoo.unregister_plugin(name)


@pytest.fixture
def checkpoint_file(tmp_path):
    from sefa_zoo_mlpgan.checkpoints import write_checkpoint

    return write_checkpoint(tmp_path / "G.safetensors", z_dim=6, hidden=10, channels=3, resolution=4, seed=1)
