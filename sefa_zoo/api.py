"""The calls the CLI makes, for use from notebooks and scripts too."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .architecture import Architecture, ProjectionLayer
from .bank import DirectionBank, bank_from_factorization
from .catalogue import get_entry
from .checkpoint import Checkpoint
from .errors import LayerSpecError, SefaZooError
from .factorizer import factorize
from .fetching import fetch
from .hashing import sha256_file
from .layers import format_layer_spec, parse_layer_spec
from .loading import open_checkpoint
from .lookup import detect, get_architecture
from .plugins import call_plugin
from .sources import LocalSource, Source


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


def factorize_model(name: str, *, progress: bool = True, **kwargs: Any) -> DirectionBank:
    """SeFa directions of a catalogue model, fetched (and verified) on first use."""
    entry = get_entry(name)
    # The catalogue knows the layer count: a bad spec fails before a long download.
    arch = get_architecture(entry.architecture)
    parse_layer_spec(kwargs.get("layers", "all"), entry.num_layers, call_plugin(arch, "layer_groups", entry.num_layers))
    checkpoint, entry, path = open_model(name, progress=progress)
    return factorize_checkpoint(
        checkpoint,
        architecture=entry.architecture,
        layout=entry.layout,
        model=entry.name,
        checkpoint_sha256=entry.source.sha256 or sha256_file(path),
        checkpoint_source=_shareable(entry.source),
        **kwargs,
    )


def _shareable(source: Source) -> str:
    """How a bank names its checkpoint's source: a local file by its name only (banks get shared;
    the sha256 identifies the file), any other source as it describes itself."""
    return Path(source.path).name if isinstance(source, LocalSource) else source.describe()
