"""Sampling and editing: latents from seeds, truncation, bank directions added to the
per-layer codes, and batched rendering through any architecture's ``Generator``.

The order is the original release's: z -> ``map`` (with truncation) -> per-layer codes;
then ``codes[:, layers, :] += distance * direction`` on the selected layers only; then
``synthesize``. For z-space models (one layer, ``map`` the identity) adding to the code
is adding to z, so one code path serves every architecture. A combined edit (the editor's
sliders) adds ``sum(distance * direction)`` over several directions the same way, through
the same code.

A direction the bank gives its own layers (``bank.layers_of``, GANSpace's E(i, start-end)) is
added on those, whatever layers the edit chooses. Distances are in the bank's units
(``distance_units``): standard deviations of the sampled codes for a GANSpace bank of a style
model, latent units otherwise.

Banks of other latent spaces (InterFaceGAN's boundaries): a ``wp`` bank's directions have
num_layers * latent_dim dimensions, and each layer moves by its own slice; a ``z`` bank of a
per-layer model moves z before ``map`` (so truncation and the mapping apply to the moved z).
With ``to_distance`` a distance is where each sample ends up rather than how far it moves:
``x' = x + (d - (n·x + b)) n`` puts x at signed distance d from the boundary n·x + b = 0 of a
bank with offsets (per edited layer for w codes; over the edited layers' slices for wp).
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .architecture import Architecture, Generator
from .bank import DirectionBank, load_bank, validate
from .checkpoint import Checkpoint
from .classes import ChosenClass, resolve_class
from .conventions import DEFAULT_TRUNCATION_CUTOFF, DEFAULT_TRUNCATION_PSI, MAX_SEED
from .errors import BankError, CheckpointError, SefaZooError
from .loading import open_checkpoint
from .lookup import detect, get_architecture
from .plugins import call_plugin, plugin_call


ModelSource = str | os.PathLike[str] | Generator


def latents_from_seeds(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """z for each seed, float32 (len(seeds), z_dim): row i is ``numpy.random.RandomState(seeds[i]).randn(z_dim)``.

    This is NVIDIA's convention (stylegan2-ada-pytorch's generate.py): numpy's legacy
    RandomState (MT19937, Box-Muller normals) is frozen by numpy's stream-compatibility
    policy, so a seed gives the same z on every machine, numpy version and run, and the
    same z as NVIDIA's scripts for a model with the same z_dim.
    """
    if z_dim <= 0:
        raise SefaZooError(f"z_dim must be positive, got {z_dim}")
    rows = []
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
            raise SefaZooError(f"seed {seed!r} is not a whole number from 0 to {MAX_SEED}")
        rows.append(np.random.RandomState(int(seed)).randn(z_dim))
    if not rows:
        raise SefaZooError("no seeds given")
    return torch.from_numpy(np.stack(rows).astype(np.float32))


def truncate(
    codes: torch.Tensor, average: torch.Tensor, psi: float, cutoff: int | None = DEFAULT_TRUNCATION_CUTOFF
) -> torch.Tensor:
    """The truncation trick on per-layer codes (N, L, D): ``average + psi * (codes - average)``
    on the layers below ``cutoff`` (every layer when None); the others are left as they are.

    A helper for architecture plugins' ``map``; returns a new tensor.
    """
    out = codes.clone()
    if psi == 1.0:
        return out
    upto = codes.shape[1] if cutoff is None else max(0, min(int(cutoff), codes.shape[1]))
    average = average.to(codes.device, codes.dtype)
    out[:, :upto] = torch.lerp(average.expand_as(codes[:, :upto]), codes[:, :upto], psi)
    return out


def default_truncation_psi(generator: Generator) -> float:
    """The generator's own ``default_truncation_psi`` when it has one; else 0.7 (the original
    release's default) for models with per-layer codes, and 1, no truncation, for single-code
    models such as DCGAN, which have no average latent to truncate towards."""
    own = getattr(generator, "default_truncation_psi", None)
    if own is not None:
        if isinstance(own, bool) or not isinstance(own, (int, float)) or not np.isfinite(own):
            raise SefaZooError(f"the generator's default_truncation_psi must be a finite number, got {own!r}")
        return float(own)
    return 1.0 if generator.num_layers == 1 else DEFAULT_TRUNCATION_PSI


@dataclass(frozen=True)
class EditPlan:
    """What to render: every (direction, seed, distance), edits on ``layers``, after truncation;
    every image of the class ``chosen_class`` (None for unconditional models)."""

    directions: tuple[int, ...]
    seeds: tuple[int, ...]
    distances: tuple[float, ...]
    layers: tuple[int, ...]
    truncation_psi: float
    truncation_cutoff: int | None
    chosen_class: ChosenClass | None = None
    to_distance: bool = False  # distances are signed distances from the bank's boundaries to move to

    @property
    def class_index(self) -> int | None:
        return None if self.chosen_class is None else self.chosen_class.index

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.directions), len(self.seeds), len(self.distances))

    @property
    def count(self) -> int:
        d, s, a = self.shape
        return d * s * a


def check_bank_fits(bank: DirectionBank, generator: Generator, architecture: str | None = None) -> None:
    """A BankError unless ``bank``'s directions can act on ``generator``'s codes."""
    where = f"direction bank of {bank.model!r}"
    validate(bank, where)  # a bank made in memory has not been through load_bank's checks
    if architecture is not None and bank.architecture != architecture:
        raise BankError(
            f"{where} was computed for architecture {bank.architecture!r}, but the model is {architecture!r}"
        )
    expected, codes = _bank_dimensions(bank, generator)
    if moves_z(bank, generator) and bank.latent_dim != expected:
        if bank.latent_dim == generator.latent_dim:
            raise BankError(
                f"{where} holds z-space directions, but the model has {generator.num_layers} per-layer codes: "
                f"z-space directions move its z, which has {expected} dimensions, not {bank.latent_dim}"
            )
        expected, codes = generator.latent_dim, "latent codes"
    if bank.latent_dim != expected:
        part = next((part for part in bank.latent_parts if part), "")
        hint = f" (the bank was factorized on part of a layer's input: {part})" if part else ""
        if moves_z(bank, generator):
            hint = f" (and its z, which z-space directions move, {generator.z_dim})"
        raise BankError(
            f"{where} has {bank.latent_dim}-dimensional directions, but the model's {codes} "
            f"have {expected} dimensions{hint}"
        )
    too_high = [i for i in bank.layer_indices if i >= generator.num_layers]
    if too_high:
        raise BankError(
            f"{where} was computed on layer {max(too_high)}, but the model has only "
            f"{generator.num_layers} layers (0-{generator.num_layers - 1})"
        )
    _check_own_layers(bank, generator.num_layers, where)


def _check_own_layers(bank: DirectionBank, num_layers: int, where: str) -> None:
    for index, layers in enumerate(bank.direction_layers):
        if layers and layers[-1] >= num_layers:
            raise BankError(f"{where}: direction {index} has its own layer {layers[-1]}, but the model has layers "
                            f"0-{num_layers - 1}")


def _bank_dimensions(bank: DirectionBank, generator: Generator) -> tuple[int, str]:
    """The dimensions ``bank``'s directions must have for ``generator``, and what has them."""
    if bank.latent_space == "wp":
        return generator.num_layers * generator.latent_dim, f"W+ codes ({generator.num_layers} layers together)"
    if moves_z(bank, generator):
        return generator.z_dim, "z"
    return generator.latent_dim, "latent codes"


