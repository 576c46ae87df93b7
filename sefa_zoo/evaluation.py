"""How directions change images, measured: against random directions, re-scored, compared.

For ``samples`` seeds (``seed``, ``seed`` + 1, ...) every direction of every bank moves the
seeds' codes by ``distance`` (through editing's functions, as ``edit`` and the editor move
them), and the edited images are compared with the unedited ones:

- image change: the mean absolute pixel difference (images in [-1, 1]) per unit of distance,
  and its ratio to that of random unit directions moved on the same layers (the baseline);
- re-scoring (SeFa and InterFaceGAN's analysis; with a scorer): each attribute's mean score
  change, signed, also in units of the attribute's spread (standard deviation) over the seeds;
- cosine similarity between the directions of every pair of banks of the same latent space.

Work is bounded by the arguments: (1 + directions + random baselines) syntheses per seed, in
batches; only one batch of images is held at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .architecture import Generator
from .bank import DirectionBank
from .conventions import DEFAULT_TRUNCATION_CUTOFF, MAX_SEED
from .editing import (
    CombinedEdit, distance_units, edited_codes, edited_latents, latents_from_seeds, map_latents, moves_z, plan_combined,
    synthesize_codes,
)
from .errors import SefaZooError

if TYPE_CHECKING:
    from .scoring import Scorer

MAX_SAMPLES = 100_000
MAX_RANDOM = 1_000
# Below this spread an attribute does not vary over the seeds: its changes are not divided by it.
MIN_SPREAD = 1e-12


@dataclass(frozen=True)
class EvaluationSettings:
    samples: int = 64
    distance: float = 3.0
    seed: int = 0
    num_random: int = 16
    truncation_psi: float | None = None
    truncation_cutoff: int | None = DEFAULT_TRUNCATION_CUTOFF
    class_index: int | str | None = None
    batch_size: int = 8

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.samples))

    def check(self) -> None:
        """One-line SefaZooErrors for numbers out of range."""
        for name, value, low, high in (("samples", self.samples, 1, MAX_SAMPLES),
                                       ("random directions", self.num_random, 1, MAX_RANDOM),
                                       ("batch size", self.batch_size, 1, None),
                                       ("seed", self.seed, 0, MAX_SEED)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                bounds = f"from {low} to {high}" if high else f"of at least {low}"
                raise SefaZooError(f"{name} must be a whole number {bounds}, got {value!r}")
        if self.seed + self.samples - 1 > MAX_SEED:
            raise SefaZooError(f"seeds {self.seed}-{self.seed + self.samples - 1} go past the largest seed, {MAX_SEED}")
        if not np.isfinite(self.distance) or self.distance == 0:
            raise SefaZooError(f"the distance must be a finite number other than 0, got {self.distance!r}")


@dataclass(frozen=True)
class Baseline:
    """Random unit directions moved on ``layers``: each one's image change and score changes."""

    layers: tuple[int, ...]
    image_change: np.ndarray  # (R,)
    rescoring: np.ndarray | None  # (R, attributes)
    absolute_rescoring: np.ndarray | None  # (R, attributes)

    @property
    def mean_image_change(self) -> float:
        return float(self.image_change.mean())

    @property
    def mean_abs_rescoring(self) -> np.ndarray | None:
        return None if self.rescoring is None else np.abs(self.rescoring).mean(axis=0)


@dataclass(frozen=True)
class BankEvaluation:
    label: str
    bank: DirectionBank
    image_change: np.ndarray  # (k,) mean |ΔI| per unit of distance
    baselines: tuple[Baseline, ...]  # per direction, the random directions on its layers
    rescoring: np.ndarray | None  # (k, attributes) mean score change at +distance
    # (k, attributes) mean |score change|: a change whose sign varies from seed to seed (a hue turned
    # towards one colour) averages out of ``rescoring``, not out of this
    absolute_rescoring: np.ndarray | None

    def ratios(self) -> np.ndarray:
        random = np.array([baseline.mean_image_change for baseline in self.baselines])
        return self.image_change / np.maximum(random, MIN_SPREAD)


@dataclass(frozen=True)
class Similarity:
    """Cosines between the directions of two banks (rows: ``first``'s); ``skipped`` says why there are none."""

    first: str
    second: str
    cosines: np.ndarray | None
    skipped: str = ""


