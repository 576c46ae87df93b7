"""The tree's rules: the core never imports a plugin, and a built-in plugin imports only sefa-zoo's
public API (``sefa_zoo`` and ``sefa_zoo.testing``), as a third-party plugin would."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PUBLIC = {"sefa_zoo", "sefa_zoo.testing"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("plugins"), ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_import_only_the_public_api(path):
    private = {m for m in imported_modules(path) if m.split(".")[0] == "sefa_zoo" and m not in PUBLIC}
    assert not private, f"{path.relative_to(REPO)} imports {sorted(private)}"


@pytest.mark.parametrize("path", python_files("sefa_zoo"), ids=lambda p: str(p.relative_to(REPO)))
def test_the_core_never_imports_a_plugin(path):
    plugins = {m for m in imported_modules(path) if m.split(".")[0] == "sefa_zoo_plugins"}
    assert not plugins, f"{path.relative_to(REPO)} imports {sorted(plugins)}"


def test_each_builtin_architecture_is_one_package():
    entries = [p for p in (REPO / "plugins").iterdir() if not p.name.startswith(("_", "."))]
    assert entries
    for entry in entries:
        assert entry.is_dir() and (entry / "__init__.py").is_file(), f"plugins/{entry.name} is not a package"
