"""The measured comparison of issue 9: SeFa, GANSpace and InterFaceGAN on the demo model, whose
factors are known, re-scored by its exact scorer (sefa-zoo evaluate's re-scoring).

SeFa factorizes the weights of each layer group (bottom W+ 0-1, rest 2-7, all); GANSpace takes
the principal components of sampled w; InterFaceGAN fits one boundary in w per known factor, on
one set of sampled and scored codes. Every direction then moves the same seeds by the same latent
distance on its bank's layers, and for each factor the method's best-matching direction (the one
that changes that factor most, in spreads of the factor over the seeds) is reported with what it
does to the other factors.

Usage: python benchmarks/method_comparison.py [--ganspace-samples 20000] [--boundary-samples 3000]
    [--samples 64] [--distance 2] [--top 5] [--write]
(--write: the tables into docs/methods/comparison.md, the heat-maps into docs/images/methods/)
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from sefa_zoo.bank import DirectionBank
from sefa_zoo.evaluation import Evaluation, EvaluationSettings, evaluate_banks, rescoring_heatmap

MODEL = "stylegan2-shapes"
SCORER = "shapes"
SEFA_GROUPS = {"bottom": "0-1", "rest": "2-7", "all": "all"}
ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "methods" / "comparison.md"
IMAGES = ROOT / "docs" / "images" / "methods"
SECTION = "method-comparison"


@dataclass(frozen=True)
class Counts:
    """Everything the run's cost depends on."""

    ganspace_samples: int = 20_000
    boundary_samples: int = 3_000
    boundary_ratio: float = 0.05
    samples: int = 64  # seeds every direction is evaluated on
    distance: float = 2.0
    top: int = 5  # directions per SeFa group and of GANSpace
    num_random: int = 16
    seed: int = 0
    batch_size: int = 64


@dataclass(frozen=True)
class MethodRun:
    """A method's banks (label, bank), its wall time and the samples it drew (0: none)."""

    method: str
    banks: tuple[tuple[str, DirectionBank], ...]
    wall_s: float
    samples: int
    supervision: str


def timed(run: Callable[[], tuple[tuple[str, DirectionBank], ...]]) -> tuple[tuple[tuple[str, DirectionBank], ...], float]:
    start = time.perf_counter()
    banks = run()
    return banks, time.perf_counter() - start


def run_sefa(counts: Counts) -> MethodRun:
    from sefa_zoo import factorize_model

    banks, wall = timed(lambda: tuple(
        (f"SeFa {group}", factorize_model(MODEL, layers=spec, k=counts.top, progress=False))
        for group, spec in SEFA_GROUPS.items()))
    return MethodRun("SeFa", banks, wall, 0, "none (the weights only)")


def run_ganspace(counts: Counts) -> MethodRun:
    from sefa_zoo.ganspace import ganspace

    banks, wall = timed(lambda: (("GANSpace", ganspace(MODEL, samples=counts.ganspace_samples, k=counts.top,
                                                       seed=counts.seed)),))
    return MethodRun("GANSpace", banks, wall, counts.ganspace_samples, "none (sampled codes)")


def run_interfacegan(counts: Counts) -> MethodRun:
    """One boundary in w per attribute of the scorer, all fitted on one set of sampled, scored codes."""
    from sefa_zoo.boundary import Sampling, boundary_bank, fit_boundary, open_model_facts, sample_scores
    from sefa_zoo.scoring import get_scorer

    scorer = get_scorer(SCORER)

    def fit() -> tuple[tuple[str, DirectionBank], ...]:
        model = open_model_facts(MODEL, progress=False)
        sampling = Sampling(samples=counts.boundary_samples, seed=counts.seed, batch_size=counts.batch_size)
        codes, scores = sample_scores(model.generator, scorer, "w", sampling)
        info = {"scorer": scorer.name, "samples": counts.boundary_samples, "seed": counts.seed,
                "ratio": counts.boundary_ratio}
        return tuple(
            (f"InterFaceGAN {attribute}",
             boundary_bank(model, "w", [fit_boundary(codes, scores[attribute], ratio=counts.boundary_ratio,
                                                     seed=counts.seed, attribute=attribute)],
                           attribute=attribute, info=info))
            for attribute in scorer.attributes)

    banks, wall = timed(fit)
    return MethodRun("InterFaceGAN", banks, wall, counts.boundary_samples, f"scores of scorer {SCORER!r}")


