"""InterFaceGAN (Shen et al., 2020): a linear SVM boundary between high and low scores of an
attribute in a latent space, as a one-direction bank.

The protocol is the paper's: sample codes, score their images, sort by score, keep the top and
bottom ``ratio`` as positives and negatives, split each side into training and validation
(``split`` for training, seeded), fit a linear SVM (scikit-learn's LinearSVC, liblinear: linear
in the number of samples) and report its accuracy on the validation set and on the remaining
codes, labelled by whether their score is above the MEDIAN of all scores (the paper's midpoint of
the extreme scores moves with one outlier; the median also splits the remaining codes into two
halves, so 0.5 is chance). The unit normal n is the direction (towards higher scores) and
b, the bank's offset, makes n·x + b the signed distance of a code x from the boundary.

Spaces: ``z`` (the generator's input; for single-code models the code ``map`` gives, which edits
move), ``w`` (a style model's mapped code, every layer's) and ``wp`` (W+: the (L, D) codes
flattened, one boundary of L·D dimensions). ``per_layer`` fits one W+ boundary per layer
instead, each on its layer's codes: one bank of L directions, direction i zero outside layer i's
slice, so they are orthonormal and edit one layer each (its signed distance is that layer's).
Codes are sampled at truncation 1, as the mapping gives them.

A bank records how it was made in ``method_info``; its eigenvalues are all 1 (a boundary has
no strength to rank it by).
"""

from __future__ import annotations

import contextlib
import os
import stat
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .bank import DirectionBank
from .classes import ChosenClass, resolve_class
from .errors import SefaZooError
from .file_kinds import kind_of_mode
from .scoring import Scorer, check_attribute, score_images

METHOD = "interfacegan"
SPACES = ("z", "w", "wp")
DEFAULT_SAMPLES = 10_000
DEFAULT_RATIO = 0.02
DEFAULT_SPLIT = 0.7
DEFAULT_BATCH_SIZE = 64
MAX_SAMPLES = 10**8
SVM = "scikit-learn LinearSVC (C=1, squared hinge, max_iter=10000)"
SAMPLER = "numpy PCG64 standard normal, truncation 1"
REMAINING_LABELS = "score above the median of all scores"
METHODS_EXTRA = 'pip install "sefa-zoo[methods]"'


class BoundaryError(SefaZooError):
    """Codes or scores a boundary cannot be fitted on, or options out of range."""


@dataclass(frozen=True)
class Boundary:
    """A fitted hyperplane n·x + b = 0, n unit and towards higher scores, and how well it separates."""

    normal: np.ndarray  # (D,) float64, unit
    offset: float
    validation_accuracy: float
    remaining_accuracy: float | None  # None when ratio 0.5 leaves no remaining codes
    train: int  # codes of each side used for training
    validation: int  # codes of each side used for validation
    remaining: int
    converged: bool

    def distances(self, codes: np.ndarray) -> np.ndarray:
        """The signed distance of each code (N, D) from the boundary."""
        return np.asarray(codes, dtype=np.float64) @ self.normal + self.offset

    def summary(self) -> dict[str, Any]:
        return {"validation_accuracy": round(self.validation_accuracy, 6),
                "remaining_accuracy": None if self.remaining_accuracy is None else round(self.remaining_accuracy, 6),
                "train": self.train, "validation": self.validation, "remaining": self.remaining,
                "converged": self.converged}


