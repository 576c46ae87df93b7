"""Render the CLI reference (docs/cli.md) from the commands' own ``--help``.

Regenerate with ``python -m sefa_zoo.cli.reference > docs/cli.md``; a test keeps it current.
"""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from .main import app

WIDTH = 100


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="sefa-zoo", terminal_width=WIDTH,
                                env={"COLUMNS": str(WIDTH)})
    if result.exit_code != 0:
        raise RuntimeError(f"sefa-zoo {' '.join(args)} --help failed: {result.output}")
    return result.output.rstrip()


def render() -> str:
    group = typer.main.get_command(app)
    parts = [
        "# sefa-zoo command-line reference",
        "",
        "Generated from `--help` by `python -m sefa_zoo.cli.reference`; do not edit by hand.",
        "",
        "```text",
        _help([]),
        "```",
    ]
    for name in group.commands:  # registration order, as `--help` lists them
        parts += ["", f"## sefa-zoo {name}", "", "```text", _help([name]), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