def moves_z(bank: DirectionBank, generator: Generator) -> bool:
    """Whether edits with ``bank`` move z before ``map``: z directions of a per-layer model."""
    return bank.latent_space == "z" and generator.num_layers > 1


def plan_edits(
    generator: Generator,
    bank: DirectionBank,
    directions: Sequence[int],
    distances: Sequence[float],
    seeds: Sequence[int],
    *,
    truncation_psi: float | None = None,
    truncation_cutoff: int | None = DEFAULT_TRUNCATION_CUTOFF,
    layers: Sequence[int] | None = None,
    architecture: str | None = None,
    class_index: int | str | None = None,
    model: str | None = None,
    to_distance: bool = False,
) -> EditPlan:
    """Check every argument against the bank and the generator and resolve the defaults.

    ``class_index``: the class of a class-conditional generator, by index or by name (one of
    its ``class_names``, matched case-insensitively); None for unconditional ones. ``model``
    names the model in errors. ``to_distance``: each distance is the signed distance from the
    direction's boundary to move every sample to (a bank with offsets: InterFaceGAN's)."""
    check_bank_fits(bank, generator, architecture)
    _check_to_distance(bank, to_distance)
    chosen = resolve_class(generator, class_index, model)
    directions = tuple(int(d) for d in directions)
    if not directions:
        raise SefaZooError("no directions given")
    for direction in directions:
        _check_direction(bank, direction)
    distances = tuple(float(a) for a in distances)
    if not distances:
        raise SefaZooError("no distances given")
    if not all(np.isfinite(distances)):
        raise SefaZooError("distances must be finite numbers")
    latents_from_seeds(seeds, 1)  # validates the seeds
    psi, cutoff = _resolve_truncation(generator, truncation_psi, truncation_cutoff)
    return EditPlan(
        directions, tuple(int(s) for s in seeds), distances, _edited_layers(bank, generator, layers),
        psi, cutoff, chosen, bool(to_distance),
    )


