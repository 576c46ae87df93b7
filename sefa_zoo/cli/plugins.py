"""``sefa-zoo plugins``: every plugin, where it came from, what it registers, what went wrong."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..plugins import PluginInfo, get_registry
from . import display

_KIND_ORDER = {"core": 0, "built-in": 1, "distribution": 2, "file": 3, "registered": 4}


def _origin(info: PluginInfo) -> str:
    if info.kind == "distribution":
        return f"{info.origin} (installed)"
    if info.kind == "built-in":
        return f"built-in (sefa-zoo {info.version})" if info.version else "built-in"
    return info.origin


def _registers(info: PluginInfo) -> str:
    parts = []
    for label, names in (
        ("architectures", info.architectures),
        ("catalogue entries", info.catalogue_entries),
        ("source kinds", info.source_kinds),
    ):
        if names:
            parts.append(f"{label}: {', '.join(names)}")
    return "\n".join(parts) or "-"


def _status(info: PluginInfo):
    if not info.loaded:
        return display.text("not loaded", style="red")
    if info.problems:
        count = len(info.problems)
        return display.text(f"{count} problem{'s' if count > 1 else ''}", style="yellow")
    return display.text("ok", style="green")


def plugins(
    json_output: Annotated[
        bool, typer.Option("--json", help='Print {"plugins": [...], "problems": [...]} as JSON on stdout '
                     "(and nothing else there); problems lists those that belong to no plugin.")
    ] = False,
) -> None:
    """List the plugins: origin, and the architectures, catalogue entries and source kinds each registers."""
    registry = get_registry()
    infos = sorted(registry.plugins, key=lambda i: _KIND_ORDER.get(i.kind, len(_KIND_ORDER)))
    plugin_problems = {m for info in infos for m in info.problems}
    other_problems = [m for m in registry.problems if m not in plugin_problems]
    if json_output:
        payload = {"plugins": [info.to_dict() for info in infos], "problems": other_problems}
        typer.echo(json.dumps(payload, indent=2))
        return

    table = display.table(title="sefa-zoo plugins", show_lines=True)
    table.add_column("plugin", no_wrap=True, style="bold")
    table.add_column("origin", overflow="fold")
    table.add_column("registers", overflow="fold")
    table.add_column("status", no_wrap=True)
    for info in infos:
        # Text, not str: names and messages from plugins are not rich markup.
        table.add_row(display.text(info.name), display.text(_origin(info)), display.text(_registers(info)),
                      _status(info))
    console = display.console()
    console.print(table)
    problems = [m for info in infos for m in info.problems] + other_problems
    if problems:
        console.print(display.text("Problems:", style="bold red"))
        for message in problems:
            console.print(display.text(f"  - {message}"), soft_wrap=True)
