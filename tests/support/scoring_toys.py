"""Scorers for tests: a run-time plugin that registers them, and simple image measures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sefa_zoo import hookimpl
from sefa_zoo.scoring import Scorer


class ScorerPlugin:
    """A run-time plugin registering each of ``scorers`` (anything, to test the refusals too)."""

    def __init__(self, *scorers: Any):
        self.scorers = scorers

    @hookimpl
    def register_scorers(self, register):
        for scorer in self.scorers:
            register(scorer)


def brightness(images: torch.Tensor) -> dict[str, np.ndarray]:
    """Mean pixel value ("brightness") and mean of the first channel minus the others ("redness")."""
    flat = images.double().flatten(2)
    red = flat[:, 0].mean(dim=1) - flat[:, 1:].mean(dim=(1, 2)) if images.shape[1] > 1 else flat[:, 0].mean(dim=1)
    return {"brightness": flat.mean(dim=(1, 2)).numpy(), "redness": red.numpy()}


def brightness_scorer(name: str = "toy-light", models: tuple[str, ...] = ()) -> Scorer:
    return Scorer(name, ("brightness", "redness"), brightness, models=models, description="mean pixel values")


def answering(answer: Callable[[torch.Tensor], Any], attributes: tuple[str, ...] = ("a",),
              name: str = "toy-answer") -> Scorer:
    """A scorer whose score is ``answer(images)``, whatever that is."""
    return Scorer(name, attributes, answer)