def _check_to_distance(bank: DirectionBank, to_distance: bool) -> None:
    if to_distance and bank.offsets is None:
        raise SefaZooError(
            f"moving to a distance from a boundary needs a bank with boundary offsets (InterFaceGAN's); "
            f"the {bank.method} bank of {bank.model!r} has none: give distances to move by instead"
        )


def _check_direction(bank: DirectionBank, direction: object) -> int:
    if isinstance(direction, bool) or not isinstance(direction, (int, np.integer)):
        raise SefaZooError(f"a direction is an index into the bank, not {direction!r}")
    if not 0 <= direction < bank.k:
        raise SefaZooError(f"direction {direction} is out of range: the bank has directions 0-{bank.k - 1}")
    return int(direction)


def _edited_layers(bank: DirectionBank, generator: Generator, layers: Sequence[int] | None) -> tuple[int, ...]:
    """``layers`` sorted, checked against the generator's; the bank's own layers when None.
    A z bank of a per-layer model moves z: every layer follows, none is chosen."""
    if moves_z(bank, generator):
        if layers is not None and tuple(sorted({int(i) for i in layers})) != tuple(range(generator.num_layers)):
            raise SefaZooError("a z-space bank of a per-layer model moves z before the mapping, so every layer "
                               "changes: layers cannot be chosen")
        return tuple(range(generator.num_layers))
    return _checked_layers(bank, generator.num_layers, layers)


def _checked_layers(bank: DirectionBank, num_layers: int, layers: Sequence[int] | None) -> tuple[int, ...]:
    chosen = tuple(sorted({int(i) for i in (bank.layer_indices if layers is None else layers)}))
    if not chosen:
        raise SefaZooError("no layers given to edit")
    bad = [i for i in chosen if not 0 <= i < num_layers]
    if bad:
        raise SefaZooError(f"layer {bad[0]} is out of range: the model has layers 0-{num_layers - 1}")
    return chosen


def _resolve_truncation(
    generator: Generator, truncation_psi: float | None, truncation_cutoff: int | None
) -> tuple[float, int | None]:
    psi = default_truncation_psi(generator) if truncation_psi is None else float(truncation_psi)
    if not np.isfinite(psi):
        raise SefaZooError(f"truncation psi must be a finite number, got {truncation_psi}")
    if truncation_cutoff is not None and truncation_cutoff < 0:
        raise SefaZooError(f"truncation cutoff must be 0 or more, got {truncation_cutoff}")
    return psi, truncation_cutoff


@dataclass(frozen=True)
class CombinedEdit:
    """Several directions at once, as the editor's sliders set them: every seed's codes plus
    the sum of ``distance * direction`` over ``distances``, on ``layers``, after truncation."""

    distances: tuple[tuple[int, float], ...]  # (direction, distance), by direction
    seeds: tuple[int, ...]
    layers: tuple[int, ...]
    truncation_psi: float
    truncation_cutoff: int | None
    chosen_class: ChosenClass | None = None
    to_distance: bool = False  # distances are signed distances from the bank's boundaries to move to

    @property
    def class_index(self) -> int | None:
        return None if self.chosen_class is None else self.chosen_class.index

    @property
    def distance_map(self) -> dict[int, float]:
        return dict(self.distances)


def plan_combined(
    generator: Generator,
    bank: DirectionBank,
    distances: Mapping[int, float],
    seeds: Sequence[int],
    *,
    truncation_psi: float | None = None,
    truncation_cutoff: int | None = DEFAULT_TRUNCATION_CUTOFF,
    layers: Sequence[int] | None = None,
    architecture: str | None = None,
    class_index: int | str | None = None,
    model: str | None = None,
    to_distance: bool = False,
) -> CombinedEdit:
    """``plan_edits`` for a combined edit: the same checks and defaults, with one distance per
    direction (``{direction: distance}``; none at all is the unedited image). ``to_distance``:
    each sample is moved to those signed distances from the directions' boundaries, one
    direction after the other in index order."""
    check_bank_fits(bank, generator, architecture)
    _check_to_distance(bank, to_distance)
    chosen = resolve_class(generator, class_index, model)
    checked = _checked_distances(bank, distances)
    latents_from_seeds(seeds, 1)  # validates the seeds
    psi, cutoff = _resolve_truncation(generator, truncation_psi, truncation_cutoff)
    return CombinedEdit(
        checked, tuple(int(s) for s in seeds), _edited_layers(bank, generator, layers), psi, cutoff, chosen,
        bool(to_distance),
    )


def _checked_distances(bank: DirectionBank, distances: Mapping[int, float]) -> tuple[tuple[int, float], ...]:
    if not isinstance(distances, Mapping):
        raise SefaZooError(f"distances must map direction indices to distances, not {type(distances).__name__}")
    checked = {}
    for direction, distance in distances.items():
        index = _check_direction(bank, direction)
        if isinstance(distance, bool) or not isinstance(distance, (int, float, np.integer, np.floating)) \
                or not np.isfinite(distance):
            raise SefaZooError(f"the distance along direction {index} must be a finite number, got {distance!r}")
        checked[index] = float(distance)
    return tuple(sorted(checked.items()))


