"""How far SeFa directions move each known factor of the demo model, against random directions.

For each layer group (``bottom``: W+ 0-1, ``rest``: 2 onwards, ``all``), the top-k SeFa
directions of that group are applied to that group's layers of the same seeds' codes,
at ``-distance`` and ``+distance``; the factor estimators (``factors``) are read from both
images and |Δfactor| / (2 · distance) is averaged over the seeds. The same is done for
``random`` seeded unit directions (their mean is the baseline). A direction "finds" a factor
when it moves it several times more than a random direction does.

    python -m sefa_zoo_plugins.stylegan2.demo.evaluate WEIGHTS [--k 5] [--seeds 64]
        [--distance 2] [--random 16] [--psi 0.7]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sefa_zoo import (
    Checkpoint,
    SefaZooError,
    codes_from_seeds,
    factorize_checkpoint,
    open_checkpoint,
)

from .. import StyleGAN2, StyleGAN2Generator
from .factors import estimate_factors, factor_difference
from .shapes import FACTORS

BOTTOM_LAYERS = 2  # the SeFa paper's "bottom" group: W+ entries 0-1


def layer_groups(num_layers: int) -> dict[str, list[int]]:
    return {
        "bottom": list(range(BOTTOM_LAYERS)),
        "rest": list(range(BOTTOM_LAYERS, num_layers)),
        "all": list(range(num_layers)),
    }


@dataclass
class FactorSensitivity:
    """Mean |Δfactor| per unit distance: ``sefa[group]`` (k, factors), ``random[group]`` (n, factors)."""

    factors: tuple[str, ...]
    sefa: dict[str, np.ndarray] = field(default_factory=dict)
    random: dict[str, np.ndarray] = field(default_factory=dict)
    eigenvalues: dict[str, np.ndarray] = field(default_factory=dict)

    def ratios(self, group: str) -> np.ndarray:
        """Each SeFa direction's change of each factor over the mean random direction's (k, factors)."""
        return self.sefa[group] / np.maximum(self.random[group].mean(axis=0), 1e-12)

    def best_ratio(self, group: str) -> float:
        return float(self.ratios(group).max())

    def markdown(self) -> str:
        header = "| group | direction | " + " | ".join(self.factors) + " |"
        lines = [header, "|" + "---|" * (len(self.factors) + 2)]
        for group, table in self.sefa.items():
            for i, row in enumerate(table):
                ratio = self.ratios(group)[i]
                cells = " | ".join(f"{v:.3f} ({r:.1f}x)" for v, r in zip(row, ratio))
                lines.append(f"| {group} | {i} | {cells} |")
            baseline = self.random[group].mean(axis=0)
            cells = " | ".join(f"{v:.3f}" for v in baseline)
            lines.append(f"| {group} | random (mean of {len(self.random[group])}) | {cells} |")
        return "\n".join(lines)


@torch.no_grad()
def _sensitivity(
    generator: StyleGAN2Generator, codes: torch.Tensor, directions: torch.Tensor, layers: list[int],
    distance: float, batch_size: int,
) -> np.ndarray:
    table = np.zeros((len(directions), len(FACTORS)))
    for d, direction in enumerate(directions):
        step = torch.zeros_like(codes)
        step[:, layers] = direction.to(codes)
        moved = {}
        for sign in (-1.0, 1.0):
            edited = codes + sign * distance * step
            images = torch.cat([
                generator.synthesize(edited[i:i + batch_size]) for i in range(0, len(edited), batch_size)
            ])
            moved[sign] = estimate_factors(images)
        for f, name in enumerate(FACTORS):
            change = factor_difference(name, moved[1.0][name], moved[-1.0][name]).abs() / (2 * distance)
            table[d, f] = change.mean().item()
    return table


def evaluate(
    checkpoint: Checkpoint,
    *,
    k: int = 5,
    seeds: int = 64,
    distance: float = 2.0,
    num_random: int = 16,
    truncation_psi: float = 0.7,
    batch_size: int = 64,
) -> FactorSensitivity:
    """The factor changes of the top-k SeFa directions of each group and of random directions."""
    arch = StyleGAN2()
    generator = arch.build_generator(checkpoint)
    codes = codes_from_seeds(generator, list(range(seeds)), truncation_psi=truncation_psi, truncation_cutoff=None)
    result = FactorSensitivity(FACTORS)
    random_directions = torch.randn(num_random, generator.latent_dim, generator=torch.Generator().manual_seed(0))
    random_directions = random_directions / random_directions.norm(dim=1, keepdim=True)
    for group, layers in layer_groups(generator.num_layers).items():
        spec = ",".join(map(str, layers))
        bank = factorize_checkpoint(checkpoint, layers=spec, k=k, architecture="stylegan2")
        directions = torch.from_numpy(np.asarray(bank.directions, dtype=np.float32))
        result.sefa[group] = _sensitivity(generator, codes, directions, layers, distance, batch_size)
        result.random[group] = _sensitivity(generator, codes, random_directions, layers, distance, batch_size)
        result.eigenvalues[group] = np.asarray(bank.eigenvalues)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Factor changes along SeFa directions of a demo model.")
    parser.add_argument("weights", type=Path, help="a StyleGAN2 checkpoint (the demo's sefa-zoo safetensors)")
    parser.add_argument("--k", type=int, default=5, help="top directions per layer group")
    parser.add_argument("--seeds", type=int, default=64, help="seeds 0..N-1")
    parser.add_argument("--distance", type=float, default=2.0, help="edit distance on each side")
    parser.add_argument("--random", type=int, default=16, help="random unit directions for the baseline")
    parser.add_argument("--psi", type=float, default=0.7, help="truncation psi (on every layer)")
    args = parser.parse_args(argv)
    try:
        result = evaluate(
            open_checkpoint(args.weights), k=args.k, seeds=args.seeds, distance=args.distance,
            num_random=args.random, truncation_psi=args.psi,
        )
    except SefaZooError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(result.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
