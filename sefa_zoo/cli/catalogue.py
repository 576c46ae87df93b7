"""``sefa-zoo list`` and ``sefa-zoo info``: what the catalogue holds, and what is cached here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..api import layer_table
from ..catalogue import Catalogue, load_catalogue
from ..entry import CatalogueEntry
from ..fetching import cached_path
from ..hashing import known_sha256
from ..loading import open_checkpoint
from ..sources import HubSource
from . import display

def human_size(size: int | None) -> str:
    """Decimal units, as the Hub shows them: 123949595 -> '123.9 MB'; None (unknown) -> '?'."""
    if size is None:
        return "?"
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def _resolution(entry: CatalogueEntry) -> str:
    if entry.image_size is None:
        return str(entry.resolution)
    width, height = entry.image_size
    return f"{entry.resolution} ({width}×{height})"


def _print_notices(catalogue: Catalogue) -> None:
    for notice in catalogue.notices:
        typer.echo(f"Note: {notice}", err=True)


def list_models(
    pattern: Annotated[
        Optional[str], typer.Argument(metavar="PATTERN", help="Only names matching this glob (e.g. 'stylegan2-*') or substring.")
    ] = None,
    arch: Annotated[Optional[str], typer.Option("--arch", help="Only models of this architecture.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of entries on stdout (and nothing else there).")
    ] = False,
) -> None:
    """List the catalogue's models: architecture, resolution, layers, size, whether cached, license."""
    catalogue = load_catalogue()
    _print_notices(catalogue)
    entries = catalogue.find(pattern, arch)
    if as_json:
        payload = [{**entry.to_dict(), "cached": cached_path(entry) is not None} for entry in entries]
        typer.echo(json.dumps(payload, indent=2))
        return
    if not entries:
        wanted = []
        if pattern:
            wanted.append(f"matching {pattern!r}")
        if arch:
            wanted.append(f"of architecture {arch!r}")
        typer.echo(f"No models {' and '.join(wanted)}." if wanted else "The catalogue is empty.", err=True)
        return
    from rich import box

    table = display.table(title="sefa-zoo catalogue", box=box.SIMPLE_HEAD)
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("architecture")
    table.add_column("resolution", justify="right")
    table.add_column("layers", justify="right")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("cached")
    table.add_column("license")
    for entry in entries:
        cached = cached_path(entry) is not None
        table.add_row(
            display.text(entry.name), display.text(entry.architecture), str(entry.resolution),
            str(entry.num_layers), human_size(entry.source.size),
            display.text("yes", style="green") if cached else display.text("no"), display.text(entry.license),
        )
    display.print_table(table)


def info(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Catalogue model name (see `sefa-zoo list`).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the entry as JSON on stdout (and nothing else there).")
    ] = False,
) -> None:
    """Show a model's source, license and provenance, and its projection layers once it is cached."""
    catalogue = load_catalogue()
    _print_notices(catalogue)
    entry = catalogue.get(model)
    path = cached_path(entry)
    layers = _layers(entry, path) if path is not None else None
    if as_json:
        payload: dict[str, Any] = {
            **entry.to_dict(), "origin": entry.origin, "cached": path is not None,
            "path": str(path) if path is not None else None, "layers": layers,
        }
        typer.echo(json.dumps(payload, indent=2))
        return

    from rich.table import Table

    console = display.console()
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold", no_wrap=True)
    details.add_column(overflow="fold")
    source = entry.source
    rows: list[tuple[str, str]] = [
        ("name", entry.name),
        ("description", entry.description),
        ("architecture", f"{entry.architecture} ({entry.layout} layout)"),
        ("resolution", _resolution(entry)),
        ("latent", f"z {entry.z_dim or '?'}, w {entry.w_dim or '?'}, {entry.num_layers} layers"),
        ("source", source.describe()),
    ]
    if isinstance(source, HubSource):
        rows.append(("revision", source.revision))
    rows += [
        ("sha256", _sha256_text(source.sha256, path)),
        ("size", human_size(source.size) + (f" ({source.size} bytes)" if source.size else "")),
        ("license", entry.license),
        ("provenance", entry.provenance),
    ]
    if entry.notes:
        rows.append(("notes", entry.notes))
    rows += [
        ("catalogue", entry.origin or "?"),
        ("cached", str(path) if path is not None else f"no (run `sefa-zoo download {entry.name}`)"),
    ]
    for key, value in rows:
        details.add_row(key, display.text(value))
    console.print(details)
    if layers is None:
        return
    table = display.table(title=f"{entry.name}: projection layers")
    table.add_column("index", justify="right")
    table.add_column("name", no_wrap=True)
    table.add_column("level", justify="right")
    table.add_column("kind")
    table.add_column("shape", no_wrap=True)
    for layer in layers:
        outputs, latent = layer["shape"]
        table.add_row(str(layer["index"]), display.text(layer["name"]), str(layer["level"]),
                      display.text(layer["kind"]), f"{outputs}×{latent}")
    console.print(table)


def _sha256_text(expected: str | None, path: Path | None) -> str:
    if expected:
        return expected
    known = known_sha256(path) if path is not None else None
    if known:
        return f"not in the catalogue; the cached file's is {known}"
    return "not in the catalogue (shown when the file is first fetched)"


def _layers(entry: CatalogueEntry, path: Path) -> list[dict[str, Any]]:
    checkpoint = open_checkpoint(path)
    _, _, table = layer_table(checkpoint, architecture=entry.architecture, layout=entry.layout)
    return [
        {"index": layer.index, "name": layer.name, "level": layer.level, "kind": layer.kind,
         "shape": list(layer.shape)}
        for layer in table
    ]