@dataclass(frozen=True)
class Match:
    """A method's direction that matches ``factor`` best: its mean absolute change of every attribute
    in spreads, of the factor in its own units, and random directions' on the same layers."""

    factor: str
    method: str
    label: str
    direction: int
    changes: dict[str, float]  # mean |change| in spreads
    raw_change: float  # mean |change| of the factor, in its own units
    random_change: float  # random directions' mean |change| of the factor, in spreads

    @property
    def purity(self) -> float:
        """|change of the factor| over the sum of |changes| of every attribute."""
        total = sum(abs(value) for value in self.changes.values())
        return abs(self.changes[self.factor]) / total if total > 0 else 0.0

    def largest_other(self) -> tuple[str, float]:
        others = {name: value for name, value in self.changes.items() if name != self.factor}
        name = max(others, key=lambda other: abs(others[other]))
        return name, others[name]


def match_score(spreads: np.ndarray, factor: int) -> float:
    """How well a direction's changes (in spreads) match ``factor``: |change of it| x its purity,
    strong on the factor and little else."""
    total = float(np.abs(spreads).sum())
    return float(spreads[factor]) ** 2 / total if total > 0 else 0.0


def best_matches(evaluation: Evaluation, runs: Sequence[MethodRun]) -> list[Match]:
    """For each attribute and each method, the method's direction that matches it best (match_score)."""
    results = {result.label: result for result in evaluation.banks}
    matches = []
    for a, factor in enumerate(evaluation.attributes):
        for run in runs:
            candidates = []
            for label, _ in run.banks:
                result = results[label]
                spreads = evaluation.normalized_rescoring(result, absolute=True)
                candidates += [(match_score(spreads[i], a), result, i, spreads[i]) for i in range(result.bank.k)]
            _, result, index, spreads = max(candidates, key=lambda candidate: candidate[0])
            random = result.baselines[index].absolute_rescoring.mean(axis=0)[a] / evaluation.score_spread[a]
            matches.append(Match(factor, run.method, result.label, index,
                                 dict(zip(evaluation.attributes, map(float, spreads))),
                                 float(result.absolute_rescoring[index, a]), float(random)))
    return matches


def compare(counts: Counts, progress: bool = False) -> tuple[list[MethodRun], Evaluation, list[Match]]:
    """Run the three methods and evaluate every direction they found on the same seeds."""
    from sefa_zoo.editing import open_generator
    from sefa_zoo.scoring import get_scorer

    runs = [run_sefa(counts), run_ganspace(counts), run_interfacegan(counts)]
    loaded = open_generator(MODEL, progress=False)
    settings = EvaluationSettings(samples=counts.samples, distance=counts.distance, seed=counts.seed,
                                  num_random=counts.num_random, batch_size=counts.batch_size)
    banks = [bank for run in runs for bank in run.banks]
    evaluation = evaluate_banks(loaded.generator, banks, settings=settings, scorer=get_scorer(SCORER),
                                architecture=loaded.architecture, model=loaded.name)
    return runs, evaluation, best_matches(evaluation, runs)


def heatmaps(runs: Sequence[MethodRun], evaluation: Evaluation) -> dict[str, bytes]:
    """One re-scoring heat-map per method (file name -> PNG bytes)."""
    pictures = {}
    settings = evaluation.settings
    for run in runs:
        labels = {label for label, _ in run.banks}
        own = replace(evaluation, banks=tuple(result for result in evaluation.banks if result.label in labels))
        title = (f"{run.method} on {evaluation.model}: mean absolute change of each factor in spreads, moving "
                 f"{settings.distance:g} (latent units) along each direction; {settings.samples} seeds")
        buffer = io.BytesIO()
        rescoring_heatmap(own, title=title, absolute=True).save(buffer, format="PNG")
        pictures[f"{run.method.lower()}.png"] = buffer.getvalue()
    return pictures