GANSPACE = "ganspace"


def distance_units(bank: DirectionBank) -> np.ndarray:
    """The latent length of one unit of distance along each direction, float64 (k,): for a
    GANSpace bank of a style model one standard deviation of the sampled codes along it
    (``sqrt(eigenvalue)``, the unit GANSpace's edits count in); 1 for every other bank (a
    z-space GANSpace bank's z is standard normal, GANSpace's unit too)."""
    if bank.method == GANSPACE and bank.latent_space != "z":
        return np.sqrt(np.clip(bank.eigenvalues.astype(np.float64), 0.0, None))
    return np.ones(bank.k)


def _steps(bank: DirectionBank, distances: Mapping[int, float]) -> Iterator[tuple[int, np.ndarray]]:
    """(direction, distance * unit * direction) in float64 for each non-zero distance, in direction order."""
    units = distance_units(bank)
    for index, distance in _checked_distances(bank, distances):
        if distance:
            yield index, (distance * units[index]) * bank.directions[index].astype(np.float64)


def direction_sum(bank: DirectionBank, distances: Mapping[int, float]) -> np.ndarray:
    """sum of ``distance * direction`` (in the bank's units) over ``distances``, float64
    (latent_dim,), added up in direction order: the same distances give the same bits whatever
    order they came in. Every layer an edit moves gets it when no direction has its own layers."""
    total = np.zeros(bank.latent_dim, dtype=np.float64)
    for _, step in _steps(bank, distances):
        total += step
    return total


def layer_offsets(
    bank: DirectionBank, distances: Mapping[int, float], layers: Sequence[int], num_layers: int
) -> np.ndarray:
    """What an edit adds to each layer's code, float64 (num_layers, latent_dim): each direction's
    ``distance * direction`` (in the bank's units) on its own layers when the bank gives it some,
    else on ``layers``; added up in direction order, so a bank without own layers gives every
    edited layer ``direction_sum``'s bits. A wp bank's direction gives each layer its own slice."""
    _check_own_layers(bank, num_layers, f"direction bank of {bank.model!r}")
    wplus = bank.latent_space == "wp"
    width = bank.latent_dim // num_layers if wplus else bank.latent_dim
    offsets = np.zeros((num_layers, width), dtype=np.float64)
    for index, step in _steps(bank, distances):
        rows = list(bank.layers_of(index) or layers)
        offsets[rows] += step.reshape(num_layers, width)[rows] if wplus else step
    return offsets


def _add_offsets(codes: torch.Tensor, offsets: np.ndarray) -> torch.Tensor:
    """New codes: per-layer ``offsets`` (N or 1, num_layers, latent_dim) added to ``codes``."""
    return codes + torch.from_numpy(offsets).to(codes.device, codes.dtype)


def _moved(
    codes: torch.Tensor, bank: DirectionBank, moves: Sequence[Mapping[int, float]], layers: Sequence[int],
    to_distance: bool,
) -> torch.Tensor:
    """``codes`` (N, num_layers, dim) moved on ``layers`` by ``moves`` ({direction: distance},
    one per code or one for all): added, or to those distances from the bank's boundaries."""
    if to_distance:
        return _moved_to_distances(codes, bank, moves, layers)
    return _add_offsets(codes, np.stack([layer_offsets(bank, move, layers, codes.shape[1]) for move in moves]))


def _moved_to_distances(
    codes: torch.Tensor, bank: DirectionBank, moves: Sequence[Mapping[int, float]], layers: Sequence[int]
) -> torch.Tensor:
    """Each code moved along each direction of its move, in index order, until its signed
    distance n·x + b from that boundary is the move's distance: every edited layer on its own,
    or, for a wp bank, the edited layers' slices together (only they move)."""
    points = codes.detach().double().cpu().numpy().copy()
    for row in range(len(points)):
        for index, target in _checked_distances(bank, moves[row if len(moves) > 1 else 0]):
            chosen = list(bank.layers_of(index) or layers)
            normal, offset = bank.directions[index].astype(np.float64), float(bank.offsets[index])
            if bank.latent_space == "wp":
                along = np.zeros(points.shape[1:])
                along[chosen] = normal.reshape(points.shape[1:])[chosen]
                points[row] = _moved_to(points[row].ravel(), normal, offset, target, along.ravel(),
                                        index).reshape(points.shape[1:])
            else:
                for layer in chosen:
                    points[row, layer] = _moved_to(points[row, layer], normal, offset, target, normal, index)
    return torch.from_numpy(points).to(codes.device, codes.dtype)


