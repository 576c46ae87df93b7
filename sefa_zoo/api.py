"""The calls the CLI makes, for use from notebooks and scripts too."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .architecture import Architecture, ProjectionLayer
from .bank import DirectionBank, bank_from_factorization
from .catalogue import get_entry
from .checkpoint import Checkpoint
from .entry import CatalogueEntry
from .errors import LayerSpecError, SefaZooError
from .factorizer import factorize
from .fetching import cached_path, fetch, fetch_companions, naming_model
from .hashing import sha256_file
from .layers import format_layer_spec, parse_layer_spec
from .loading import open_checkpoint
from .lookup import detect, get_architecture
from .plugins import call_plugin
from .sources import HubSource, LocalSource, Source

if TYPE_CHECKING:
    from .remote import RemoteFile

log = logging.getLogger(__name__)

# how a catalogue model's checkpoint was read (ModelBank.read)
READ_REMOTELY, READ_DOWNLOADED, READ_CACHED = "remotely", "downloaded", "from the cache"


def layer_table(
    checkpoint: Checkpoint,
    *,
    architecture: str | None = None,
    layout: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[Architecture, str, list[ProjectionLayer]]:
    """The architecture, layout and projection-layer table of ``checkpoint``."""
    arch, layout = detect(checkpoint, architecture, layout)
    table = call_plugin(arch, "layers", checkpoint, layout=layout, **dict(options or {}))
    if not table:
        raise SefaZooError(f"{checkpoint.label}: architecture {arch.name!r} found no projection layers")
    return arch, layout, table


def select_layers(arch: Architecture, table: list[ProjectionLayer], spec: str) -> list[ProjectionLayer]:
    """The layers of ``table`` whose latent index ``spec`` selects (several layers may share one)."""
    num_indices = max(layer.index for layer in table) + 1
    wanted = set(parse_layer_spec(spec, num_indices, call_plugin(arch, "layer_groups", num_indices)))
    selected = [layer for layer in table if layer.index in wanted]
    if not selected:  # indices the table leaves out (StyleGAN3's input row without its option)
        present = format_layer_spec(sorted({layer.index for layer in table}))
        raise LayerSpecError(
            f"layers {spec!r} select no projection layer of this {arch.name} table: it has indices {present}"
        )
    return selected


def factorize_checkpoint(
    checkpoint: Checkpoint,
    *,
    layers: str = "all",
    k: int | None = None,
    normalize: bool = True,
    architecture: str | None = None,
    layout: str | None = None,
    options: Mapping[str, Any] | None = None,
    model: str | None = None,
    checkpoint_sha256: str = "",
    checkpoint_source: str = "",
    checkpoint_revision: str = "",
    read_remotely: bool = False,
) -> DirectionBank:
    """SeFa directions of an opened checkpoint, as a DirectionBank."""
    arch, layout, table = layer_table(checkpoint, architecture=architecture, layout=layout, options=options)
    selected = select_layers(arch, table, layers)
    matrices = call_plugin(
        arch, "projection", checkpoint, sorted({layer.index for layer in selected}), layout=layout, **dict(options or {})
    )
    result = factorize(matrices, k=k, normalize=normalize)
    return bank_from_factorization(
        result,
        layer_indices=[layer.index for layer in selected],
        layer_names=[layer.name for layer in selected],
        latent_parts=[layer.latent_part for layer in selected],
        model=model or (checkpoint.path.name if checkpoint.path else "unnamed"),
        architecture=arch.name,
        layout=layout,
        checkpoint_sha256=checkpoint_sha256,
        checkpoint_source=checkpoint_source or checkpoint.label,
        checkpoint_revision=checkpoint_revision,
        read_remotely=read_remotely,
        latent_space=arch.latent_space,
    )


def factorize_file(
    path: str | Path, *, companions: Mapping[str, str | Path] | None = None, **kwargs: Any
) -> DirectionBank:
    """SeFa directions of a local checkpoint file, or of the one checkpoint in a folder
    (architecture and layout detected unless given; ``companions`` as ``open_checkpoint``)."""
    checkpoint = open_checkpoint(path, companions=companions)
    path = checkpoint.path
    kwargs.setdefault("checkpoint_sha256", sha256_file(path))
    # The file's name, not its folders: banks get shared, and the sha256 identifies the file.
    kwargs.setdefault("checkpoint_source", path.name)
    return factorize_checkpoint(checkpoint, **kwargs)


def open_model(name: str, *, progress: bool = True) -> tuple[Checkpoint, Any, Path]:
    """Fetch a catalogue model if needed and open it: (checkpoint, entry, local path)."""
    entry = get_entry(name)
    path = fetch(entry, progress=progress)
    return open_checkpoint(path), entry, path


@dataclass(frozen=True)
class ModelBank:
    """A catalogue model's bank, and how its checkpoint was read."""

    bank: DirectionBank
    read: str  # READ_REMOTELY, READ_DOWNLOADED or READ_CACHED
    fetched: int  # bytes that came over the network for it


def factorize_model(name: str, *, progress: bool = True, remote: bool = False, **kwargs: Any) -> DirectionBank:
    """SeFa directions of a catalogue model, fetched (and verified) on first use.

    ``remote``: read only what the directions need straight from the Hub, by range requests
    (factorize_catalogue_model says when and what it records)."""
    return factorize_catalogue_model(name, progress=progress, remote=remote, **kwargs).bank


