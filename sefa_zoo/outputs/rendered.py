"""A rendered set of edits, ready for the grid, report and animation writers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..architecture import Generator
from ..bank import DirectionBank
from ..editing import EditPlan, render_plan
from ..layers import format_layer_spec
from .imaging import for_display


@dataclass(frozen=True)
class RenderedEdits:
    """``pixels``: uint8 (directions, seeds, distances, H, W, C) in ``plan``'s order;
    ``num_layers``: the model's code layers (None: judged from the bank)."""

    pixels: np.ndarray
    bank: DirectionBank
    plan: EditPlan
    model: str
    num_layers: int | None = None

    def __post_init__(self) -> None:
        if self.pixels.dtype != np.uint8 or self.pixels.ndim != 6 or self.pixels.shape[:3] != self.plan.shape:
            raise ValueError(
                f"pixels must be uint8 of shape {self.plan.shape} + (H, W, C), got "
                f"{self.pixels.dtype} {self.pixels.shape}"
            )

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of one image."""
        return int(self.pixels.shape[3]), int(self.pixels.shape[4])

    def direction_name(self, row: int) -> str:
        """``direction 3``, or ``direction 3 "hair colour"`` when the bank names it."""
        index = self.plan.directions[row]
        name = self.bank.name_of(index)
        return f'direction {index} "{name}"' if name else f"direction {index}"

    def eigenvalue_text(self, row: int) -> str:
        index = self.plan.directions[row]
        return f"eigenvalue {self.bank.eigenvalues[index]:.4g} ({self.share_text(row)})"

    def share_text(self, row: int) -> str:
        """The direction's share of all eigenvalues."""
        return f"{self.bank.shares()[self.plan.directions[row]]:.1%}"

    def seed_name(self, column: int) -> str:
        return f"seed {self.plan.seeds[column]}"

    @property
    def distance_word(self) -> str:
        """What a distance is: how far samples move, or (to_distance) where they end up."""
        return "distance from the boundary" if self.plan.to_distance else "distance"

    def distance_text(self, step: int) -> str:
        distance = self.plan.distances[step]
        return "0" if distance == 0 else f"{distance:+.3g}"

    def class_text(self) -> str | None:
        """``class 207 (golden retriever)`` for a class-conditional model, None for others."""
        return None if self.plan.chosen_class is None else self.plan.chosen_class.label()

    def truncation_text(self) -> str:
        psi, cutoff = self.plan.truncation_psi, self.plan.truncation_cutoff
        if psi == 1.0:
            return "none (psi 1)"
        one_code = self.num_layers == 1 if self.num_layers is not None else self.bank.latent_space == "z"
        if one_code:  # DCGAN, BigGAN: no layers to choose from
            return f"psi {psi:g}"
        return f"psi {psi:g} on " + ("every layer" if cutoff is None else f"layers below {cutoff}")

    def settings(self) -> list[tuple[str, str]]:
        """What was rendered, as (name, value) rows."""
        chosen = self.plan.chosen_class
        return [
            ("model", self.model),
            *([("class", chosen.label().removeprefix("class "))] if chosen is not None else []),
            ("directions", ", ".join(str(d) for d in self.plan.directions)),
            ("seeds", ", ".join(str(s) for s in self.plan.seeds)),
            ("distances from the boundary" if self.plan.to_distance else "distances",
             ", ".join(self.distance_text(i) for i in range(len(self.plan.distances)))),
            ("edited layers", format_layer_spec(self.plan.layers)),
            ("truncation", self.truncation_text()),
            ("latent sampling", "z = numpy.random.RandomState(seed).randn(z_dim)"),
        ]


def render_for_display(
    generator: Generator,
    bank: DirectionBank,
    plan: EditPlan,
    *,
    model: str,
    size: int | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> RenderedEdits:
    """Render ``plan`` and keep only display-sized uint8 pictures (see ``imaging.display_size``)."""
    pixels = render_plan(generator, bank, plan, batch_size=batch_size, progress=progress, postprocess=for_display(size))
    return RenderedEdits(pixels.numpy(), bank, plan, model, generator.num_layers)