def check_options(ratio: float, split: float, seed: int) -> None:
    if not (isinstance(ratio, (int, float)) and 0 < ratio <= 0.5):
        raise BoundaryError(f"ratio must be above 0 and at most 0.5 (the share of codes on each side), got {ratio!r}")
    if not (isinstance(split, (int, float)) and 0 < split < 1):
        raise BoundaryError(f"split must be between 0 and 1 (the share of each side used for training), got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise BoundaryError(f"seed must be a whole number from 0 to {2**32 - 1}, got {seed!r}")


def _side_sizes(count: int, ratio: float, split: float) -> tuple[int, int]:
    """(training, validation) codes per side; a BoundaryError when a set would be empty."""
    per_side = int(count * ratio)
    train = int(per_side * split)
    if train < 1 or per_side - train < 1:
        needed = int(np.ceil(2 / ratio / min(split, 1 - split)))
        raise BoundaryError(
            f"{count} codes at ratio {ratio} give {per_side} per side: too few to train and validate on; "
            f"use about {needed} codes or more, or a larger ratio"
        )
    return train, per_side - train


def fit_boundary(
    codes: np.ndarray, scores: np.ndarray, *, ratio: float = DEFAULT_RATIO, split: float = DEFAULT_SPLIT,
    seed: int = 0, attribute: str = "the attribute",
) -> Boundary:
    """The boundary between the top and bottom ``ratio`` of ``scores`` among ``codes`` (N, D)
    (module docstring); the same arguments give the same boundary."""
    check_options(ratio, split, seed)
    codes = np.asarray(codes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if codes.ndim != 2 or scores.shape != (len(codes),):
        raise BoundaryError(f"need codes (N, D) and one score per code, got {codes.shape} and {scores.shape}")
    if not (np.isfinite(codes).all() and np.isfinite(scores).all()):
        raise BoundaryError("codes and scores must be finite numbers")
    train, validation = _side_sizes(len(codes), ratio, split)
    per_side = train + validation
    order = np.argsort(-scores, kind="stable")
    top, bottom, remaining = order[:per_side], order[len(order) - per_side:], order[per_side:len(order) - per_side]
    if scores[top].min() <= scores[bottom].max():
        raise BoundaryError(
            f"the top and bottom {ratio:g} of the scores of {attribute} overlap (they barely vary): "
            "nothing to separate"
        )
    rng = np.random.Generator(np.random.PCG64(seed))
    top, bottom = rng.permutation(top), rng.permutation(bottom)
    fit_rows = np.concatenate([top[:train], bottom[:train]])
    check_rows = np.concatenate([top[train:], bottom[train:]])
    labels = np.repeat([1, 0], [train, train])
    weights, intercept, converged = _linear_svm(codes[fit_rows], labels, seed)
    length = float(np.linalg.norm(weights))
    if not np.isfinite(length) or length == 0.0:
        raise BoundaryError(f"the SVM found no boundary for {attribute} (all its weights are 0)")
    boundary = Boundary(weights / length, intercept / length, 0.0, None, train, validation, len(remaining), converged)
    side = boundary.distances(codes[check_rows]) > 0
    validation_accuracy = float(np.mean(side == np.repeat([True, False], [validation, validation])))
    remaining_accuracy = None
    if len(remaining):
        above = scores[remaining] > np.median(scores)
        remaining_accuracy = float(np.mean((boundary.distances(codes[remaining]) > 0) == above))
    return Boundary(boundary.normal, boundary.offset, validation_accuracy, remaining_accuracy, train, validation,
                    len(remaining), converged)


def _linear_svm(rows: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, float, bool]:
    """(weights, intercept, converged) of a linear SVM on ``rows``; scikit-learn imported here.

    liblinear regularizes the intercept too: the rows are centred first, so that moving every
    code by t moves the boundary by t (w codes lie far from the origin)."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.svm import LinearSVC
    except ImportError:
        raise SefaZooError(f"InterFaceGAN boundaries need scikit-learn: {METHODS_EXTRA}") from None
    classifier = LinearSVC(C=1.0, max_iter=10_000, random_state=seed, dual=rows.shape[1] > len(rows))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        centre = rows.mean(axis=0)
        classifier.fit(rows - centre, labels)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    weights = classifier.coef_[0].astype(np.float64)
    return weights, float(classifier.intercept_[0] - weights @ centre), converged


def fit_per_layer(
    codes: np.ndarray, scores: np.ndarray, *, ratio: float = DEFAULT_RATIO, split: float = DEFAULT_SPLIT,
    seed: int = 0, attribute: str = "the attribute",
) -> list[Boundary]:
    """One boundary per layer of W+ ``codes`` (N, L, D), each on that layer's codes alone."""
    codes = np.asarray(codes)
    if codes.ndim != 3:
        raise BoundaryError(f"per-layer boundaries need W+ codes (N, layers, D), got shape {codes.shape}")
    return [fit_boundary(codes[:, layer], scores, ratio=ratio, split=split, seed=seed,
                         attribute=f"{attribute} (layer {layer})") for layer in range(codes.shape[1])]


# --- sampling and scoring ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    """``samples`` standard-normal z from numpy's PCG64 seeded with ``seed``, mapped and
    synthesized ``batch_size`` at a time at truncation 1 (of ``chosen_class``)."""

    samples: int = DEFAULT_SAMPLES
    seed: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    chosen_class: ChosenClass | None = None

    def check(self) -> None:
        for name, least in (("samples", 1), ("seed", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise BoundaryError(f"{name.replace('_', ' ')} must be a whole number of at least {least}, got {value!r}")
        if self.samples > MAX_SAMPLES:
            raise BoundaryError(f"samples must be at most {MAX_SAMPLES}, got {self.samples}")
        if self.seed >= 2**32:
            raise BoundaryError(f"seed must be below 2**32, got {self.seed}")


def check_space(space: str, generator: Any) -> str:
    """``space`` if ``generator`` has such codes: w and wp only for per-layer (style) models."""
    if space not in SPACES:
        raise BoundaryError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    if space != "z" and generator.num_layers == 1:
        raise BoundaryError(f"space {space!r} needs a model with per-layer (style) codes; this one has one code "
                            "(z): use --space z")
    return space


def space_dim(space: str, generator: Any) -> int:
    """The dimensions of a code in ``space``."""
    if space == "z":
        return generator.latent_dim if generator.num_layers == 1 else generator.z_dim
    return generator.latent_dim * (generator.num_layers if space == "wp" else 1)


def sample_scores(
    generator: Any, scorer: Scorer, space: str, sampling: Sampling,
    progress: Callable[[int], None] = lambda n: None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Codes of ``sampling`` in ``space`` (N, D) float32, wp as (N, L, D), and every attribute's
    scores (N,) of their images; one batch of images in memory at a time."""
    from .editing import device_of, synthesize_codes

    check_space(space, generator)
    sampling.check()
    rng = np.random.Generator(np.random.PCG64(sampling.seed))
    device = device_of(generator)
    kept: list[np.ndarray] = []
    scores: dict[str, list[np.ndarray]] = {attribute: [] for attribute in scorer.attributes}
    for start in range(0, sampling.samples, sampling.batch_size):
        count = min(sampling.batch_size, sampling.samples - start)
        z = rng.standard_normal((count, generator.z_dim), dtype=np.float32)
        codes = _mapped(generator, torch.from_numpy(z).to(device), sampling.chosen_class)
        images = synthesize_codes(generator, codes, chosen_class=sampling.chosen_class, truncation_psi=1.0,
                                  batch_size=sampling.batch_size)
        for attribute, values in score_images(scorer, images).items():
            scores[attribute].append(values)
        kept.append(_in_space(space, z, codes))
        progress(count)
    return np.concatenate(kept), {attribute: np.concatenate(parts) for attribute, parts in scores.items()}


def _mapped(generator: Any, z: torch.Tensor, chosen_class: ChosenClass | None) -> torch.Tensor:
    from .plugins import plugin_call

    classes = {} if chosen_class is None else {
        "classes": torch.full((len(z),), chosen_class.index, dtype=torch.long, device=z.device)}
    with torch.inference_mode(), plugin_call(generator, "map()"):
        codes = generator.map(z, truncation_psi=1.0, truncation_cutoff=None, **classes)
    expected = (len(z), generator.num_layers, generator.latent_dim)
    if tuple(codes.shape) != expected:
        raise SefaZooError(f"the generator's map returned codes of shape {tuple(codes.shape)}, expected {expected}")
    return codes


def _in_space(space: str, z: np.ndarray, codes: torch.Tensor) -> np.ndarray:
    if space == "z" and codes.shape[1] > 1:
        return z
    mapped = codes.float().cpu().numpy()
    return mapped if space == "wp" else mapped[:, 0]


# --- codes and scores from files ----------------------------------------------------------------

_NUMBER_KINDS = "fiu"  # floats and integers; never objects, strings or records


def read_npy(path: str | os.PathLike[str], what: str) -> np.ndarray:
    """A numeric .npy array, read without pickles; the header's shape and dtype must account
    for exactly the file's bytes before any data is read, so a file claiming a huge array
    costs nothing. Every problem is a one-line BoundaryError naming ``what`` and the file."""
    path = Path(path)
    where = f"{what} {path}"
    try:
        # non-blocking: a named pipe put there after any check must not hang the open
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise BoundaryError(f"{where}: no such file") from None
    except OSError as exc:
        raise BoundaryError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    try:
        facts = os.fstat(descriptor)
        if not stat.S_ISREG(facts.st_mode):
            os.close(descriptor)
            raise BoundaryError(f"{where}: is {kind_of_mode(facts.st_mode)}, not a .npy file")
        with os.fdopen(descriptor, "rb") as f:
            return _read_checked_npy(f, facts.st_size, where)
    except OSError as exc:
        raise BoundaryError(f"{where}: cannot be read ({exc.strerror or exc})") from None


def _read_checked_npy(f: Any, size: int, where: str) -> np.ndarray:
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
        if version not in readers:
            raise BoundaryError(f"{where}: .npy format version {version[0]}.{version[1]} is not read here (1.0 or 2.0)")
        shape, fortran_order, dtype = readers[version](f)
    except (ValueError, SyntaxError, EOFError):
        raise BoundaryError(f"{where}: not a .npy file, or its header is damaged") from None
    if dtype.kind not in _NUMBER_KINDS or dtype.hasobject or dtype.fields is not None:
        raise BoundaryError(f"{where}: holds {dtype}, not numbers")
    count = 1
    for length in shape:
        count *= length
    data_bytes = size - f.tell()
    if count == 0:
        raise BoundaryError(f"{where}: is empty (shape {shape})")
    if count * dtype.itemsize != data_bytes:
        raise BoundaryError(f"{where}: its header claims shape {shape} of {dtype} ({count * dtype.itemsize} bytes), "
                            f"but the file holds {data_bytes} bytes of data")
    data = f.read(data_bytes)
    if len(data) != data_bytes:
        raise BoundaryError(f"{where}: changed while it was read")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise BoundaryError(f"{where}: holds NaN or infinite values")
    return array


def read_codes_and_scores(
    codes_file: str | os.PathLike[str], scores_file: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    return read_npy(codes_file, "--codes"), read_npy(scores_file, "--scores")


def codes_and_scores_from_files(
    codes_file: str | os.PathLike[str], scores_file: str | os.PathLike[str], generator: Any, space: str | None,
    read: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """(codes, scores (N,), space) from .npy files (or their arrays ``read`` already): codes
    (N, D) in z or w, or (N, L, D) in wp (``space`` None: wp for three dimensions, else the
    model's own space); scores (N,) or (N, 1)."""
    codes, scores = read if read is not None else read_codes_and_scores(codes_file, scores_file)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1:
        raise BoundaryError(f"--scores {scores_file}: must hold one score per code, shape (N,) or (N, 1); "
                            f"got {scores.shape}")
    if space is None:
        space = "wp" if codes.ndim == 3 else ("w" if generator.num_layers > 1 else "z")
    check_space(space, generator)
    expected = ((generator.num_layers, generator.latent_dim) if space == "wp" else (space_dim(space, generator),))
    if codes.shape[1:] != expected:
        raise BoundaryError(f"--codes {codes_file}: {space} codes of this model have shape (N, "
                            f"{', '.join(map(str, expected))}); got {codes.shape}")
    if len(codes) != len(scores):
        raise BoundaryError(f"--codes {codes_file} holds {len(codes)} codes but --scores {scores_file} "
                            f"{len(scores)} scores")
    return codes, scores.astype(np.float64), space


# --- banks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFacts:
    """What a bank records of the model its codes come from."""

    generator: Any
    architecture: str
    layout: str
    layer_names: tuple[str, ...]  # one per W+ index (per code layer)
    provenance: Mapping[str, str]  # model, checkpoint_sha256, checkpoint_source[, checkpoint_revision]


def boundary_bank(
    model: ModelFacts, space: str, boundaries: Sequence[Boundary], *, attribute: str, info: Mapping[str, Any],
) -> DirectionBank:
    """A bank of one boundary (or, per layer, one W+ boundary per layer) fitted in ``space``."""
    generator = model.generator
    layers = tuple(range(generator.num_layers))
    per_layer = len(boundaries) > 1
    if per_layer:
        directions = np.zeros((len(boundaries), generator.num_layers, generator.latent_dim))
        for layer, boundary in enumerate(boundaries):
            directions[layer, layer] = boundary.normal
        directions = directions.reshape(len(boundaries), -1)
        names = tuple(f"{attribute} (layer {layer})" for layer in layers)
        accuracies = {key: [b.summary()[key] for b in boundaries]
                      for key in ("validation_accuracy", "remaining_accuracy", "converged")}
        counts = {key: boundaries[0].summary()[key] for key in ("train", "validation", "remaining")}
        fitted = {**accuracies, **counts}
    else:
        directions = boundaries[0].normal[None, :]
        names = (attribute,)
        fitted = boundaries[0].summary()
    return DirectionBank(
        directions=np.ascontiguousarray(directions, dtype=np.float32),
        eigenvalues=np.ones(len(boundaries)), eigenvalue_total=float(len(boundaries)), normalization="none",
        layer_indices=layers, layer_names=model.layer_names, architecture=model.architecture, layout=model.layout,
        latent_space=space, method=METHOD, direction_names=_bank_names(names),
        direction_layers=tuple((layer,) for layer in layers) if per_layer else (),
        offsets=np.array([b.offset for b in boundaries], dtype=np.float64),
        method_info={**info, "attribute": attribute, "space": space, "per_layer": per_layer, "svm": SVM,
                     "remaining_labels": REMAINING_LABELS, **fitted},
        **model.provenance,
    )


def _bank_names(names: Sequence[str]) -> tuple[str, ...]:
    """Direction names a bank accepts: one line, at most the bank's length, no outer spaces."""
    from .bank import MAX_NAME_CHARS

    return tuple(" ".join(name.split())[:MAX_NAME_CHARS].strip() for name in names)


def open_model_facts(
    source: str | os.PathLike[str], *, device: str | torch.device = "cpu", architecture: str | None = None,
    layout: str | None = None, companions: Mapping[str, str | os.PathLike[str]] | None = None,
    options: Mapping[str, Any] | None = None, progress: bool = True,
) -> ModelFacts:
    """A catalogue model or a checkpoint file opened for a boundary: its generator, its layers'
    names and the provenance a bank records (as ``factorize`` records it)."""
    from .api import layer_table, open_with_provenance

    loaded, checkpoint, provenance = open_with_provenance(
        source, device=device, architecture=architecture, layout=layout, companions=companions, options=options,
        progress=progress,
    )
    _, _, table = layer_table(checkpoint, architecture=loaded.architecture, layout=loaded.layout, options=options)
    return ModelFacts(loaded.generator, loaded.architecture, loaded.layout,
                      _index_names(table, loaded.generator.num_layers), provenance)


def _index_names(table: Sequence[Any], num_layers: int) -> tuple[str, ...]:
    """One name per code layer: its projection layers' names joined, or ``layer i`` if it has none."""
    names = []
    for index in range(num_layers):
        own = [layer.name for layer in table if layer.index == index]
        names.append("+".join(own) if own else f"layer {index}")
    return tuple(names)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, description: str = "sampling and scoring") -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def find_boundary(
    source: str | os.PathLike[str],
    attribute: str,
    *,
    scorer: Scorer | None = None,
    space: str | None = None,
    samples: int = DEFAULT_SAMPLES,
    ratio: float = DEFAULT_RATIO,
    split: float = DEFAULT_SPLIT,
    seed: int = 0,
    per_layer: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    class_index: int | str | None = None,
    codes_file: str | os.PathLike[str] | None = None,
    scores_file: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    architecture: str | None = None,
    layout: str | None = None,
    companions: Mapping[str, str | os.PathLike[str]] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> DirectionBank:
    """The InterFaceGAN boundary of ``attribute`` for a catalogue model or a checkpoint file.

    Scores come from ``scorer`` (default: the one scorer meant for the model that scores the
    attribute) on ``samples`` codes drawn with ``seed``, or from ``codes_file`` and
    ``scores_file`` (.npy). ``space``: z, w or wp (default: w for style models, z otherwise;
    with files, wp for (N, L, D) codes); ``per_layer``: one boundary per W+ layer."""
    check_options(ratio, split, seed)
    if (codes_file is None) != (scores_file is None):
        raise BoundaryError("--codes and --scores go together: the codes and the score of each")
    if codes_file is not None and scorer is not None:
        raise BoundaryError("--scorer scores sampled images; with --codes and --scores the scores are given")
    read = read_codes_and_scores(codes_file, scores_file) if codes_file is not None else None
    model = open_model_facts(source, device=device, architecture=architecture, layout=layout,
                             companions=companions, options=options, progress=progress)
    generator = model.generator
    if per_layer and space not in (None, "wp"):
        raise BoundaryError(f"per-layer boundaries are fitted on W+ codes (space wp), not {space}")
    info: dict[str, Any]
    if codes_file is not None:
        codes, scores, space = codes_and_scores_from_files(codes_file, scores_file, generator,
                                                           "wp" if per_layer and space is None else space, read)
        info = {"codes_file": Path(codes_file).name, "scores_file": Path(scores_file).name}
    else:
        space = check_space(space or ("wp" if per_layer else "w" if generator.num_layers > 1 else "z"), generator)
        scorer = scorer if scorer is not None else _scorer_for(attribute, model)
        check_attribute(scorer, attribute)
        chosen = resolve_class(generator, class_index, model.provenance["model"])
        sampling = Sampling(samples, seed, batch_size, chosen)
        sampling.check()
        _side_sizes(samples, ratio, split)  # too few samples: said before sampling them
        with progress_bar(progress, samples) as advance:
            codes, all_scores = sample_scores(generator, scorer, space, sampling, advance)
        scores = all_scores[attribute]
        info = {"scorer": scorer.name, "samples": samples, "sampler": SAMPLER, "batch_size": batch_size}
        if chosen is not None:
            info["class"] = chosen.index
    info.update(samples=len(codes), ratio=ratio, split=split, seed=seed)
    if per_layer:
        if space != "wp":
            raise BoundaryError(f"per-layer boundaries are fitted on W+ codes (space wp), not {space}")
        fitted = fit_per_layer(codes, scores, ratio=ratio, split=split, seed=seed, attribute=attribute)
    else:
        flat = codes.reshape(len(codes), -1)
        fitted = [fit_boundary(flat, scores, ratio=ratio, split=split, seed=seed, attribute=attribute)]
    return boundary_bank(model, space, fitted, attribute=attribute, info=info)


def _scorer_for(attribute: str, model: ModelFacts) -> Scorer:
    from .scoring import scorer_for

    return scorer_for(attribute, model.provenance["model"])
