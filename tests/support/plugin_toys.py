"""Small plugins for the plugin-system tests: a toy architecture and plugin-file sources."""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from sefa_zoo import Architecture, Checkpoint, ProjectionLayer, hookimpl
from sefa_zoo import plugins as plugin_system
from sefa_zoo.plugins import PluginWarning


class ToyArchitecture(Architecture):
    """One linear layer on z, stored as ``<name>.weight`` (outputs x z_dim)."""

    layouts = {"toy": "a single tensor named after the architecture"}

    def __init__(self, name: str = "toy"):
        self.name = name  # instance attribute: each toy instance can be a different architecture

    @property
    def key(self) -> str:
        return f"{self.name}.weight"

    def detect(self, checkpoint: Checkpoint) -> str | None:
        return "toy" if self.key in checkpoint and len(checkpoint.shape(self.key)) == 2 else None

    def layers(self, checkpoint, *, layout=None, **options):
        self.resolve_layout(checkpoint, layout)
        outputs, z_dim = checkpoint.shape(self.key)
        return [ProjectionLayer(0, "first", outputs, z_dim, level=1, kind="linear")]

    def projection(self, checkpoint, indices, *, layout=None, **options):
        self.resolve_layout(checkpoint, layout)
        return [checkpoint[self.key].float() for _ in indices]


def toy_checkpoint(name: str = "toy", outputs: int = 6, z_dim: int = 4) -> Checkpoint:
    weight = torch.arange(outputs * z_dim, dtype=torch.float32).reshape(outputs, z_dim).sin()
    return Checkpoint.from_tensors({f"{name}.weight": weight})


class ArchitecturePlugin:
    """A run-time plugin registering the given architectures (and catalogue entries)."""

    def __init__(self, *architectures: Any, entries: tuple = ()):
        self.architectures = architectures
        self.entries = entries

    @hookimpl
    def register_architectures(self, register):
        for arch in self.architectures:
            register(arch)

    @hookimpl
    def register_catalogue_entries(self, register):
        for entry in self.entries:
            register(entry)


def plugin_file_source(arch_name: str, body: str = "") -> str:
    """Source of a plugin file (as a user would drop into SEFA_ZOO_PLUGINS_DIR) registering
    a toy architecture named ``arch_name``; ``body`` is added at module level."""
    return textwrap.dedent(
        f"""
        from sefa_zoo import Architecture, ProjectionLayer, hookimpl


        class FileArchitecture(Architecture):
            name = {arch_name!r}
            layouts = {{"plain": "one tensor, {arch_name}.weight"}}

            def detect(self, checkpoint):
                return "plain" if "{arch_name}.weight" in checkpoint else None

            def layers(self, checkpoint, *, layout=None, **options):
                outputs, z_dim = checkpoint.shape("{arch_name}.weight")
                return [ProjectionLayer(0, "first", outputs, z_dim, level=1)]

            def projection(self, checkpoint, indices, *, layout=None, **options):
                return [checkpoint["{arch_name}.weight"].float() for _ in indices]


        @hookimpl
        def register_architectures(register):
            register(FileArchitecture())
        """
    ) + textwrap.dedent(body)


def write_plugin_dir(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(source, encoding="utf-8")
    return folder


def plugin_warnings(action: Callable[[], Any]) -> list[str]:
    """Run ``action`` and return the PluginWarning messages it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    return [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Plugins discovered afresh for one test (its environment included), and again after it."""
    monkeypatch.delenv("SEFA_ZOO_PLUGINS_DIR", raising=False)
    plugin_system.reset()
    yield plugin_system
    plugin_system.reset()
