"""GANSpace (Härkönen et al., 2020): principal components of sampled latent codes, as a bank.

Style models (latent space w): the PCA of w = mapping(z) for standard-normal z, untruncated.
The bank keeps the sample mean, the variances along the components as its eigenvalues and the
total variance as ``eigenvalue_total``, so one standard deviation along direction i is
``sqrt(eigenvalues[i])``: edits with a GANSpace bank of a style model are in those units
(``sefa_zoo.editing.distance_units``).

z-space models (PGGAN, DCGAN, BigGAN): the PCA of the first layer's output y = A x + b for
the sampled codes x, mapped back to x by least squares, as GANSpace does. y is linear in x, so
everything comes from two D x D matrices: the exact sample covariance C of x, and AᵀA from
the architecture's ``projection`` hook (the first layer is never run; its bias and a class
part are the same for every sample and centring removes them). With C = L Lᵀ and the
eigenpairs (λ_i, v_i) of Lᵀ AᵀA L, the PCA of y has variances λ_i and the least-squares
regression of x on the PCA coordinates gives the directions L v_i / sqrt(λ_i). They are
orthogonal only up to sampling noise; Gram-Schmidt in order of variance makes them
orthonormal (the first kept as is) and ``method_info`` records the largest angle that moved.

The covariance is accumulated batch by batch (Chan et al.'s pairwise update, float64), so
memory is O(D²) whatever the number of samples; numpy's ``eigh`` does the decomposition.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .api import layer_table, select_layers
from .bank import DirectionBank
from .classes import ChosenClass, resolve_class
from .editing import GANSPACE, device_of
from .errors import SefaZooError
from .factorizer import canonical_signs, gram
from .plugins import call_plugin, plugin_call

METHOD = GANSPACE
DEFAULT_SAMPLES = 100_000
DEFAULT_BATCH_SIZE = 1024
MAX_SAMPLES = 10**9


@dataclass(frozen=True)
class Sampling:
    """How the codes are drawn: ``samples`` standard-normal z from numpy's PCG64 seeded with
    ``seed``, mapped ``batch_size`` at a time without truncation (of ``chosen_class``)."""

    samples: int = DEFAULT_SAMPLES
    seed: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    chosen_class: ChosenClass | None = None

    def check(self, latent_dim: int) -> None:
        for name in ("samples", "seed", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise SefaZooError(f"{name.replace('_', ' ')} must be a whole number of at least "
                                   f"{0 if name == 'seed' else 1}, got {value!r}")
        if self.samples <= latent_dim:
            raise SefaZooError(f"GANSpace needs more samples than the {latent_dim} latent dimensions "
                               f"to estimate their covariance; got {self.samples}")
        if self.samples > MAX_SAMPLES:
            raise SefaZooError(f"samples must be at most {MAX_SAMPLES}, got {self.samples}")
        if self.seed >= 2**63:
            raise SefaZooError(f"seed must be below 2**63, got {self.seed}")


class CodeMoments:
    """The exact mean and covariance of the rows added so far, in O(D²) memory.

    Each batch's own mean and centred scatter are merged into the running ones (Chan, Golub
    and LeVeque's pairwise update), which stays accurate where sum-of-squares formulas
    cancel: w codes have a mean far from 0."""

    def __init__(self, dim: int):
        self.count = 0
        self.mean = np.zeros(dim)
        self.scatter = np.zeros((dim, dim))

    def add(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.float64)
        if not len(rows):
            return
        batch_mean = rows.mean(axis=0)
        centred = rows - batch_mean
        delta = batch_mean - self.mean
        total = self.count + len(rows)
        self.scatter += centred.T @ centred + np.outer(delta, delta) * (self.count * len(rows) / total)
        self.mean += delta * (len(rows) / total)
        self.count = total

    @property
    def covariance(self) -> np.ndarray:
        if self.count < 2:
            raise SefaZooError("a covariance needs at least 2 samples")
        return (self.scatter + self.scatter.T) / (2 * (self.count - 1))


def _seed_generator(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def sample_codes(generator: Any, sampling: Sampling) -> Iterator[np.ndarray]:
    """The first layer's code (N, latent_dim) float64 of each batch of ``sampling``'s samples:
    w for style models (every layer gets the same w without truncation), z for z-space models."""
    rng = _seed_generator(sampling.seed)
    device = device_of(generator)
    for start in range(0, sampling.samples, sampling.batch_size):
        count = min(sampling.batch_size, sampling.samples - start)
        z = torch.from_numpy(rng.standard_normal((count, generator.z_dim), dtype=np.float32)).to(device)
        classes = {} if sampling.chosen_class is None else {
            "classes": torch.full((count,), sampling.chosen_class.index, dtype=torch.long, device=device)}
        with torch.inference_mode(), plugin_call(generator, "map()"):
            codes = generator.map(z, truncation_psi=1.0, truncation_cutoff=None, **classes)
        expected = (count, generator.num_layers, generator.latent_dim)
        if tuple(codes.shape) != expected:
            raise SefaZooError(f"the generator's map returned codes of shape {tuple(codes.shape)}, expected {expected}")
        rows = codes[:, 0].double().cpu().numpy()
        if not np.isfinite(rows).all():
            raise SefaZooError("the generator's map returned NaN or infinite codes")
        yield rows


def code_moments(generator: Any, sampling: Sampling, progress: Callable[[int], None] = lambda n: None
                 ) -> CodeMoments:
    """The mean and covariance of ``sampling``'s codes, one batch in memory at a time."""
    sampling.check(generator.latent_dim)
    moments = CodeMoments(generator.latent_dim)
    for rows in sample_codes(generator, sampling):
        moments.add(rows)
        progress(len(rows))
    return moments


