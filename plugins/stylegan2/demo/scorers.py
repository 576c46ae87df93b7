"""The demo model's exact scorers: its factor estimators (factors.estimate_factors), which
invert how the training images were drawn, so a score is the factor itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sefa_zoo import Scorer, hookimpl

from . import shipped

if TYPE_CHECKING:
    import numpy as np
    import torch

# shapes.FACTORS, named here so that registering the scorer imports no torch
ATTRIBUTES = ("x", "y", "radius", "hue", "background")
NAME = "shapes"


def score_factors(images: torch.Tensor) -> dict[str, np.ndarray]:
    """Each factor of each image, in pixels (x, y, radius), turns (hue) or grey level (background)."""
    from .factors import estimate_factors

    return {name: values.double().cpu().numpy() for name, values in estimate_factors(images).items()}


def shapes_scorer() -> Scorer:
    return Scorer(
        name=NAME,
        attributes=ATTRIBUTES,
        score=score_factors,
        models=(shipped.catalogue_entry()["name"],),
        description="the demo model's known factors, measured exactly: disc position x and y and radius in "
        "pixels, hue in turns (circular), background grey in [0, 1]",
        periods={"hue": 1.0},
    )


@hookimpl
def register_scorers(register):
    register(shapes_scorer())
