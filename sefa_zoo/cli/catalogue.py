"""``sefa-zoo list`` and ``sefa-zoo info``: what the catalogue holds, and what is cached here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..catalogue import Catalogue, load_catalogue
from ..entry import CatalogueEntry
from ..fetching import cached_path
from ..hashing import known_sha256
from ..sources import HubSource, cut
from . import display
from .inputs import (
    ArchitectureOptions, ArchOption, CheckpointOption, ConfigOption, LayoutOption, check_model_arguments, companion_files,
    parse_options,
)

# `sefa-zoo list` columns, and the shorter headers of the narrowest layout
_COLUMNS = ("name", "architecture", "resolution", "layers", "size", "cached", "license")
_SHORT_HEADERS = {"architecture": "arch", "resolution": "res"}
_RIGHT_ALIGNED = frozenset({"resolution", "layers", "size"})
_SHORT_LICENSE_WIDTH = 24

if TYPE_CHECKING:
    from ..architecture import Architecture


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


def entry_size(entry: CatalogueEntry) -> str:
    """The exact size where the catalogue knows it, else its rounded one as '~N MB', else '?'."""
    if entry.source.size is None and entry.approx_size is not None:
        return f"~{entry.approx_size / 1e6:.0f} MB"
    return human_size(entry.source.size)


def _size_detail(entry: CatalogueEntry) -> str:
    size = entry.source.size
    if size is not None:
        return f"{human_size(size)} ({size} bytes)"
    if entry.approx_size is not None:
        return f"{entry_size(entry)} (rounded; the exact size is not known)"
    return "?"


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
    cached = [cached_path(entry) is not None for entry in entries]
    table = catalogue_table(entries, cached, display.fit_width())
    # As wide as the layout is: every cell is whole, and a terminal too narrow even for the
    # leanest layout wraps its lines rather than cutting names.
    display.print_table(table, width=display.natural_width(table))


@dataclass(frozen=True)
class _Layout:
    """What `sefa-zoo list` leaves out to fit a narrow terminal (names are always whole)."""

    short_license: bool = False
    layers: bool = True
    # False: when every entry has the same architecture, say it once in the title
    architecture: bool = True
    short_headers: bool = False
    # False: no license column (`sefa-zoo info` shows it)
    license: bool = True
    # False: no size column (`sefa-zoo info` shows it)
    size: bool = True


_LAYOUTS = (
    _Layout(),
    _Layout(short_license=True),
    _Layout(short_license=True, layers=False),
    _Layout(short_license=True, layers=False, architecture=False),
    _Layout(short_license=True, layers=False, architecture=False, short_headers=True),
    _Layout(short_license=True, layers=False, architecture=False, short_headers=True, license=False),
    _Layout(short_license=True, layers=False, architecture=False, short_headers=True, license=False, size=False),
)


def catalogue_table(entries: list[CatalogueEntry], cached: list[bool], width: int | None) -> Any:
    """The list in the fullest layout that fits ``width`` columns (None: any width), else in
    the leanest."""
    for layout in _LAYOUTS:
        table = _list_table(entries, cached, layout)
        if width is None or display.natural_width(table) <= width:
            break
    return table


def _list_table(entries: list[CatalogueEntry], cached: list[bool], layout: _Layout) -> Any:
    from rich import box

    architectures = {entry.architecture for entry in entries}
    one_architecture = not layout.architecture and len(architectures) == 1
    title = "sefa-zoo catalogue" + (f" ({architectures.pop()} models)" if one_architecture else "")
    left_out = {"layers": not layout.layers, "architecture": one_architecture, "license": not layout.license,
                "size": not layout.size}
    columns = [name for name in _COLUMNS if not left_out.get(name)]
    table = display.table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for name in columns:
        table.add_column(
            _SHORT_HEADERS.get(name, name) if layout.short_headers else name,
            justify="right" if name in _RIGHT_ALIGNED else "left",
            no_wrap=True,
        )
    for entry, is_cached in zip(entries, cached):
        cells = _list_cells(entry, is_cached, layout)
        table.add_row(*(cells[name] for name in columns))
    return table


def _list_cells(entry: CatalogueEntry, cached: bool, layout: _Layout) -> dict[str, Any]:
    return {
        "name": display.text(entry.name, style="bold"),
        "architecture": display.text(entry.architecture),
        "resolution": str(entry.resolution),
        "layers": str(entry.num_layers),
        "size": entry_size(entry),
        "cached": display.text("yes", style="green") if cached else display.text("no"),
        "license": display.text(short_license(entry) if layout.short_license else entry.license),
    }


def short_license(entry: CatalogueEntry) -> str:
    """The entry's ``license_short``, else its license up to the first parenthesis or comma."""
    if entry.license_short:
        return entry.license_short
    head = entry.license.split("(")[0].split(",")[0].split(";")[0].strip()
    return cut(head or entry.license, _SHORT_LICENSE_WIDTH)