@dataclass(frozen=True)
class Components:
    """Unit directions in the latent space, strongest first, with the variance each explains
    (``total``: the variance of all components) and facts for ``method_info``."""

    directions: np.ndarray  # (k, latent_dim) float64, orthonormal rows
    variances: np.ndarray  # (k,) float64, descending
    total: float
    info: Mapping[str, Any]


def _descending_eigh(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` eigenvalues (clipped at 0) and eigenvectors (columns) of a symmetric matrix."""
    values, vectors = np.linalg.eigh(matrix)
    order = np.arange(len(values))[::-1][:k]
    return np.clip(values[order], 0.0, None), vectors[:, order]


def _check_k(k: int | None, latent_dim: int) -> int:
    if k is None:
        return latent_dim
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= latent_dim:
        raise SefaZooError(f"k must be between 1 and {latent_dim}, got {k!r}")
    return k


def code_components(covariance: np.ndarray, k: int | None = None) -> Components:
    """The PCA of the codes themselves (GANSpace in w)."""
    k = _check_k(k, len(covariance))
    variances, vectors = _descending_eigh(covariance, k)
    return Components(canonical_signs(vectors.T.copy()), variances, float(np.trace(covariance)),
                      {"pca_of": "the sampled codes"})


def first_layer_components(covariance: np.ndarray, projection_gram: np.ndarray, k: int | None = None) -> Components:
    """The PCA of y = A x over codes x of ``covariance``, given ``projection_gram`` = AᵀA,
    mapped back to x by least squares and made orthonormal in order (module docstring)."""
    k = _check_k(k, len(covariance))
    spread, basis = np.linalg.eigh(covariance)
    root = basis * np.sqrt(np.clip(spread, 0.0, None))  # C = root rootᵀ
    variances, vectors = _descending_eigh(root.T @ projection_gram @ root, k)
    regressed = (root @ vectors).T
    regressed /= np.linalg.norm(regressed, axis=1, keepdims=True)
    orthonormal = _gram_schmidt(regressed)
    cosines = np.clip(np.abs(np.einsum("ij,ij->i", regressed, orthonormal)), 0.0, 1.0)
    moved = float(np.degrees(np.arccos(cosines.min())))
    total = float(np.sum(covariance * projection_gram))  # trace(A C Aᵀ)
    return Components(canonical_signs(orthonormal), variances, total, {
        "pca_of": "the first layer's output, mapped back by least squares",
        "orthonormalized": "Gram-Schmidt in order of variance", "largest_angle_moved_degrees": round(moved, 6),
    })


def _gram_schmidt(rows: np.ndarray) -> np.ndarray:
    """Orthonormal rows spanning the same leading subspaces as ``rows``, each turned towards its original."""
    q, r = np.linalg.qr(rows.T)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return (q * signs).T.copy()


@dataclass(frozen=True)
class OpenedModel:
    """What a GANSpace run needs of a model: its generator, checkpoint, plugin and provenance."""

    generator: Any
    checkpoint: Any
    architecture: Any
    layout: str
    provenance: Mapping[str, Any]


def ganspace_bank(
    model: OpenedModel,
    *,
    sampling: Sampling = Sampling(),
    k: int | None = None,
    layers: str = "all",
    options: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> DirectionBank:
    """The GANSpace bank of an opened model: ``layers`` (a layer spec) are the layers its edits
    apply to (style models) or whose stacked outputs are analysed (z-space models: index 0)."""
    arch, generator = model.architecture, model.generator
    _, _, table = layer_table(model.checkpoint, architecture=arch.name, layout=model.layout, options=options)
    selected = select_layers(arch, table, layers)
    if generator.latent_dim != selected[0].latent_dim:
        raise SefaZooError(f"the generator's codes have {generator.latent_dim} dimensions but its layer "
                           f"{selected[0].name} takes {selected[0].latent_dim}")
    sampling.check(generator.latent_dim)  # before the progress bar and the work
    _check_k(k, generator.latent_dim)
    with _progress_bar(progress, sampling.samples) as advance:
        moments = code_moments(generator, sampling, advance)
    if arch.latent_space == "z":
        matrices = call_plugin(arch, "projection", model.checkpoint, [0], layout=model.layout, **dict(options or {}))
        components = first_layer_components(moments.covariance, gram(matrices, normalize=False)[0], k)
    else:
        components = code_components(moments.covariance, k)
    info = {**components.info, "samples": sampling.samples, "seed": sampling.seed, "batch_size": sampling.batch_size,
            "sampler": "numpy PCG64 standard normal", "truncation_psi": 1.0,
            "sigma": "1 (z is standard normal)" if arch.latent_space == "z" else "sqrt(eigenvalue)"}
    if sampling.chosen_class is not None and arch.latent_space != "z":
        info["class"] = sampling.chosen_class.index
    return DirectionBank(
        directions=np.ascontiguousarray(components.directions, dtype=np.float32),
        eigenvalues=components.variances, eigenvalue_total=max(components.total, float(components.variances.sum())),
        normalization="none", layer_indices=tuple(layer.index for layer in selected),
        layer_names=tuple(layer.name for layer in selected),
        latent_parts=tuple(layer.latent_part for layer in selected) if any(layer.latent_part for layer in selected) else (),
        architecture=arch.name, layout=model.layout, latent_space=arch.latent_space, method=METHOD,
        mean=moments.mean.astype(np.float32), method_info=info, **model.provenance,
    )


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("sampling codes"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("sampling", total=total)
        yield lambda n: bar.advance(task, n)


def open_for_ganspace(
    source: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    architecture: str | None = None,
    layout: str | None = None,
    companions: Mapping[str, str | os.PathLike[str]] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> OpenedModel:
    """A catalogue model or a checkpoint file (as ``open_generator`` tells them apart), opened
    with its generator and the provenance a bank records (as ``factorize`` records it)."""
    from .api import open_with_provenance
    from .lookup import get_architecture

    loaded, checkpoint, provenance = open_with_provenance(
        source, device=device, architecture=architecture, layout=layout, companions=companions, options=options,
        progress=progress,
    )
    return OpenedModel(loaded.generator, checkpoint, get_architecture(loaded.architecture), loaded.layout,
                       provenance)


def ganspace(
    source: str | os.PathLike[str],
    *,
    samples: int = DEFAULT_SAMPLES,
    k: int | None = None,
    seed: int = 0,
    layers: str = "all",
    batch_size: int = DEFAULT_BATCH_SIZE,
    class_index: int | str | None = None,
    device: str | torch.device = "cpu",
    architecture: str | None = None,
    layout: str | None = None,
    companions: Mapping[str, str | os.PathLike[str]] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> DirectionBank:
    """The GANSpace bank of a catalogue model or a checkpoint file (see the module docstring):
    ``samples`` codes drawn with ``seed``, ``batch_size`` at a time; the top ``k`` components
    (default: all); ``layers``, a layer spec, the layers its edits apply to by default; a
    class-conditional model samples ``class_index`` (an index or a name)."""
    model = open_for_ganspace(source, device=device, architecture=architecture, layout=layout,
                              companions=companions, options=options, progress=progress)
    chosen = _sampled_class(model, class_index)
    sampling = Sampling(samples=samples, seed=seed, batch_size=batch_size, chosen_class=chosen)
    return ganspace_bank(model, sampling=sampling, k=k, layers=layers, options=options, progress=progress)


def _sampled_class(model: OpenedModel, class_index: int | str | None) -> ChosenClass | None:
    """The class the codes are sampled for. A z-space model's code is z whatever the class (the
    class enters beside z, as a constant part of the first layer's output that centring
    removes), so a conditional one needs none: class 0 is sampled."""
    from .classes import num_classes_of

    if class_index is None and model.architecture.latent_space == "z" and num_classes_of(model.generator):
        class_index = 0
    return resolve_class(model.generator, class_index, model.provenance["model"])