def factorize_catalogue_model(name: str, *, progress: bool = True, remote: bool = False, **kwargs: Any) -> ModelBank:
    """SeFa directions of a catalogue model, and how its checkpoint was read.

    With ``remote``, a Hub checkpoint that is not in the cache is read where it lies: a torch zip's
    central directory, data.pkl and the tensors the directions need, or a safetensors header and
    those tensors (companion files are fetched whole). Its sha256 cannot be checked without every
    byte: the bank records ``read_remotely`` and the commit it was read at, which pins the file,
    and the catalogue's sha256 when it has one. Pickles and legacy torch files must be read whole:
    they are downloaded as without ``remote`` (a note says so). Any Hub bank records its commit.
    """
    entry = get_entry(name)
    # The catalogue knows the layer count: a bad spec fails before a long download.
    arch = get_architecture(entry.architecture)
    parse_layer_spec(kwargs.get("layers", "all"), entry.num_layers, call_plugin(arch, "layer_groups", entry.num_layers))
    reading = _open_remotely(entry, progress) if remote else None
    common = dict(architecture=entry.architecture, layout=entry.layout, model=entry.name,
                  checkpoint_source=_shareable(entry.source), checkpoint_revision=_revision(entry.source), **kwargs)
    if reading is not None and reading.checkpoint is not None:
        with naming_model(entry):  # a read failing midway
            bank = factorize_checkpoint(reading.checkpoint, checkpoint_sha256=entry.source.sha256 or "",
                                        read_remotely=True, **common)
        return ModelBank(bank, READ_REMOTELY, reading.file.fetched)
    was_cached = cached_path(entry) is not None
    path = fetch(entry, progress=progress)
    bank = factorize_checkpoint(open_checkpoint(path), checkpoint_sha256=entry.source.sha256 or sha256_file(path),
                                **common)
    fetched = (0 if was_cached else path.stat().st_size) + (reading.file.fetched if reading else 0)
    return ModelBank(bank, READ_CACHED if was_cached else READ_DOWNLOADED, fetched)


@dataclass
class _RemoteReading:
    file: RemoteFile
    checkpoint: Checkpoint | None  # None: the file must be read whole after all


def _open_remotely(entry: CatalogueEntry, progress: bool) -> _RemoteReading | None:
    """The Hub checkpoint of ``entry`` opened where it lies; None where it is not read remotely
    (not on the Hub, already cached, offline: fetch then does as it always does)."""
    source = entry.source
    if not isinstance(source, HubSource):
        log.info("model %r is not on the Hub (%s): it is read as a whole file", entry.name, source.describe())
        return None
    from .builtin_fetchers import offline  # huggingface_hub: loaded when needed
    from .remote import READ_BY_RANGES, RangesIgnored, open_remote, open_remote_checkpoint, remote_container

    if cached_path(entry) is not None or offline():
        return None
    with naming_model(entry):
        remote, _commit = open_remote(source)
        try:
            container = remote_container(remote)
        except RangesIgnored:
            log.info("model %r: the Hub sends all of %s for a range request: downloading it whole",
                     entry.name, source.describe())
            return _RemoteReading(remote, None)
        if container not in READ_BY_RANGES:
            log.info("model %r: %s is a %s file, which is read only whole: downloading it",
                     entry.name, source.describe(), container)
            return _RemoteReading(remote, None)
        checkpoint = open_remote_checkpoint(remote)
    checkpoint.companions.update(fetch_companions(entry, progress=progress))
    return _RemoteReading(remote, checkpoint)


def open_with_provenance(
    source: str | os.PathLike[str],
    *,
    device: Any = "cpu",
    architecture: str | None = None,
    layout: str | None = None,
    companions: Mapping[str, str | os.PathLike[str]] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> tuple[Any, Checkpoint, dict[str, str]]:
    """A catalogue model or a checkpoint file (as ``open_generator`` tells them apart) opened for a
    sampling method: (the LoadedGenerator, its Checkpoint, the provenance a bank records, as
    ``factorize`` records it)."""
    from .editing import open_generator  # torch: only for methods that render

    loaded = open_generator(source, device=device, architecture=architecture, layout=layout, progress=progress,
                            companions=companions, options=options)
    if loaded.from_catalogue:
        checkpoint, entry, path = open_model(loaded.name, progress=False)
        provenance = dict(model=entry.name, checkpoint_sha256=entry.source.sha256 or sha256_file(path),
                          checkpoint_source=_shareable(entry.source), checkpoint_revision=_revision(entry.source))
    else:
        checkpoint = open_checkpoint(loaded.path, companions=companions)
        provenance = dict(model=loaded.path.name, checkpoint_sha256=sha256_file(loaded.path),
                          checkpoint_source=loaded.path.name)
    return loaded, checkpoint, provenance


def _revision(source: Source) -> str:
    """The commit a Hub source pins (the catalogue requires a full one), "" for other sources."""
    return source.revision if isinstance(source, HubSource) else ""


def _shareable(source: Source) -> str:
    """How a bank names its checkpoint's source: a local file by its name only (banks get shared;
    the sha256 identifies the file), any other source as it describes itself."""
    return Path(source.path).name if isinstance(source, LocalSource) else source.describe()
