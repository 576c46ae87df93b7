"""Scorers: functions from images to attribute scores, registered by plugins through the
``register_scorers`` hook. InterFaceGAN's boundaries are fitted on them and evaluations
re-score edited images with them.

A scorer takes images (N, C, H, W) in [-1, 1] and returns one float array (N,) per
attribute it names. ``score_images`` calls it as plugin code and checks what comes back,
so a faulty scorer is a one-line error naming its plugin, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ScorerError, SefaZooError

if TYPE_CHECKING:
    import numpy as np
    import torch

MAX_NAME_CHARS = 80


@dataclass(frozen=True)
class Scorer:
    """``score(images)`` -> {attribute: float array (N,)} for each of ``attributes``.

    ``models``: the catalogue models it is meant for (() = any model). ``periods``: the
    circular attributes and their periods (a hue in turns: 1.0), so that differences are
    taken the shorter way round (``score_change``)."""

    name: str
    attributes: tuple[str, ...]
    score: Callable[[torch.Tensor], Mapping[str, np.ndarray]]
    models: tuple[str, ...] = ()
    description: str = ""
    periods: Mapping[str, float] = field(default_factory=dict)

    def fits(self, model: str | None) -> bool:
        """Whether the scorer is meant for ``model`` (None: a model from no catalogue)."""
        return not self.models or model in self.models


def scorer_problem(scorer: Any) -> str | None:
    """What makes ``scorer`` unusable, or None (the registry refuses such scorers)."""
    if not isinstance(scorer, Scorer):
        return f"registered a {type(scorer).__name__}, not a sefa_zoo.scoring.Scorer"
    if not _is_label(scorer.name):
        return f"a scorer's name must be one line of 1-{MAX_NAME_CHARS} characters, got {scorer.name!r:.60}"
    what = f"scorer {scorer.name!r}"
    if not isinstance(scorer.attributes, tuple) or not scorer.attributes:
        return f"{what}: attributes must be a non-empty tuple of names"
    if not all(_is_label(a) for a in scorer.attributes) or len(set(scorer.attributes)) != len(scorer.attributes):
        return f"{what}: attributes must be distinct one-line names"
    if not callable(scorer.score):
        return f"{what}: score must be callable"
    if not isinstance(scorer.models, tuple) or not all(_is_label(m) for m in scorer.models):
        return f"{what}: models must be a tuple of catalogue names"
    if not isinstance(scorer.description, str):
        return f"{what}: description must be a string"
    if not isinstance(scorer.periods, Mapping) or any(
        name not in scorer.attributes or isinstance(period, bool) or not isinstance(period, (int, float))
        or not 0 < period < float("inf") for name, period in scorer.periods.items()
    ):
        return f"{what}: periods must map some of its attributes to positive finite numbers"
    return None


def _is_label(value: object) -> bool:
    return (isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS and value.isprintable()
            and value == value.strip())


def scorers() -> dict[str, Scorer]:
    """Every scorer the plugins registered, by name."""
    from .plugins import get_registry

    return dict(get_registry().scorers)


def get_scorer(name: str) -> Scorer:
    """The scorer called ``name``; a ScorerError naming close names otherwise."""
    known = scorers()
    if name in known:
        return known[name]
    close = difflib.get_close_matches(str(name), list(known), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(known)) or 'none'}"
    raise ScorerError(f"unknown scorer {name!r} ({hint})")


def scorer_for(attribute: str, model: str | None = None) -> Scorer:
    """The one scorer meant for ``model`` that scores ``attribute``; a ScorerError when there
    is none, or several (then the user chooses with its name)."""
    fitting = [s for s in scorers().values() if s.fits(model)]
    offering = [s for s in fitting if attribute in s.attributes]
    if len(offering) == 1:
        return offering[0]
    if offering:
        names = ", ".join(sorted(s.name for s in offering))
        raise ScorerError(f"attribute {attribute!r} is scored by several scorers ({names}): choose one by name")
    for_model = f" for model {model!r}" if model is not None else ""
    available = sorted({a for s in fitting for a in s.attributes})
    close = difflib.get_close_matches(str(attribute), available, n=3)
    hint = (f"did you mean {', '.join(close)}?" if close
            else f"attributes scored{for_model}: {', '.join(available) or 'none'}")
    raise ScorerError(f"no scorer{for_model} scores attribute {attribute!r} ({hint})")


def check_attribute(scorer: Scorer, attribute: str) -> str:
    """``attribute``, if ``scorer`` scores it; a ScorerError naming its attributes otherwise."""
    if attribute not in scorer.attributes:
        raise ScorerError(
            f"scorer {scorer.name!r} does not score attribute {attribute!r} "
            f"(it scores {', '.join(scorer.attributes)})"
        )
    return attribute


def score_images(scorer: Scorer, images: torch.Tensor) -> dict[str, np.ndarray]:
    """``scorer``'s scores of ``images`` (N, C, H, W): float64 (N,) per attribute, all finite."""
    import numpy as np

    from .plugins import plugin_call

    with plugin_call(scorer, "score()"):
        answer = scorer.score(images)
    what = f"scorer {scorer.name!r}"
    if not isinstance(answer, Mapping):
        raise ScorerError(f"{what} returned a {type(answer).__name__}, not a mapping of attribute to scores")
    count = len(images)
    scores = {}
    for attribute in scorer.attributes:
        if attribute not in answer:
            raise ScorerError(f"{what} returned no scores for its attribute {attribute!r}")
        values = _as_array(answer[attribute], f"{what}, attribute {attribute!r}")
        if values.shape != (count,):
            raise ScorerError(f"{what} returned scores of shape {values.shape} for attribute {attribute!r}; "
                              f"expected ({count},)")
        if not np.isfinite(values).all():
            raise ScorerError(f"{what} returned NaN or infinite scores for attribute {attribute!r}")
        scores[attribute] = values
    return scores


def score_change(scorer: Scorer, attribute: str, after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """after - before; for a circular attribute, the shorter way round (in [-period/2, period/2))."""
    import numpy as np

    difference = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
    period = scorer.periods.get(attribute)
    if period is None:
        return difference
    return (difference + period / 2) % period - period / 2


def _as_array(values: Any, what: str) -> np.ndarray:
    import numpy as np

    if hasattr(values, "detach"):  # a torch tensor, on any device
        values = values.detach().cpu().double().numpy()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ScorerError(f"{what}: the scores are a {type(values).__name__}, not numbers") from None