@dataclass(frozen=True)
class Evaluation:
    model: str
    settings: EvaluationSettings
    truncation_psi: float
    class_index: int | None
    scorer: str | None
    attributes: tuple[str, ...]
    score_spread: np.ndarray | None  # (attributes,) standard deviation of the unedited scores
    banks: tuple[BankEvaluation, ...]
    similarities: tuple[Similarity, ...] = ()

    def normalized_rescoring(self, result: BankEvaluation, absolute: bool = False) -> np.ndarray | None:
        """``result``'s re-scoring (``absolute``: mean absolute) in units of each attribute's spread over the seeds."""
        changes = result.absolute_rescoring if absolute else result.rescoring
        if changes is None or self.score_spread is None:
            return None
        spread = np.where(self.score_spread > MIN_SPREAD, self.score_spread, 1.0)
        return changes / spread

    def as_json(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "model": self.model, "samples": settings.samples,
            "seeds": [settings.seed, settings.seed + settings.samples - 1], "distance": settings.distance,
            "random_directions": settings.num_random, "truncation_psi": self.truncation_psi,
            "truncation_cutoff": settings.truncation_cutoff, "class": self.class_index, "scorer": self.scorer,
            "attributes": list(self.attributes),
            "score_spread": None if self.score_spread is None else _by_attribute(self.attributes, self.score_spread),
            "banks": [self._bank_json(result) for result in self.banks],
            "similarity": [_similarity_json(similarity) for similarity in self.similarities],
        }

    def _bank_json(self, result: BankEvaluation) -> dict[str, Any]:
        bank = result.bank
        normalized = self.normalized_rescoring(result)
        directions = []
        for i in range(bank.k):
            baseline = result.baselines[i]
            entry: dict[str, Any] = {
                "direction": i, "name": bank.name_of(i), "layers": list(baseline.layers),
                "image_change": float(result.image_change[i]),
                "random_image_change": baseline.mean_image_change, "ratio": float(result.ratios()[i]),
            }
            if result.rescoring is not None:
                entry["rescoring"] = _by_attribute(self.attributes, result.rescoring[i])
                entry["rescoring_in_spreads"] = _by_attribute(self.attributes, normalized[i])
                entry["random_rescoring"] = _by_attribute(self.attributes, baseline.mean_abs_rescoring)
                entry["absolute_rescoring"] = _by_attribute(self.attributes, result.absolute_rescoring[i])
                entry["absolute_rescoring_in_spreads"] = _by_attribute(
                    self.attributes, self.normalized_rescoring(result, absolute=True)[i])
                entry["random_absolute_rescoring"] = _by_attribute(
                    self.attributes, baseline.absolute_rescoring.mean(axis=0))
            directions.append(entry)
        return {
            "label": result.label, "digest": bank.digest(), "method": bank.method, "latent_space": bank.latent_space,
            "layers": list(bank.layer_indices), "directions": directions,
        }

    def image_change_csv(self) -> str:
        rows = [("bank", "direction", "name", "layers", "image_change", "random_image_change", "ratio")]
        for result in self.banks:
            for i in range(result.bank.k):
                baseline = result.baselines[i]
                rows.append((result.label, i, result.bank.name_of(i), _layers_text(baseline.layers),
                             _number(result.image_change[i]), _number(baseline.mean_image_change),
                             _number(result.ratios()[i])))
        return _csv(rows)

    def rescoring_csv(self) -> str:
        rows = [("bank", "direction", "name", "attribute", "change", "change_in_spreads", "random_abs_change",
                 "absolute_change", "absolute_change_in_spreads", "random_absolute_change")]
        for result in self.banks:
            normalized = self.normalized_rescoring(result)
            absolute = self.normalized_rescoring(result, absolute=True)
            for i in range(result.bank.k):
                baseline = result.baselines[i]
                random, random_absolute = baseline.mean_abs_rescoring, baseline.absolute_rescoring.mean(axis=0)
                for a, attribute in enumerate(self.attributes):
                    rows.append((result.label, i, result.bank.name_of(i), attribute, _number(result.rescoring[i, a]),
                                 _number(normalized[i, a]), _number(random[a]),
                                 _number(result.absolute_rescoring[i, a]), _number(absolute[i, a]),
                                 _number(random_absolute[a])))
        return _csv(rows)

    def similarity_csv(self) -> str:
        rows = [("bank_a", "direction_a", "bank_b", "direction_b", "cosine")]
        for similarity in self.similarities:
            if similarity.cosines is None:
                continue
            for (i, j), cosine in np.ndenumerate(similarity.cosines):
                rows.append((similarity.first, i, similarity.second, j, _number(cosine)))
        return _csv(rows)