def markdown(counts: Counts, runs: Sequence[MethodRun], evaluation: Evaluation, matches: Sequence[Match]) -> str:
    lines = [
        f"Measured with `python benchmarks/method_comparison.py --write`: GANSpace on {counts.ganspace_samples} "
        f"sampled codes, InterFaceGAN on {counts.boundary_samples} sampled and scored codes (top and bottom "
        f"{counts.boundary_ratio:g} of each factor), the top {counts.top} directions of each SeFa group and of "
        f"GANSpace; every direction moved by {counts.distance:g} latent units on {counts.samples} seeds "
        f"(psi {evaluation.truncation_psi:g}); changes are mean absolute changes over the seeds, in spreads "
        "(standard deviations of the factor over those seeds), the factor's own units in brackets (pixels, turns, "
        "grey level); random directions: the mean of "
        f"{counts.num_random} random unit directions moved the same way on the same layers.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.get_num_threads()} threads; 1-minute "
        f"load average {os.getloadavg()[0]:.1f} when the tables were written (wall times include loading the "
        "model; a busy machine makes them longer).",
        "",
        "| method | wall time | samples drawn | supervision | directions |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        directions = sum(bank.k for _, bank in run.banks)
        lines.append(f"| {run.method} | {run.wall_s:.2f} s | {run.samples} | {run.supervision} | {directions} |")
    lines += [
        "",
        "| factor | method | best direction | change of the factor | random directions | "
        "largest change of another | purity |",
        "|---|---|---|---|---|---|---|",
    ]
    for match in matches:
        other, value = match.largest_other()
        lines.append(
            f"| {match.factor} | {match.method} | {match.label} #{match.direction} | "
            f"{match.changes[match.factor]:.2f} ({match.raw_change:.3g}) | {match.random_change:.2f} | "
            f"{other} {value:.2f} | {match.purity:.2f} |")
    lines += ["", "Best direction: the method's direction with the largest |change of the factor| x purity; purity: "
              "|change of the factor| / sum of |changes| of all five factors (1: that factor alone).", ""]
    return "\n".join(lines) + "\n"


def write(counts: Counts, runs: Sequence[MethodRun], evaluation: Evaluation, matches: Sequence[Match],
          doc: Path = DOC, images: Path = IMAGES) -> list[Path]:
    """The tables into ``doc``'s marked section, the heat-maps into ``images``; returns the files written."""
    import sys

    from sefa_zoo.atomic import write_atomically

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from doc_sections import write_section

    pictures = heatmaps(runs, evaluation)
    written = write_atomically({images / name: (lambda data: lambda path: path.write_bytes(data))(data)
                                for name, data in pictures.items()})
    write_section(doc, SECTION, markdown(counts, runs, evaluation, matches))
    return [*written, doc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Counts()
    parser.add_argument("--ganspace-samples", type=int, default=defaults.ganspace_samples)
    parser.add_argument("--boundary-samples", type=int, default=defaults.boundary_samples)
    parser.add_argument("--samples", type=int, default=defaults.samples, help="seeds each direction is evaluated on")
    parser.add_argument("--distance", type=float, default=defaults.distance)
    parser.add_argument("--top", type=int, default=defaults.top)
    parser.add_argument("--write", action="store_true", help="write docs/methods/comparison.md and the heat-maps")
    args = parser.parse_args()
    counts = replace(defaults, ganspace_samples=args.ganspace_samples, boundary_samples=args.boundary_samples,
                     samples=args.samples, distance=args.distance, top=args.top)
    runs, evaluation, matches = compare(counts)
    print(markdown(counts, runs, evaluation, matches))
    if args.write:
        for path in write(counts, runs, evaluation, matches):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
