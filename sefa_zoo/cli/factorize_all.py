"""``sefa-zoo factorize --all [PATTERN]``: a bank for every matching catalogue model, one progress
bar, up-to-date banks skipped, one failing model never stopping the others, a table at the end."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from .._version import __version__
from ..atomic import check_outputs, write_atomically
from ..catalogue import find_entries
from ..entry import CatalogueEntry
from ..errors import BankError, OutputPathError, SefaZooError
from ..fetching import cached_path
from ..layers import format_layer_spec, parse_layer_spec
from ..lookup import get_architecture
from ..plugins import call_plugin
from . import display
from .catalogue import human_size

SKIPPED, FAILED = "up to date", "failed"


@dataclass(frozen=True)
class ModelRow:
    model: str
    read: str  # how the checkpoint was read, SKIPPED or FAILED
    fetched: int  # bytes that came over the network
    seconds: float
    outcome: str  # the bank file, or the one-line error

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "read": self.read, "bytes_fetched": self.fetched,
                "seconds": round(self.seconds, 3), ("error" if self.read == FAILED else "bank"): self.outcome}


def bank_name(model: str, layer_indices: list[int]) -> str:
    """The default bank name, the same as a single model's: ``<model>_layers<spec>.safetensors``."""
    return f"{model}_layers{format_layer_spec(sorted(set(layer_indices)))}.safetensors"


def factorize_all(
    pattern: str | None, folder: Path, *, remote: bool, layers: str, k: int | None, normalize: bool,
    options: dict[str, str], exports: list[str], as_json: bool,
) -> None:
    """Banks for every catalogue model matching ``pattern`` in ``folder``; exit 1 if any failed."""
    entries = find_entries(pattern)
    if not entries:
        raise SefaZooError(f"no catalogue model matches {pattern!r} (see `sefa-zoo list`)")
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{folder}: is not a folder (with --all, -o names the folder for the banks)")
    rows = []
    with _progress_bar(not as_json, len(entries)) as advance:
        for entry in entries:
            advance(entry.name, 0)
            rows.append(_one_model(entry, folder, remote=remote, layers=layers, k=k, normalize=normalize,
                                   options=options, exports=exports))
            advance(entry.name, 1)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        display.print_table(_summary(rows))
    if any(row.read == FAILED for row in rows):
        raise typer.Exit(1)


def _one_model(entry: CatalogueEntry, folder: Path, *, remote: bool, layers: str, k: int | None, normalize: bool,
               options: dict[str, str], exports: list[str]) -> ModelRow:
    from ..api import factorize_catalogue_model  # numpy and the plugins' code: loaded for the work
    from ..bank import bank_files

    started = time.monotonic()
    try:
        existing = up_to_date_bank(entry, folder, layers=layers, k=k, normalize=normalize)
        if existing is not None:
            return ModelRow(entry.name, SKIPPED, 0, time.monotonic() - started, str(existing))
        result = factorize_catalogue_model(entry.name, remote=remote, progress=False, layers=layers, k=k,
                                           normalize=normalize, options=options)
        path = folder / bank_name(entry.name, list(result.bank.layer_indices))
        files = bank_files(result.bank, path, exports)
        check_outputs(files, [cached_path(entry)])
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(files)
        return ModelRow(entry.name, result.read, result.fetched, time.monotonic() - started, str(path))
    except SefaZooError as exc:
        return ModelRow(entry.name, FAILED, 0, time.monotonic() - started, _one_line(str(exc)))


def up_to_date_bank(entry: CatalogueEntry, folder: Path, *, layers: str, k: int | None, normalize: bool) -> Path | None:
    """The bank in ``folder`` this run would make again, if one is there: the default name for the
    layers asked for, and the same model, layers, k, normalization, checkpoint (its revision on the
    Hub, else its sha256) and sefa-zoo version. No network, no checkpoint read."""
    from ..bank import load_bank

    arch = get_architecture(entry.architecture)
    wanted = parse_layer_spec(layers, entry.num_layers, call_plugin(arch, "layer_groups", entry.num_layers))
    path = folder / bank_name(entry.name, wanted)
    if not path.is_file():
        return None
    try:
        bank = load_bank(path)
    except BankError:
        return None  # made again, and replaced
    same = (
        bank.model == entry.name
        and sorted(set(bank.layer_indices)) == sorted(set(wanted))
        and bank.k == (bank.latent_dim if k is None else min(k, bank.latent_dim))
        and bank.normalization == ("rows" if normalize else "none")
        and bank.tool_version == __version__
        and _same_checkpoint(entry, bank.checkpoint_revision, bank.checkpoint_sha256)
    )
    return path if same else None


def _same_checkpoint(entry: CatalogueEntry, revision: str, sha256: str) -> bool:
    pinned = getattr(entry.source, "revision", "")
    if pinned:
        return revision == pinned
    return bool(entry.source.sha256) and sha256 == entry.source.sha256


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if lines else "failed"


def _summary(rows: list[ModelRow]) -> Any:
    done = sum(row.read not in (SKIPPED, FAILED) for row in rows)
    skipped = sum(row.read == SKIPPED for row in rows)
    failed = len(rows) - done - skipped
    table = display.table(title=f"{done} made, {skipped} up to date, {failed} failed")
    table.add_column("model")
    table.add_column("read")
    table.add_column("fetched", justify="right")
    table.add_column("time", justify="right")
    table.add_column("bank or error")
    for row in rows:
        table.add_row(display.text(row.model), row.read, human_size(row.fetched) if row.fetched else "-",
                      f"{row.seconds:.1f} s", display.text(row.outcome))
    return table


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[str, int], None]]:
    """``advance(model, n)``: the bar's description becomes ``model``, ``n`` models are done."""
    if not enabled:
        yield lambda model, n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=total)
        yield lambda model, n: bar.update(task, description=model, advance=n)