OUTPUT_NAMES = ("evaluation.json", "image_change.csv", "rescoring.csv", "rescoring.png", "similarity.csv")


def output_files(evaluation: Evaluation) -> dict[str, bytes]:
    """The files an evaluation is written as, by name (a subset of OUTPUT_NAMES): the JSON and
    image change always, re-scoring (CSV, heat-map PNG) with a scorer, similarity with two banks or more."""
    files = {
        "evaluation.json": (json.dumps(evaluation.as_json(), indent=2, allow_nan=False) + "\n").encode(),
        "image_change.csv": evaluation.image_change_csv().encode(),
    }
    if evaluation.scorer is not None:
        files["rescoring.csv"] = evaluation.rescoring_csv().encode()
        picture = io.BytesIO()
        rescoring_heatmap(evaluation).save(picture, format="PNG")
        files["rescoring.png"] = picture.getvalue()
    if evaluation.similarities:
        files["similarity.csv"] = evaluation.similarity_csv().encode()
    return files


def rescoring_heatmap(evaluation: Evaluation, title: str | None = None, absolute: bool = False):
    """The re-scoring matrix as a PIL image: a row per direction, a column per attribute, each
    change (``absolute``: mean absolute change) in spreads of the attribute."""
    from .outputs.heatmap import draw_heatmap

    if evaluation.scorer is None:
        raise SefaZooError("no re-scoring without a scorer")
    rows, labels = [], []
    for result in evaluation.banks:
        rows.append(evaluation.normalized_rescoring(result, absolute=absolute))
        for i in range(result.bank.k):
            name = result.bank.name_of(i)
            labels.append(f"{result.label} {i}" + (f' "{name}"' if name else ""))
    settings = evaluation.settings
    title = title or (f"{evaluation.model}: mean change of each attribute (in its spreads over the seeds) moving "
                      f"{settings.distance:g} along each direction; {settings.samples} samples, scorer "
                      f"{evaluation.scorer!r}")
    return draw_heatmap(np.concatenate(rows), labels, evaluation.attributes, title)