def _moved_to(
    point: np.ndarray, normal: np.ndarray, offset: float, target: float, along: np.ndarray, index: int
) -> np.ndarray:
    """``point`` moved along ``along`` (the normal, or its part on the edited layers) to signed
    distance ``target`` from the boundary normal·x + offset = 0."""
    reach = float(along @ normal)
    if reach <= 1e-12:
        raise SefaZooError(f"direction {index}'s boundary does not involve the edited layers: moving them cannot "
                           "change the distance from it")
    return point + (target - (point @ normal + offset)) / reach * along


def edited_codes(
    codes: torch.Tensor, bank: DirectionBank, distances: Mapping[int, float], layers: Sequence[int] | None = None,
    *, to_distance: bool = False,
) -> torch.Tensor:
    """``codes`` (N, num_layers, latent_dim), e.g. from ``codes_from_seeds``, moved by the sum of
    ``distance * direction`` over ``distances`` on ``layers`` (default: the bank's layers); a
    direction with its own layers (``bank.layers_of``) on those. Distances are in the bank's
    units (``distance_units``); with ``to_distance``, signed distances from the directions'
    boundaries to move to."""
    if codes.ndim != 3:
        raise SefaZooError(f"codes must have shape (N, layers, dimensions), got {tuple(codes.shape)}")
    if bank.latent_space == "z" and codes.shape[1] > 1:
        raise SefaZooError("a z-space bank of a per-layer model moves z before the mapping, not the mapped codes: "
                           "move the latents (edited_latents), then map them (map_latents)")
    if bank.latent_space == "wp" and codes.shape[1] * codes.shape[2] != bank.latent_dim:
        raise SefaZooError(f"codes must have (N, layers, dimensions) with layers x dimensions = {bank.latent_dim} "
                           f"for this W+ bank, got {tuple(codes.shape)}")
    if bank.latent_space != "wp" and codes.shape[2] != bank.latent_dim:
        raise SefaZooError(
            f"codes must have shape (N, layers, {bank.latent_dim}) for this bank, got {tuple(codes.shape)}"
        )
    _check_to_distance(bank, to_distance)
    chosen = _checked_layers(bank, codes.shape[1], layers)
    return _moved(codes, bank, [distances], chosen, to_distance)


def edited_latents(
    z: torch.Tensor, bank: DirectionBank, distances: Mapping[int, float], *, to_distance: bool = False
) -> torch.Tensor:
    """Latents ``z`` (N, z_dim), e.g. ``latents_from_seeds``', moved along a z bank as
    ``edited_codes`` moves codes; a per-layer model's edit then maps them (``map_latents``)."""
    if bank.latent_space != "z":
        raise SefaZooError(f"only z-space banks move latents before the mapping; this bank's space is "
                           f"{bank.latent_space!r}: move the mapped codes (edited_codes)")
    if z.ndim != 2 or z.shape[1] != bank.latent_dim:
        raise SefaZooError(f"latents must have shape (N, {bank.latent_dim}) for this bank, got {tuple(z.shape)}")
    _check_to_distance(bank, to_distance)
    return _moved(z[:, None, :], bank, [distances], (0,), to_distance)[:, 0]


def device_of(generator: Generator) -> torch.device:
    """Where ``generator`` computes: its ``device`` attribute, else its first parameter's."""
    device = getattr(generator, "device", None)
    if device is None and isinstance(generator, torch.nn.Module):
        tensor = next(iter([*generator.parameters(), *generator.buffers()]), None)
        device = tensor.device if tensor is not None else None
    return torch.device(device) if device is not None else torch.device("cpu")


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SefaZooError(f"batch size must be a whole number of at least 1, got {batch_size!r}")


def codes_from_seeds(
    generator: Generator,
    seeds: Sequence[int],
    *,
    truncation_psi: float | None = None,
    truncation_cutoff: int | None = DEFAULT_TRUNCATION_CUTOFF,
    batch_size: int = 64,
    class_index: int | str | ChosenClass | None = None,
) -> torch.Tensor:
    """The (truncated) per-layer codes (len(seeds), num_layers, latent_dim) for ``seeds``,
    unedited; ``truncation_psi`` None means the model's default (``default_truncation_psi``).
    ``class_index``: the class of a class-conditional generator (index or name), else None."""
    _check_batch_size(batch_size)
    chosen = resolve_class(generator, class_index.index if isinstance(class_index, ChosenClass) else class_index)
    return map_latents(generator, latents_from_seeds(seeds, generator.z_dim), truncation_psi=truncation_psi,
                       truncation_cutoff=truncation_cutoff, batch_size=batch_size, chosen_class=chosen)