def info(
    model: Annotated[Optional[str], typer.Argument(metavar="[MODEL]", help="Catalogue model name (see `sefa-zoo list`).")] = None,
    checkpoint: CheckpointOption = None,
    arch: ArchOption = None,
    layout: LayoutOption = None,
    config: ConfigOption = None,
    option: ArchitectureOptions = [],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the entry as JSON on stdout (and nothing else there).")
    ] = False,
) -> None:
    """Show a model's source, license and provenance, and its projection layers once it is cached;
    or, with --checkpoint, the architecture and layout found in a local file and its projection layers."""
    check_model_arguments(model, checkpoint, arch, layout)
    options = parse_options(option)
    companions = companion_files(config, checkpoint)
    if checkpoint is not None:
        _checkpoint_info(checkpoint, arch, layout, options, companions, as_json)
        return
    catalogue = load_catalogue()
    _print_notices(catalogue)
    entry = catalogue.get(model)
    path = cached_path(entry)
    layers = _layers(path, entry.architecture, entry.layout, options)[3] if path is not None else None
    if as_json:
        payload: dict[str, Any] = {
            **entry.to_dict(), "origin": entry.origin, "cached": path is not None,
            "path": str(path) if path is not None else None, "layers": layers,
        }
        typer.echo(json.dumps(payload, indent=2))
        return

    source = entry.source
    rows: list[tuple[str, str]] = [
        ("name", entry.name),
        ("description", entry.description),
        ("architecture", f"{entry.architecture} ({entry.layout} layout)"),
        ("resolution", _resolution(entry)),
        ("latent", _latent_text(entry)),
        ("source", source.describe()),
    ]
    if isinstance(source, HubSource):
        rows.append(("revision", source.revision))
        for companion in source.companions:  # fetched with the weights, into the same folder
            size = f"{human_size(companion.size)}" if companion.size is not None else "size unknown"
            rows.append(("with", f"{companion.name} ({size}, sha256 {companion.sha256 or 'unknown'})"))
    rows += [
        ("sha256", _sha256_text(source.sha256, path)),
        ("size", _size_detail(entry)),
        ("license", entry.license),
        ("provenance", entry.provenance),
    ]
    if entry.notes:
        rows.append(("notes", entry.notes))
    rows += [
        ("catalogue", entry.origin or "?"),
        ("cached", str(path) if path is not None else f"no (run `sefa-zoo download {entry.name}`)"),
    ]
    _print_details(rows)
    if layers is not None:
        _print_layers(entry.name, layers)


def _latent_text(entry: CatalogueEntry) -> str:
    """'z 512, w 512, 18 layers'; a z-space model (no w_dim) has no w to show."""
    parts = [f"z {entry.z_dim or '?'}"]
    if entry.w_dim is not None:
        parts.append(f"w {entry.w_dim}")
    layers = "layer" if entry.num_layers == 1 else "layers"
    return ", ".join([*parts, f"{entry.num_layers} {layers}"])


def _checkpoint_info(
    checkpoint: Path, arch: str | None, layout: str | None, options: dict[str, str],
    companions: dict[str, Path], as_json: bool,
) -> None:
    weights, architecture, layout, layers = _layers(checkpoint, arch, layout, options, companions)
    if as_json:
        payload = {"checkpoint": str(weights), "size": weights.stat().st_size,
                   "architecture": architecture.name, "layout": layout, "layers": layers}
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_details([
        ("checkpoint", str(weights)),
        ("size", human_size(weights.stat().st_size)),
        ("architecture", f"{architecture.name} ({layout} layout): {architecture.description}"),
        ("latent", f"{architecture.latent_space}, {max(layer['index'] for layer in layers) + 1} indices"),
    ])
    _print_layers(weights.name, layers)


def _print_details(rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold", no_wrap=True)
    details.add_column(overflow="fold")
    for key, value in rows:
        details.add_row(key, display.text(value))
    display.console().print(details)


def _print_layers(title: str, layers: list[dict[str, Any]]) -> None:
    table = display.table(title=f"{title}: projection layers")
    table.add_column("index", justify="right")
    table.add_column("name", no_wrap=True)
    table.add_column("level", justify="right")
    table.add_column("kind")
    table.add_column("shape", no_wrap=True)
    parts = any(layer["latent_part"] for layer in layers)
    if parts:  # a layer fed cat(z, label): which of its inputs are factorized
        table.add_column("factorized input")
    for layer in layers:
        outputs, latent = layer["shape"]
        cells = [str(layer["index"]), display.text(layer["name"]), str(layer["level"]),
                 display.text(layer["kind"]), f"{outputs}×{latent}"]
        table.add_row(*cells, *([display.text(layer["latent_part"] or "all")] if parts else []))
    display.console().print(table)


def _sha256_text(expected: str | None, path: Path | None) -> str:
    if expected:
        return expected
    known = known_sha256(path) if path is not None else None
    if known:
        return f"not in the catalogue; the cached file's is {known}"
    return "not in the catalogue (shown when the file is first fetched)"


def _layers(
    path: Path, architecture: str | None, layout: str | None, options: dict[str, str],
    companions: dict[str, Path] | None = None,
) -> tuple[Path, Architecture, str, list[dict[str, Any]]]:
    """The weights file read (the one in a folder), its architecture, layout and layer rows."""
    from ..api import layer_table  # torch: only once a model's layers are shown
    from ..loading import open_checkpoint

    checkpoint = open_checkpoint(path, companions=companions)
    arch, layout, table = layer_table(checkpoint, architecture=architecture, layout=layout, options=options)
    rows = [
        {"index": layer.index, "name": layer.name, "level": layer.level, "kind": layer.kind,
         "shape": list(layer.shape), "latent_part": layer.latent_part}
        for layer in table
    ]
    return checkpoint.path, arch, layout, rows