def _by_attribute(attributes: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {attribute: float(value) for attribute, value in zip(attributes, values)}


def _similarity_json(similarity: Similarity) -> dict[str, Any]:
    entry: dict[str, Any] = {"banks": [similarity.first, similarity.second]}
    if similarity.cosines is None:
        entry["skipped"] = similarity.skipped
    else:
        entry["cosines"] = similarity.cosines.tolist()
    return entry


def _layers_text(layers: Sequence[int]) -> str:
    from .layers import format_layer_spec

    return format_layer_spec(list(layers))


def _number(value: float) -> str:
    return repr(float(value))


def _csv(rows: list[tuple]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


def cosine_similarities(banks: Sequence[tuple[str, DirectionBank]]) -> tuple[Similarity, ...]:
    """Every pair of ``banks`` (label, bank), in the order given: their directions' cosines,
    or why they cannot be compared (another latent space or dimension)."""
    pairs = []
    for a, (first, one) in enumerate(banks):
        for second, other in banks[a + 1:]:
            if (one.latent_space, one.latent_dim) != (other.latent_space, other.latent_dim):
                reason = (f"{first} holds {one.latent_dim}-dimensional {one.latent_space!r} directions, "
                          f"{second} {other.latent_dim}-dimensional {other.latent_space!r} ones")
                pairs.append(Similarity(first, second, None, reason))
            else:
                cosines = one.directions.astype(np.float64) @ other.directions.astype(np.float64).T
                pairs.append(Similarity(first, second, cosines))
    return tuple(pairs)


def random_directions(dim: int, count: int, seed: int) -> np.ndarray:
    """``count`` seeded random unit vectors (count, dim), float32; the same for the same arguments."""
    vectors = np.random.default_rng([seed, dim]).standard_normal((count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _one_direction_bank(bank: DirectionBank, direction: np.ndarray, layers: tuple[int, ...]) -> DirectionBank:
    """``direction`` as a bank of ``bank``'s model and space, edited on ``layers`` when given."""
    return replace(
        bank, directions=direction[None, :], eigenvalues=np.ones(1), eigenvalue_total=1.0, method="random",
        direction_names=(), direction_layers=(layers,) if layers else (), mean=None, offsets=None, method_info={},
    )


@dataclass
class _Accumulator:
    """Sums over the seeds, batch by batch."""

    image_change: float = 0.0
    score_change: np.ndarray | None = None
    absolute_score_change: np.ndarray | None = None

    def add(self, change: float, scores: np.ndarray | None) -> None:
        """``scores``: the batch's score changes (N, attributes), or None without a scorer."""
        self.image_change += change
        if scores is None:
            return
        signed, absolute = scores.sum(axis=0), np.abs(scores).sum(axis=0)
        if self.score_change is not None:
            signed, absolute = self.score_change + signed, self.absolute_score_change + absolute
        self.score_change, self.absolute_score_change = signed, absolute


@dataclass
class _Moves:
    """Every direction to move along: (bank index, direction index) or ("random", layers key, r)."""

    banks: Sequence[tuple[str, DirectionBank]]
    settings: EvaluationSettings
    random_banks: dict[tuple, list[DirectionBank]] = field(default_factory=dict)

    def baseline_key(self, bank: DirectionBank, index: int) -> tuple:
        """Directions moved on the same layers of the same space share their random baseline."""
        return (bank.latent_space, bank.latent_dim, bank.layers_of(index) or bank.layer_indices)

    def build(self) -> list[tuple[tuple, DirectionBank, int]]:
        moves = []
        for b, (_, bank) in enumerate(self.banks):
            for i in range(bank.k):
                moves.append((("bank", b, i), bank, i))
                key = self.baseline_key(bank, i)
                if key not in self.random_banks:
                    vectors = random_directions(bank.latent_dim, self.settings.num_random, self.settings.seed)
                    self.random_banks[key] = [_one_direction_bank(bank, v, bank.layers_of(i)) for v in vectors]
                    moves += [(("random", key, r), random, 0) for r, random in enumerate(self.random_banks[key])]
        return moves


def images_to_render(banks: Sequence[tuple[str, DirectionBank]], settings: EvaluationSettings) -> int:
    """How many images ``evaluate_banks`` synthesizes (its progress total)."""
    return settings.samples * (1 + len(_Moves(banks, settings).build()))


def check_evaluation(
    generator: Generator, banks: Sequence[tuple[str, DirectionBank]], settings: EvaluationSettings, *,
    architecture: str | None = None, model: str = "",
) -> CombinedEdit:
    """One-line SefaZooErrors for anything ``evaluate_banks`` would refuse, before any rendering;
    the unedited images' plan (truncation and class resolved)."""
    settings.check()
    if not banks:
        raise SefaZooError("no banks given to evaluate")
    labels = [label for label, _ in banks]
    if len(set(labels)) != len(labels):
        raise SefaZooError("each bank needs its own label")
    plans = [plan_combined(generator, bank, {}, settings.seeds, truncation_psi=settings.truncation_psi,
                           truncation_cutoff=settings.truncation_cutoff, architecture=architecture,
                           class_index=settings.class_index, model=model or None) for _, bank in banks]
    return plans[0]


def evaluate_banks(
    generator: Generator,
    banks: Sequence[tuple[str, DirectionBank]],
    *,
    settings: EvaluationSettings = EvaluationSettings(),
    scorer: Scorer | None = None,
    architecture: str | None = None,
    model: str = "",
    advance: Callable[[int], None] = lambda n: None,
) -> Evaluation:
    """Image change, re-scoring (with ``scorer``) and cosine similarity of ``banks`` (label, bank)
    on ``generator``; ``advance(n)`` is called as each n images are synthesized."""
    plan = check_evaluation(generator, banks, settings, architecture=architecture, model=model)
    moves = _Moves(banks, settings)
    planned = moves.build()
    sums = {key: _Accumulator() for key, _, _ in planned}
    original_scores: list[np.ndarray] = []
    render = dict(chosen_class=plan.chosen_class, truncation_psi=plan.truncation_psi, batch_size=settings.batch_size)
    seeds = settings.seeds
    mapping = {"truncation_psi": plan.truncation_psi, "truncation_cutoff": plan.truncation_cutoff,
               "chosen_class": plan.chosen_class}
    for start in range(0, len(seeds), settings.batch_size):
        z = latents_from_seeds(seeds[start:start + settings.batch_size], generator.z_dim)
        codes = map_latents(generator, z, **mapping)
        originals = synthesize_codes(generator, codes, **render)
        before = _scores(scorer, originals)
        if before is not None:
            original_scores.append(before)
        advance(len(codes))
        for key, bank, index in planned:
            moved = _moved_codes(generator, z, codes, bank, index, settings.distance, mapping)
            images = synthesize_codes(generator, moved, **render)
            after = _scores(scorer, images)
            sums[key].add(_image_change(images, originals),
                          None if after is None else _score_change(scorer, after, before))
            advance(len(codes))
    return _evaluation(banks, settings, scorer, plan, model, moves, sums, original_scores)


def _moved_codes(
    generator: Generator, z: torch.Tensor, codes: torch.Tensor, bank: DirectionBank, index: int, distance: float,
    mapping: Mapping[str, Any],
) -> torch.Tensor:
    """The codes of latents ``z`` (mapped: ``codes``) moved ``distance`` latent units along direction
    ``index`` as edits move them: z before the mapping for a z bank of a per-layer model, else the
    codes on the direction's own layers or the bank's. Edits count in the bank's units, so the
    distance is converted; a direction whose unit is 0 (a GANSpace component without variance) does
    not move."""
    unit = float(distance_units(bank)[index])
    distances = {index: distance / unit if unit > 0 else 0.0}
    if moves_z(bank, generator):
        return map_latents(generator, edited_latents(z, bank, distances), **mapping)
    return edited_codes(codes, bank, distances)


def _image_change(images: torch.Tensor, originals: torch.Tensor) -> float:
    """The sum over the batch of each image's mean absolute pixel change."""
    return float((images.double() - originals.double()).abs().flatten(1).mean(dim=1).sum())


def _scores(scorer: Scorer | None, images: torch.Tensor) -> np.ndarray | None:
    """(N, attributes) scores, or None without a scorer."""
    if scorer is None:
        return None
    from .scoring import score_images

    scores = score_images(scorer, images)
    return np.stack([scores[attribute] for attribute in scorer.attributes], axis=1)


def _score_change(scorer: Scorer, after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """after - before per attribute (N, attributes); a circular attribute's the shorter way round."""
    from .scoring import score_change

    return np.stack([score_change(scorer, attribute, after[:, a], before[:, a])
                     for a, attribute in enumerate(scorer.attributes)], axis=1)


def _evaluation(
    banks: Sequence[tuple[str, DirectionBank]], settings: EvaluationSettings, scorer: Scorer | None, plan: CombinedEdit,
    model: str, moves: _Moves, sums: dict[tuple, _Accumulator], original_scores: list[np.ndarray],
) -> Evaluation:
    per_unit = settings.samples * abs(settings.distance)
    baselines = {}
    for key, randoms in moves.random_banks.items():
        changes = [sums[("random", key, r)] for r in range(len(randoms))]
        _, _, layers = key
        baselines[key] = Baseline(
            layers=tuple(layers),
            image_change=np.array([change.image_change / per_unit for change in changes]),
            rescoring=_mean_scores(changes, "score_change", settings.samples),
            absolute_rescoring=_mean_scores(changes, "absolute_score_change", settings.samples),
        )
    results = []
    for b, (label, bank) in enumerate(banks):
        changes = [sums[("bank", b, i)] for i in range(bank.k)]
        results.append(BankEvaluation(
            label=label, bank=bank,
            image_change=np.array([change.image_change / per_unit for change in changes]),
            baselines=tuple(baselines[moves.baseline_key(bank, i)] for i in range(bank.k)),
            rescoring=_mean_scores(changes, "score_change", settings.samples),
            absolute_rescoring=_mean_scores(changes, "absolute_score_change", settings.samples),
        ))
    return Evaluation(
        model=model, settings=settings, truncation_psi=plan.truncation_psi, class_index=plan.class_index,
        scorer=None if scorer is None else scorer.name, attributes=() if scorer is None else scorer.attributes,
        score_spread=None if scorer is None else np.concatenate(original_scores).std(axis=0),
        banks=tuple(results), similarities=cosine_similarities(banks),
    )


def _mean_scores(sums: Sequence[_Accumulator], which: str, samples: int) -> np.ndarray | None:
    """The accumulated ``which`` of each move over the seeds, (moves, attributes); None without a scorer."""
    totals = [getattr(accumulated, which) for accumulated in sums]
    return None if totals[0] is None else np.stack(totals) / samples