def map_latents(
    generator: Generator,
    z: torch.Tensor,
    *,
    truncation_psi: float | None = None,
    truncation_cutoff: int | None = DEFAULT_TRUNCATION_CUTOFF,
    batch_size: int = 64,
    chosen_class: ChosenClass | None = None,
) -> torch.Tensor:
    """The (truncated) per-layer codes (N, num_layers, latent_dim) of latents ``z`` (N, z_dim),
    e.g. ``latents_from_seeds``' moved along a z bank; ``truncation_psi`` None is the model's default."""
    _check_batch_size(batch_size)
    psi = default_truncation_psi(generator) if truncation_psi is None else float(truncation_psi)
    z = z.to(device_of(generator))
    with torch.inference_mode(), plugin_call(generator, "map()"):
        parts = [
            generator.map(
                z[i:i + batch_size], truncation_psi=psi, truncation_cutoff=truncation_cutoff,
                **_class_arguments(chosen_class, len(z[i:i + batch_size]), z.device),
            )
            for i in range(0, len(z), batch_size)
        ]
    codes = torch.cat(parts)
    expected = (len(z), generator.num_layers, generator.latent_dim)
    if tuple(codes.shape) != expected:
        raise SefaZooError(f"the generator's map returned codes of shape {tuple(codes.shape)}, expected {expected}")
    return codes


def _class_arguments(chosen: ChosenClass | None, count: int, device: torch.device) -> dict[str, torch.Tensor]:
    """``classes=`` for a conditional generator: ``count`` copies of the class index;
    nothing for an unconditional one, which is called exactly as before."""
    if chosen is None:
        return {}
    return {"classes": torch.full((count,), chosen.index, dtype=torch.long, device=device)}


def iter_edit_batches(
    generator: Generator, bank: DirectionBank, plan: EditPlan, *, batch_size: int = 8
) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, images) for each batch of at most ``batch_size`` images, in (direction, seed,
    distance) order, flattened; only one batch is ever being synthesized. The seeds are
    mapped at once, here, so that mapping errors come before any rendering."""
    _check_batch_size(batch_size)
    if moves_z(bank, generator):  # the seeds' z are moved, then mapped batch by batch
        base = latents_from_seeds(plan.seeds, generator.z_dim)[:, None, :]
    else:
        base = codes_from_seeds(
            generator, plan.seeds, truncation_psi=plan.truncation_psi, truncation_cutoff=plan.truncation_cutoff,
            class_index=plan.chosen_class,
        )
    return _edit_batches(generator, bank, plan, base, batch_size)


def _edit_batches(
    generator: Generator, bank: DirectionBank, plan: EditPlan, base: torch.Tensor, batch_size: int
) -> Iterator[tuple[int, torch.Tensor]]:
    in_z = moves_z(bank, generator)
    for start in range(0, plan.count, batch_size):
        flat = np.arange(start, min(plan.count, start + batch_size))
        d, s, a = np.unravel_index(flat, plan.shape)
        moves = [{plan.directions[i]: plan.distances[j]} for i, j in zip(d, a)]
        chosen = base[torch.from_numpy(s).to(base.device)]
        if in_z:
            codes = _map_moved_z(generator, bank, chosen[:, 0], moves, plan)
        else:
            codes = _moved(chosen, bank, moves, plan.layers, plan.to_distance)
        yield start, _synthesize(generator, codes, plan.chosen_class, plan.truncation_psi)


def _map_moved_z(
    generator: Generator, bank: DirectionBank, z: torch.Tensor, moves: Sequence[Mapping[int, float]],
    plan: EditPlan | CombinedEdit,
) -> torch.Tensor:
    """The codes of latents ``z`` (N, z_dim) moved along a z bank, mapped as ``plan`` maps."""
    moved = _moved(z[:, None, :], bank, moves, (0,), plan.to_distance)[:, 0]
    return map_latents(generator, moved, truncation_psi=plan.truncation_psi, truncation_cutoff=plan.truncation_cutoff,
                       chosen_class=plan.chosen_class)


def _synthesize(
    generator: Generator, codes: torch.Tensor, chosen_class: ChosenClass | None, truncation_psi: float
) -> torch.Tensor:
    """One batch of images of ``codes``, checked; not in inference mode when it returns (the
    caller's code must not run in it)."""
    with torch.inference_mode(), plugin_call(generator, "synthesize()"):
        classes = _class_arguments(chosen_class, len(codes), codes.device)
        if classes:
            images = generator.synthesize(codes, truncation_psi=truncation_psi, **classes)
        else:
            images = generator.synthesize(codes)
    if images.ndim != 4 or images.shape[0] != len(codes):
        raise SefaZooError(
            f"the generator's synthesize returned shape {tuple(images.shape)} for {len(codes)} codes; "
            "expected (N, C, H, W)"
        )
    return images


def synthesize_codes(
    generator: Generator,
    codes: torch.Tensor,
    *,
    chosen_class: ChosenClass | None = None,
    truncation_psi: float = 1.0,
    batch_size: int = 8,
) -> torch.Tensor:
    """The images of per-layer ``codes`` (e.g. ``edited_codes``'), float32 (N, C, H, W) on the
    CPU, ``batch_size`` at a time; a conditional generator gets ``chosen_class`` and, as
    ``render_plan`` gives it, ``truncation_psi``."""
    _check_batch_size(batch_size)
    parts = [
        _synthesize(generator, codes[i:i + batch_size], chosen_class, truncation_psi).float().cpu()
        for i in range(0, len(codes), batch_size)
    ]
    return torch.cat(parts)


def render_combined(
    generator: Generator, bank: DirectionBank, edit: CombinedEdit, *, batch_size: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """(original, edited) images of ``edit``'s seeds, float32 (N, C, H, W) in [-1, 1] on the CPU;
    each seed is mapped once, both images come from the same codes."""
    _check_batch_size(batch_size)
    codes = codes_from_seeds(
        generator, edit.seeds, truncation_psi=edit.truncation_psi, truncation_cutoff=edit.truncation_cutoff,
        class_index=edit.chosen_class,
    )
    if moves_z(bank, generator):
        moved = _map_moved_z(generator, bank, latents_from_seeds(edit.seeds, generator.z_dim), [edit.distance_map],
                             edit)
    else:
        moved = _moved(codes, bank, [edit.distance_map], edit.layers, edit.to_distance)
    options = dict(chosen_class=edit.chosen_class, truncation_psi=edit.truncation_psi, batch_size=batch_size)
    return synthesize_codes(generator, codes, **options), synthesize_codes(generator, moved, **options)


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int, description: str) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def render_plan(
    generator: Generator,
    bank: DirectionBank,
    plan: EditPlan,
    *,
    batch_size: int = 8,
    progress: bool = False,
    postprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Every image of ``plan``, shape (directions, seeds, distances, ...): the generator's
    (C, H, W) float32 images on the CPU, or what ``postprocess`` makes of each batch."""
    result: torch.Tensor | None = None
    batches = iter_edit_batches(generator, bank, plan, batch_size=batch_size)
    with _progress_bar(progress, plan.count, "rendering") as advance:
        for start, images in batches:
            done = postprocess(images) if postprocess is not None else images.float()
            done = done.cpu()
            if result is None:
                result = torch.empty((plan.count, *done.shape[1:]), dtype=done.dtype)
            result[start:start + len(done)] = done
            advance(len(done))
    assert result is not None
    return result.reshape(*plan.shape, *result.shape[1:])


@dataclass(frozen=True)
class LoadedGenerator:
    """A generator and where it came from (``sha256`` when known without hashing the file);
    ``name`` is the catalogue name when ``from_catalogue``, else the checkpoint file's stem."""

    generator: Generator
    architecture: str
    name: str
    path: Path | None
    sha256: str | None
    layout: str = ""
    from_catalogue: bool = False


def _looks_like_file(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    return Path(source).is_file() or Path(source).is_dir() or "/" in source or os.sep in source


def _generator_options(
    arch: Architecture, checkpoint: Checkpoint, layout: str, options: Mapping[str, object] | None
) -> dict[str, object]:
    """The architecture options (``--option``) that its ``build_generator`` takes as keywords,
    e.g. DCGAN's ``classes``; every option is first checked by the plugin's own ``layers``,
    which refuses unknown ones, as factorizing does."""
    if not options:
        return {}
    call_plugin(arch, "layers", checkpoint, layout=layout, **options)
    accepted = inspect.signature(arch.build_generator).parameters
    return {name: value for name, value in options.items() if name in accepted}


def _build(
    arch: Architecture, checkpoint: Checkpoint, layout: str, device: str | torch.device,
    options: Mapping[str, object] | None = None, **extra: object,
) -> Generator:
    extra.update(_generator_options(arch, checkpoint, layout, options))
    generator = call_plugin(arch, "build_generator", checkpoint, layout=layout, device=device, **extra)
    if not isinstance(generator, Generator):
        raise SefaZooError(
            f"architecture {arch.name!r} built a generator without z_dim, latent_dim, num_layers, map and synthesize"
        )
    return generator


def open_generator(
    source: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    architecture: str | None = None,
    layout: str | None = None,
    progress: bool = True,
    companions: Mapping[str, str | os.PathLike[str]] | None = None,
    options: Mapping[str, object] | None = None,
) -> LoadedGenerator:
    """The generator of a catalogue model (fetched on first use) or of a checkpoint file.

    ``source`` is a file (or a folder holding one checkpoint) when it is a path object, an
    existing file or folder, or contains a path separator; otherwise a catalogue name.
    ``architecture``, ``layout`` and ``companions`` (files that belong with the weights, as
    ``open_checkpoint`` takes them) apply to files (detected when omitted); a catalogue
    entry declares its own. ``options`` are architecture options, as ``factorize`` takes
    them; those the architecture's ``build_generator`` names go to it (DCGAN's ``classes``).
    """
    if not _looks_like_file(source):
        if architecture is not None or layout is not None or companions:
            raise SefaZooError(
                "architecture, layout and companion files go with a checkpoint file; a catalogue model declares its own"
            )
        from .api import open_model

        checkpoint, entry, path = open_model(str(source), progress=progress)
        arch = get_architecture(entry.architecture)
        extra = {}
        if entry.image_size is not None:  # non-square models (512x384 cars) crop their frames
            if "image_size" not in inspect.signature(arch.build_generator).parameters:
                raise SefaZooError(
                    f"catalogue entry {entry.name!r} has an image_size, but architecture {arch.name!r} cannot crop"
                )
            extra["image_size"] = entry.image_size
        generator = _build(arch, checkpoint, entry.layout, device, options, **extra)
        return LoadedGenerator(generator, arch.name, entry.name, path, entry.source.sha256, entry.layout, True)
    path = Path(source)
    if not (path.is_file() or path.is_dir()):
        raise CheckpointError(f"{path}: no such checkpoint file")
    checkpoint = open_checkpoint(path, companions=companions)
    arch, layout = detect(checkpoint, architecture, layout)
    generator = _build(arch, checkpoint, layout, device, options)
    return LoadedGenerator(generator, arch.name, path.stem, checkpoint.path, None, layout)


def load_generator(
    source: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    architecture: str | None = None,
    layout: str | None = None,
    companions: Mapping[str, str | os.PathLike[str]] | None = None,
    options: Mapping[str, object] | None = None,
) -> Generator:
    """The ready-to-render generator of a catalogue model or a checkpoint file (see ``open_generator``)."""
    return open_generator(
        source, device=device, architecture=architecture, layout=layout, companions=companions, options=options
    ).generator


def render_edits(
    model: ModelSource,
    bank: DirectionBank | str | os.PathLike[str],
    directions: Sequence[int] = (0,),
    distances: Sequence[float] = (-3.0, 0.0, 3.0),
    seeds: Sequence[int] = (0,),
    *,
    truncation_psi: float | None = None,
    truncation_cutoff: int | None = DEFAULT_TRUNCATION_CUTOFF,
    layers: Sequence[int] | None = None,
    batch_size: int = 8,
    progress: bool = False,
    device: str | torch.device = "cpu",
    postprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    class_index: int | str | None = None,
    options: Mapping[str, object] | None = None,
    to_distance: bool = False,
) -> torch.Tensor:
    """Images of ``seeds`` moved along bank ``directions`` by each of ``distances`` (with
    ``to_distance``: moved to each of those signed distances from the directions' boundaries).

    ``model``: a catalogue name, a checkpoint path, or a ``Generator``; ``bank``: a
    DirectionBank or a bank file. Returns float32 (len(directions), len(seeds),
    len(distances), C, H, W) in [-1, 1] on the CPU.

    Truncation: ``truncation_psi`` None is 0.7 for per-layer (W+) models and 1 (none) for
    single-code models; it applies to the layers below ``truncation_cutoff`` (None: all).
    The edit ``distance * direction`` is added after truncation, to ``layers`` only
    (default: the layers the bank was computed on). Images are rendered ``batch_size`` at a
    time; ``postprocess`` (e.g. shrinking) is applied to each batch as it comes, so only
    its output is kept. ``device`` applies when ``model`` is a name or a path.

    Class-conditional models (``num_classes`` > 0) need ``class_index``: a class index, or
    one of the model's class names (case-insensitive; ``"golden retriever"``); every image
    is of that class. Unconditional models take none. ``options``: architecture options for
    a model given by name or path (see ``open_generator``; DCGAN's ``classes``).
    """
    name = None
    if isinstance(model, (str, os.PathLike)):
        loaded = open_generator(model, device=device, progress=progress, options=options)
        generator, architecture, name = loaded.generator, loaded.architecture, loaded.name
    elif isinstance(model, Generator):
        if options:
            raise SefaZooError("architecture options go with a model name or a checkpoint path, not a Generator")
        generator, architecture = model, None
    else:
        raise SefaZooError(
            f"model must be a catalogue name, a checkpoint path or a Generator, not {type(model).__name__}"
        )
    if not isinstance(bank, DirectionBank):
        bank = load_bank(bank)
    plan = plan_edits(
        generator, bank, directions, distances, seeds, truncation_psi=truncation_psi,
        truncation_cutoff=truncation_cutoff, layers=layers, architecture=architecture,
        class_index=class_index, model=name, to_distance=to_distance,
    )
    return render_plan(generator, bank, plan, batch_size=batch_size, progress=progress, postprocess=postprocess)
